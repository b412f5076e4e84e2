"""Small array helpers shared by ``compute`` and ``render`` (neither imports the other)."""
from __future__ import annotations

import numpy as np


def resize_map(m, size) -> np.ndarray:
    """Bilinear resize of a 2-D map (h, w) to ``size`` (H, W), float32."""
    from PIL import Image

    m = np.asarray(m, dtype=np.float32)
    if m.shape == tuple(size):
        return m
    img = Image.fromarray(m, mode="F").resize((int(size[1]), int(size[0])), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float32)
