"""What-if edits of one image, and the fast gradient sign attack: pure functions, no widget code.

The photometric and geometric edits work on one image as floats in [0, 1] (pixel values / 255),
``u`` float32 (H, W, C), and return the same shape, clipped to [0, 1]. ``apply_edits`` chains them
on a uint8 image in a fixed order and returns uint8 again, so that the picture the student sees,
the one the model is shown and the one "kept" are the same. ``fgsm`` works on the model's input
(after preprocessing), in the model's own value range.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

#: The grey of an occlusion patch (pixel value / 255).
PATCH_GREY = 0.5


def _as_float(u) -> np.ndarray:
    u = np.asarray(u, dtype=np.float32)
    if u.ndim != 3:
        raise ValueError(f"expected one image (H, W, C), got shape {u.shape}")
    return u


def brightness(u, delta: float) -> np.ndarray:
    """``u + delta``, clipped to [0, 1]. u : float32 (H, W, C) in [0, 1]; delta in [-1, 1]."""
    return np.clip(_as_float(u) + np.float32(delta), 0.0, 1.0)


def luminance(u) -> np.ndarray:
    """ITU-R 601 luma (H, W) of u (H, W, 3), or the single channel of (H, W, 1)."""
    u = _as_float(u)
    if u.shape[2] == 1:
        return u[:, :, 0]
    return u[:, :, 0] * 0.299 + u[:, :, 1] * 0.587 + u[:, :, 2] * 0.114


def contrast(u, factor: float) -> np.ndarray:
    """Contrast scaled by ``factor`` around the image's mean luma (as Pillow's
    ``ImageEnhance.Contrast`` does): ``mean + factor * (u - mean)``, clipped to [0, 1].
    u : float32 (H, W, C); factor 0 gives flat grey, 1 the image itself."""
    u = _as_float(u)
    mean = np.float32(luminance(u).mean())
    return np.clip(mean + np.float32(factor) * (u - mean), 0.0, 1.0)


def noise(u, sigma: float, seed: int = 0) -> np.ndarray:
    """``u`` plus Gaussian noise of standard deviation ``sigma`` (same noise for the same seed),
    clipped to [0, 1]. u : float32 (H, W, C)."""
    u = _as_float(u)
    if sigma <= 0:
        return u.copy()
    rng = np.random.default_rng(seed)
    return np.clip(u + rng.normal(0.0, sigma, size=u.shape).astype(np.float32), 0.0, 1.0)


def blur(u, sigma: float) -> np.ndarray:
    """Gaussian blur of each channel with standard deviation ``sigma`` pixels (scipy's
    ``gaussian_filter``, borders mirrored: mode "reflect", truncated at 4 sigma). u : (H, W, C)."""
    from scipy.ndimage import gaussian_filter

    u = _as_float(u)
    if sigma <= 0:
        return u.copy()
    return np.clip(gaussian_filter(u, sigma=(sigma, sigma, 0), mode="reflect"), 0.0, 1.0)


def shift(u, dy: int, dx: int, fill: float = 0.0) -> np.ndarray:
    """Move the image ``dy`` pixels down and ``dx`` right; what comes in is ``fill`` (black).
    u : (H, W, C); out[r, c] = u[r - dy, c - dx] where that pixel exists."""
    u = _as_float(u)
    h, w = u.shape[:2]
    dy, dx = int(dy), int(dx)
    out = np.full_like(u, np.float32(fill))
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        u[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def rotate(u, degrees: float, fill: float = 0.0) -> np.ndarray:
    """Rotate counter-clockwise by ``degrees`` about the image's centre, bilinear, same size;
    corners that come from outside are ``fill`` (black). u : (H, W, C). scipy's ``ndimage.rotate``."""
    from scipy.ndimage import rotate as nd_rotate

    u = _as_float(u)
    if float(degrees) % 360 == 0:
        return u.copy()
    out = nd_rotate(u, float(degrees), axes=(1, 0), reshape=False, order=1, mode="constant", cval=fill)
    return np.clip(out, 0.0, 1.0)


def flip(u) -> np.ndarray:
    """Mirror left to right. u : (H, W, C)."""
    return _as_float(u)[:, ::-1].copy()


def occlude(u, row: int, col: int, size: int, value: float = PATCH_GREY) -> np.ndarray:
    """Cover a ``size`` × ``size`` square centred on pixel (row, col) with grey ``value``; the part
    that falls outside the image is left out. u : (H, W, C)."""
    u = _as_float(u).copy()
    h, w = u.shape[:2]
    if not (0 <= row < h and 0 <= col < w):
        raise ValueError(f"the patch centre ({row}, {col}) is outside the {h}×{w} image")
    top, left = int(row) - int(size) // 2, int(col) - int(size) // 2
    u[max(top, 0):max(min(top + int(size), h), 0), max(left, 0):max(min(left + int(size), w), 0)] = value
    return u


@dataclass(frozen=True)
class Edits:
    """The what-if settings of one image; the defaults change nothing.

    Applied by ``apply_edits`` in this order: flip, rotation, shift (where things are), then
    brightness, contrast, blur, noise (how they look), then the occlusion patch (last, so that it
    is exactly where the student clicked and exactly grey).

    patch : (row, col) of the patch centre in the image's pixels, or None for no patch.
    """

    flip: bool = False
    rotation: float = 0.0
    shift_y: int = 0
    shift_x: int = 0
    brightness: float = 0.0
    contrast: float = 1.0
    blur: float = 0.0
    noise: float = 0.0
    noise_seed: int = 0
    patch: tuple | None = None
    patch_size: int = 8

    @property
    def neutral(self) -> bool:
        """True when these edits leave every image as it is."""
        return self == replace(Edits(), noise_seed=self.noise_seed, patch_size=self.patch_size)

    def describe(self) -> str:
        """The settings that differ from the defaults, e.g. "flip, rotation 15°, patch at (4, 20)"."""
        parts = []
        default = Edits()
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("noise_seed", "patch_size") or value == getattr(default, f.name):
                continue
            if f.name == "flip":
                parts.append("flip")
            elif f.name == "rotation":
                parts.append(f"rotation {value:g}°")
            elif f.name == "patch":
                parts.append(f"{self.patch_size}×{self.patch_size} patch at {tuple(value)}")
            else:
                parts.append(f"{f.name.replace('_', ' ')} {value:g}")
        return ", ".join(parts) if parts else "no edit"


def apply_edits(image, edits: Edits) -> np.ndarray:
    """The edited copy of a uint8 image (H, W, C): ``edits`` in their fixed order (see ``Edits``),
    rounded back to uint8 (H, W, C)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected one uint8 image (H, W, C), got {image.dtype} {image.shape}")
    if edits.neutral:
        return image.copy()
    u = image.astype(np.float32) / 255.0
    if edits.flip:
        u = flip(u)
    if edits.rotation:
        u = rotate(u, edits.rotation)
    if edits.shift_y or edits.shift_x:
        u = shift(u, edits.shift_y, edits.shift_x)
    if edits.brightness:
        u = brightness(u, edits.brightness)
    if edits.contrast != 1.0:
        u = contrast(u, edits.contrast)
    if edits.blur > 0:
        u = blur(u, edits.blur)
    if edits.noise > 0:
        u = noise(u, edits.noise, edits.noise_seed)
    if edits.patch is not None:
        u = occlude(u, edits.patch[0], edits.patch[1], edits.patch_size)
    return (np.clip(u, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


# ----- the fast gradient sign method -----------------------------------------------------------------

def check_epsilon(epsilon: float, value_range=(0.0, 1.0)) -> float:
    """``epsilon`` as a float; a ValueError saying the allowed range when it is below 0 or larger
    than the model's whole input range ``value_range`` (low, high)."""
    lo, hi = (float(v) for v in value_range)
    eps = float(epsilon)
    if not np.isfinite(eps) or eps < 0 or eps > hi - lo:
        raise ValueError(f"ε must be between 0 and {hi - lo:g} (the model's input range is "
                         f"[{lo:g}, {hi:g}]); got {eps:g}")
    return eps


def fgsm(model, x, class_index=None, epsilon: float = 8 / 255, target=None, value_range=(0.0, 1.0)):
    """The fast gradient sign method (Goodfellow, Shlens and Szegedy 2015): one step of size
    ``epsilon`` along the sign of the input gradient of the cross-entropy loss.

    x : float32 (H, W, C), or a batch (N, H, W, C), already preprocessed for the model.
    Untargeted (``target`` None): away from ``class_index`` (default: each image's predicted
    class), ``x + epsilon * sign(d loss(class_index) / dx)``. Targeted (``target`` a class index,
    or (N,) indices): towards ``target``, ``x - epsilon * sign(d loss(target) / dx)``; giving both
    ``class_index`` and ``target`` is an error. ``epsilon`` is in the model's input units: for
    input in [0, 1], 8/255 is eight grey levels. The result is clipped to ``value_range``, the
    model's input range (low, high), and has the shape of ``x``.

    Raises ValueError when ``epsilon`` is below 0 or above ``high - low``, or a class is out of range.

    >>> x_adv = fgsm(model, x, epsilon=8 / 255)             # doctest: +SKIP
    >>> x_adv = fgsm(model, x, epsilon=4 / 255, target=3)   # towards "cat"  # doctest: +SKIP
    """
    from .inspection import Inspector

    eps = check_epsilon(epsilon, value_range)
    if class_index is not None and target is not None:
        raise ValueError("give class_index (move away from it) or target (move towards it), not both")
    inspector = Inspector.for_model(model)
    x = np.asarray(x, dtype=np.float32)
    single = x.ndim == 3
    batch = x[None] if single else x
    if batch.shape[1:] != tuple(inspector.input_shape):
        raise ValueError(f"x must have the model's input shape {inspector.input_shape}, got {x.shape}")
    chosen = target if target is not None else class_index
    if chosen is None:
        labels = np.full(len(batch), -1, np.int64)
    else:
        labels = np.broadcast_to(np.asarray(chosen, dtype=np.int64), (len(batch),))
        k = inspector.num_classes
        if labels.min() < 0 or labels.max() >= k:
            raise ValueError(f"class index out of range 0..{k - 1}: {chosen}")
    _, _, grad = inspector.loss_gradient(batch, labels)
    direction = -1.0 if target is not None else 1.0
    lo, hi = (np.float32(v) for v in value_range)
    out = np.clip(batch + np.float32(direction * eps) * np.sign(grad).astype(np.float32), lo, hi)
    return out[0] if single else out


def preprocess_range(preprocess, channels: int = 3) -> tuple:
    """(low, high) of a model's input: ``preprocess`` (uint8 (N, H, W, C) → float) applied to a
    black and a white pixel; (0, 1) when it maps both to the same value."""
    ends = np.array([0, 255], np.uint8).reshape(2, 1, 1, 1).repeat(int(channels), axis=3)
    values = np.asarray(preprocess(ends), dtype=np.float32)
    lo, hi = float(values.min()), float(values.max())
    return (lo, hi) if hi > lo else (0.0, 1.0)


def predict_and_explain(model, x, cam_class=None, layer=None) -> tuple:
    """What the what-if lab shows for one model input x, float32 (H, W, C): one forward pass for
    the class probabilities and, for Grad-CAM, one gradient pass.

    cam_class : the class Grad-CAM explains (default: the predicted class); layer : Grad-CAM's
    layer (default: the last spatial one). Returns ``(probabilities (K,), predicted, cam (H, W) in
    [0, 1])``.
    """
    from .gradcam import grad_cam
    from .inspection import Inspector

    inspector = Inspector.for_model(model)
    _, logits = inspector.run(x)
    probs = inspector.probabilities(logits)
    predicted = int(np.argmax(probs))
    cam = grad_cam(model, x, predicted if cam_class is None else int(cam_class), layer)
    return probs, predicted, cam


def to_uint8(x, value_range=(0.0, 1.0)) -> np.ndarray:
    """Model input x (any shape, in ``value_range``) back to uint8 pixels, assuming the
    preprocessing maps 0..255 linearly onto that range (as "[0, 1]" and "[-1, 1]" do)."""
    lo, hi = (float(v) for v in value_range)
    u = (np.asarray(x, dtype=np.float32) - lo) / (hi - lo)
    return (np.clip(u, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def magnified_difference(a, b) -> tuple:
    """The difference ``b - a`` of two images (H, W, C) as a picture: grey 0.5 is no change, the
    largest change reaches black or white. Returns (float32 (H, W, C) in [0, 1], magnification),
    the magnification being how many times the difference was scaled up (0 when a equals b)."""
    d = np.asarray(b, dtype=np.float32) - np.asarray(a, dtype=np.float32)
    top = float(np.abs(d).max()) if d.size else 0.0
    if top == 0:
        return np.full(d.shape, 0.5, np.float32), 0.0
    return 0.5 + d * (0.5 / top), 0.5 / top
