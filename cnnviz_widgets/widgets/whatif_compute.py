"""The what-if lab's model work: one edited image, its prediction and its Grad-CAM."""
from __future__ import annotations

import dataclasses

import numpy as np

from .. import compute


@dataclasses.dataclass(frozen=True)
class EditedImage:
    """An edited copy of the selected image and the model's answer for it.

    image : uint8 (H, W, C), as shown; x : the model's input for it, float32 (H, W, C);
    probabilities : (K,); predicted : the class index of the largest; cam : Grad-CAM (H, W).
    """

    image: np.ndarray
    x: np.ndarray
    probabilities: np.ndarray
    predicted: int
    cam: np.ndarray


def edit_and_explain(state, edits, attack: str, target: int | None, epsilon: float,
                     cam_class: int) -> EditedImage:
    """Apply ``edits`` to the state's selected image, then one step of the fast gradient sign
    attack (``attack``: "none", "away" or "towards" the class ``target``) of size ``epsilon`` in
    input units; one forward pass and one gradient pass (two more with the attack's)."""
    insp = state.inspection
    model = state.model
    lo, hi = state.input_range()
    edited = compute.apply_edits(insp.image, edits)
    x = np.asarray(state.preprocess(edited[None]), dtype=np.float32)[0]
    if attack != "none":
        x = compute.fgsm(model, x, epsilon=epsilon, target=target if attack == "towards" else None,
                         value_range=(lo, hi))
        edited = compute.to_uint8(x, (lo, hi))
    if edits.neutral and attack == "none":
        # Nothing changed: the original's inspection and Grad-CAM (both cached by the state)
        # are the answer, so a new image costs no model pass here.
        x = insp.x
        probs, predicted = insp.probabilities, insp.predicted
        cam = state.grad_cam(class_index=cam_class)
    else:
        probs, predicted, cam = compute.predict_and_explain(model, x, cam_class)
    return EditedImage(edited, x, probs, predicted, cam)
