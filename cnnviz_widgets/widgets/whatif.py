"""The what-if lab: change the selected image and watch the prediction, the class probabilities
and Grad-CAM of the edited copy next to the original's, live.

The lab is three concerns in three modules: its controls and what they mean (``whatif_controls``),
its pictures and chart and how they are drawn (``whatif_pictures``), and the model work for one
edited image (``whatif_compute``); this module puts them together.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from .. import compute
from ..state import UNKNOWN
from .base import CRISP_CSS, StateWidget, reports_errors
from .debounce import Debouncer
from .sharing import Download
from .whatif_compute import edit_and_explain
from .whatif_controls import ATTACKS, EditControls
from .whatif_pictures import EDITED_COLOUR, ORIGINAL_COLOUR, EditPictures

__all__ = ["ATTACKS", "EDITED_COLOUR", "ORIGINAL_COLOUR", "Debouncer", "WhatIfLab"]


class WhatIfLab(EditControls, EditPictures, StateWidget):
    """Edit the selected image and compare: the original and the edited copy side by side, with
    their predictions, their class probabilities (grouped bars) and their Grad-CAM.

    Edits (``cnnviz_widgets.edits``): a grey occlusion patch placed by clicking on either picture,
    brightness, contrast, noise, blur, shift, rotation, a horizontal flip, and one step of the fast
    gradient sign attack (``compute.fgsm``), away from the predicted class or towards a chosen one,
    of size ε grey levels. The difference between the two pictures is shown magnified. Sliders are
    live and debounced: one forward pass (and Grad-CAM's gradient pass) per settled change.
    *Keep this image* adds the edited copy to the image set, as an upload does, and selects it.

    ``edited`` is the last edited image (uint8 (H, W, C)), ``edited_probabilities`` its class
    probabilities (K,), ``edited_cam`` its Grad-CAM (H, W).

    >>> lab = WhatIfLab(state)                       # doctest: +SKIP
    >>> lab.place_patch(12, 20); lab.edited_probabilities.argmax()   # doctest: +SKIP
    3
    """

    def __init__(self, state, size: int = 160, debounce: float = 0.08, **kwargs):
        super().__init__(state, **kwargs)
        self.size = int(size)
        self.edits = compute.Edits()
        self.edited = None
        self.edited_x = None
        self.edited_probabilities = None
        self.edited_cam = None
        self._syncing = False
        self._debounced = Debouncer(self._render_edit, debounce)
        controls = self._build_controls()
        pictures = self._build_pictures()
        save = Download.picture(self.edited_image, lambda: compute.file_name(
            "cnnviz-whatif", f"image{self.state.index}", suffix=".png"))
        self.children = [widgets.HTML(CRISP_CSS), widgets.HBox([controls, pictures]), save, self.summary,
                         self.figure, self.message]
        self._wire_controls()
        self._observe(self._on_inspection, ["inspection"])
        self._observe(self._on_class_names, ["class_names"])
        self._observe(self._on_class_index, ["class_index"])
        self._on_class_names(None)
        self._render()

    def _on_class_index(self, change):
        self._render()

    def cam_class(self) -> int:
        """The class both Grad-CAMs explain: the state's chosen class, else the original's prediction."""
        insp = self.state.inspection
        return self.state.class_index if self.state.class_index is not None else insp.predicted

    def _render_edit(self):
        """Apply the edits to the selected image: one forward pass and one gradient pass (two
        more with the attack's), then every picture and the bars."""
        try:
            edits = self._edits_from_controls()
            epsilon = self.epsilon_value() if self.attack.value != "none" else 0.0
        except ValueError as exc:
            # Refused settings leave the last edited image on screen.
            self._say(f"⚠ WhatIfLab: {exc}", error=True)
            return
        try:
            attack = self.attack.value
            target = int(self.target.value) if attack == "towards" else None
            result = edit_and_explain(self.state, edits, attack, target, epsilon, self.cam_class())
            self.edits = edits
            self.edited, self.edited_x = result.image, result.x
            self.edited_probabilities, self.edited_cam = result.probabilities, result.cam
            self._show_edit(edits, attack, result)
        except Exception as exc:  # Every error must reach the student, not a hidden log.
            self._say(f"⚠ WhatIfLab: {exc}", error=True)

    # ----- keeping -------------------------------------------------------------------------------
    @reports_errors
    def keep(self) -> int:
        """Add the edited image after the current images, as an upload does, and select it. It
        keeps the original's true class (an edited cat is still a cat). Returns its index."""
        if self.edited is None:
            raise ValueError("nothing to keep yet")
        state = self.state
        label = state.inspection.label
        labels = state.labels
        if labels is not None:
            labels = np.concatenate([labels, [UNKNOWN if label is None else label]]).astype(labels.dtype)
        elif label is not None:
            labels = np.concatenate([np.full(len(state.images), UNKNOWN), [label]])
        source = state.index
        edited = self.edited
        state.set_images(np.concatenate([state.images, edited[None]]), labels=labels)
        new = len(state.images) - 1
        self.reset()
        state.index = new
        self._say(f"Kept the edited image of #{source} as image #{new}.")
        return new

    def close(self):
        self._debounced.cancel()
        for event in self.click_events:
            event.close()
        super().close()
