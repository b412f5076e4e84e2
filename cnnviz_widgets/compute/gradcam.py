"""Grad-CAM and the maps it is drawn from: pure functions, no widget code.

Explanation methods beside Grad-CAM go in their own module of this package.
"""
from __future__ import annotations

import numpy as np

from ..arrays import resize_map
from .inspection import Inspector, last_spatial_layer, predict


def grad_cam(model, x, class_index=None, layer_name=None) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017) for one image.

    x : float32 (H, W, C). The class score is the **pre-softmax** score (logit), even when the
    softmax is fused into the last Dense layer. ``layer_name`` defaults to the last layer with a
    spatial output; ``class_index`` to the predicted class.

    Returns float32 (H, W) in [0, 1]: ReLU(sum_k alpha_k A_k) with alpha_k the spatial mean of
    d score / d A_k, upsampled bilinearly to the input size and divided by its maximum (all zeros
    when nothing in the layer speaks for the class).
    """
    inspector = Inspector.for_model(model)
    if layer_name is None:
        layer_name = last_spatial_layer(model)
    inspector.check_layer(layer_name, spatial=True)
    if class_index is None:
        class_index = predict(model, x)[1]
    k = inspector.num_classes
    if not 0 <= int(class_index) < k:
        raise ValueError(f"class index {class_index} is out of range 0..{k - 1}")
    a, g = inspector.gradcam_parts(x, layer_name, int(class_index))
    weights = g.mean(axis=(0, 1))
    cam = np.maximum((a * weights).sum(axis=-1), 0.0)
    return normalize_map(resize_map(cam, inspector.input_shape[:2]))


def normalize_map(m) -> np.ndarray:
    """Scale a non-negative map to [0, 1] by its maximum (zeros stay zeros)."""
    m = np.maximum(np.asarray(m, dtype=np.float32), 0.0)
    top = float(m.max()) if m.size else 0.0
    return m / top if top > 0 else np.zeros_like(m)


def activation_map(a) -> np.ndarray:
    """The mean over channels of a spatial activation (h, w, c), scaled to [0, 1] by min and max:
    the guide's section-11 "activation heatmap"."""
    m = np.asarray(a, dtype=np.float32).mean(axis=-1)
    lo, hi = float(m.min()), float(m.max())
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
