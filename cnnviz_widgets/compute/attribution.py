"""Attribution maps beyond Grad-CAM: which pixels does one class score depend on?

Pure NumPy/TensorFlow, no widget code. Every function explains the **pre-softmax** score of
``class_index`` (None: the predicted class) for one preprocessed image ``x`` (H, W, C), on any
model ``Inspector`` accepts (nested backbones, grayscale, logits or softmax heads), and
does its model work in one batched call: all noisy copies, all path steps, all occluded copies,
all masked copies at once.

``value_range`` is the range of the model's input, used for "black", "grey" and the noise level;
None guesses it from ``x``: [-1, 1] when ``x`` has negative values, [0, 255] when some exceed 1,
else [0, 1]. The dashboard passes the range of its own preprocessing.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..arrays import resize_map
from .gradcam import grad_cam, normalize_map
from .inspection import Inspector, check_class_index, last_spatial_layer


def input_range(x, value_range=None) -> tuple:
    """``(low, high)`` of the model's input: ``value_range``, else guessed from ``x`` (module doc)."""
    if value_range is not None:
        lo, hi = (float(v) for v in value_range)
        if not hi > lo:
            raise ValueError(f"value_range must be (low, high) with low < high, not {value_range}")
        return lo, hi
    x = np.asarray(x)
    return (-1.0 if x.min() < 0 else 0.0), (255.0 if x.max() > 1.0 + 1e-6 else 1.0)


def check_inputs(model, x, class_index, gradients: bool = False):
    """The model's inspector and ``x`` as float32 (H, W, C), after checking every argument.

    Raises a ValueError that says what is wrong and what would be right.
    """
    inspector = Inspector.for_model(model)
    x = np.asarray(x)
    if x.shape != inspector.input_shape:
        raise ValueError(f"x must be one image of the model's input shape {inspector.input_shape}, "
                         f"not {x.shape}")
    check_class_index(model, class_index)
    if gradients:
        dtype = str(getattr(model.inputs[0], "dtype", "float32"))
        if "float" not in dtype:
            raise ValueError(f"the model takes {dtype} input, which has no gradient with respect to "
                             f"the pixels; methods without gradients: {', '.join(GRADIENT_FREE)}")
    return inspector, x.astype(np.float32)


def _gradients(inspector, batch, class_index):
    try:
        return inspector.input_gradients(batch, class_index)
    except ValueError as exc:
        raise ValueError(f"{exc}; methods without gradients: {', '.join(GRADIENT_FREE)}") from None


class _Plan(NamedTuple):
    """The model work of one method for one image: ``count`` images made by ``make(start, stop)``
    (float32 (stop - start, H, W, C)), and ``finish(c, first, rest)`` that turns the model's answer
    into the map, ``first`` being the answer for ``x`` itself and ``rest`` (count, ...) those for
    the images (input gradients, or class probabilities). Methods planned together share one batch
    (``_run_gradients``, ``_run_probabilities``), which is what lets the lab make one call for many."""

    count: int
    make: Callable
    finish: Callable


def _stack(images):
    images = np.asarray(images, dtype=np.float32)
    return _Plan(len(images), lambda start, stop: images[start:stop], None)


def _run_gradients(inspector, x, class_index, plans) -> tuple:
    """One batch of input gradients for ``x`` and every plan's images: ``(class, [map, ...])``.
    ``class_index`` None is the prediction for ``x``, chosen inside the same call."""
    batch = np.concatenate([x[None]] + [p.make(0, p.count) for p in plans])
    c, _, grads = _gradients(inspector, batch, class_index)
    return c, _finish(c, grads, plans)


def _run_probabilities(inspector, x, class_index, plans) -> tuple:
    """Class probabilities of ``x`` and every plan's images, in batches of at most
    ``CHUNK_PIXELS`` pixels made one after another: ``(class, probabilities of x (K,), [map, ...])``."""
    probs = _probabilities(inspector, _chunks([_stack(x[None])] + list(plans), x.shape))
    c = int(np.argmax(probs[0])) if class_index is None else int(class_index)
    return c, probs[0], _finish(c, probs, plans)


def _finish(c, answers, plans) -> list:
    out, at = [], 1
    for p in plans:
        out.append(p.finish(c, answers[0], answers[at:at + p.count]))
        at += p.count
    return out


def _chunks(plans, shape):
    """The images (each of ``shape`` (H, W, C)) of all ``plans`` in order, as arrays of at most
    ``CHUNK_PIXELS`` pixels."""
    parts, size, chunk = [], 0, max(1, CHUNK_PIXELS // (shape[0] * shape[1]))
    for p in plans:
        start = 0
        while start < p.count:
            stop = min(p.count, start + chunk - size)
            parts.append(p.make(start, stop))
            size, start = size + stop - start, stop
            if size == chunk:
                yield np.concatenate(parts)
                parts, size = [], 0
    if parts:
        yield np.concatenate(parts)


def _saliency_plan(x) -> _Plan:
    """Saliency needs nothing but the gradient for ``x``."""
    return _stack(np.empty((0, *x.shape)))._replace(finish=lambda c, first, rest: np.abs(first).max(axis=-1))


def saliency(model, x, class_index=None, value_range=None) -> np.ndarray:
    """Vanilla gradient saliency (Simonyan et al. 2014).

    Returns float32 (H, W) ≥ 0: the maximum over channels of |d score / d x|.
    """
    inspector, x = check_inputs(model, x, class_index, gradients=True)
    return _run_gradients(inspector, x, class_index, [_saliency_plan(x)])[1][0]


def _smoothgrad_plan(x, samples: int = 25, noise: float = 0.15, seed: int = 0, value_range=None) -> _Plan:
    """The noisy copies of ``x`` and the mean of their saliency (``smoothgrad``)."""
    if int(samples) < 1:
        raise ValueError(f"samples must be at least 1, not {samples}")
    lo, hi = input_range(x, value_range)
    rng = np.random.default_rng(seed)
    noisy = x[None] + rng.normal(0.0, float(noise) * (hi - lo), (int(samples), *x.shape)).astype(np.float32)
    return _stack(noisy)._replace(finish=lambda c, first, rest: np.abs(rest).max(axis=-1).mean(axis=0))


def smoothgrad(model, x, class_index=None, samples: int = 25, noise: float = 0.15, seed: int = 0,
               value_range=None) -> np.ndarray:
    """SmoothGrad (Smilkov et al. 2017): the mean saliency over ``samples`` noisy copies of ``x``.

    The noise is Gaussian with a standard deviation of ``noise`` times the input range. All
    copies go through the model in one batch, after ``x`` itself, whose prediction is the class
    when ``class_index`` is None. Returns float32 (H, W) ≥ 0.
    """
    inspector, x = check_inputs(model, x, class_index, gradients=True)
    return _run_gradients(inspector, x, class_index, [_smoothgrad_plan(x, samples, noise, seed, value_range)])[1][0]


def _integrated_gradients_plan(x, baseline=None, steps: int = 32, value_range=None) -> _Plan:
    """The path images from ``baseline`` to ``x`` and their weighted gradients
    (``integrated_gradients``)."""
    if int(steps) < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    if baseline is None:
        baseline = np.full_like(x, input_range(x, value_range)[0])
    baseline = np.asarray(baseline, dtype=np.float32)
    if baseline.shape != x.shape:
        raise ValueError(f"the baseline must have the image's shape {x.shape}, not {baseline.shape}")
    nodes, weights = np.polynomial.legendre.leggauss(int(steps))
    alphas = ((nodes + 1.0) / 2.0).astype(np.float32)
    path = baseline[None] + alphas[:, None, None, None] * (x - baseline)[None]

    def finish(c, first, rest):
        mean_gradient = np.tensordot((weights / 2.0).astype(np.float32), rest, axes=1)
        return ((x - baseline) * mean_gradient).astype(np.float32)

    return _stack(path)._replace(finish=finish)


def integrated_gradients(model, x, class_index=None, baseline=None, steps: int = 32,
                         value_range=None) -> np.ndarray:
    """Integrated Gradients (Sundararajan et al. 2017) along the straight line from ``baseline``
    to ``x``.

    baseline : (H, W, C) or None for black (the low end of the input range). The path integral is
    Gauss–Legendre quadrature with ``steps`` nodes (their images in one batch, after ``x`` whose
    prediction names the class when none is given): its nodes lie densest near both ends of the
    path, where a ReLU-like network's gradient changes fastest, which keeps it within 2 % of
    completeness at 64 steps where the trapezoidal rule is not. Returns float32 (H, W, C), signed
    attributions that add up to about score(x) − score(baseline) (completeness).
    """
    inspector, x = check_inputs(model, x, class_index, gradients=True)
    plan = _integrated_gradients_plan(x, baseline, steps, value_range)
    return _run_gradients(inspector, x, class_index, [plan])[1][0]


def _occlusion_plan(x, patch: int = 4, stride: int = 2, value_range=None) -> _Plan:
    """The occluded copies of ``x`` and the map of the probability drops (``occlusion``)."""
    h, w, _ = x.shape
    patch, stride = int(patch), int(stride)
    if not 1 <= patch <= min(h, w) or stride < 1:
        raise ValueError(f"patch must be 1..{min(h, w)} and stride at least 1 (got {patch}, {stride})")
    lo, hi = input_range(x, value_range)
    tops, lefts = _starts(h, patch, stride), _starts(w, patch, stride)
    corners = [(t, left) for t in tops for left in lefts]

    def make(start, stop):
        batch = np.repeat(x[None], stop - start, axis=0)
        for i, (t, left) in enumerate(corners[start:stop]):
            batch[i, t:t + patch, left:left + patch] = (lo + hi) / 2.0
        return batch

    def finish(c, first, rest):
        drops = first[c] - rest[:, c]
        total = np.zeros((h, w), np.float64)
        count = np.zeros((h, w), np.float64)
        for drop, (t, left) in zip(drops, corners):
            total[t:t + patch, left:left + patch] += drop
            count[t:t + patch, left:left + patch] += 1
        return (total / count).astype(np.float32)

    return _Plan(len(corners), make, finish)


def occlusion(model, x, class_index=None, patch: int = 4, stride: int = 2, value_range=None) -> np.ndarray:
    """Occlusion sensitivity (Zeiler & Fergus 2014).

    Every ``patch``×``patch`` square on a grid of step ``stride`` (the last row and column moved
    in to touch the border) is set to grey, the middle of the input range, in one batch (batches
    of ``CHUNK_PIXELS`` pixels for a large input), after the image itself. Returns
    float32 (H, W): the drop of the class probability when a patch covering the pixel is greyed
    out, averaged over those patches (negative where hiding the pixel raises the probability).
    """
    inspector, x = check_inputs(model, x, class_index)
    return _run_probabilities(inspector, x, class_index, [_occlusion_plan(x, patch, stride, value_range)])[2][0]


#: Most input pixels in one model call: 512 CIFAR-10 images (the lab's occluded and masked copies
#: are one call), 10 of 224×224 (whose 12,000 occluded copies would take gigabytes at once).
CHUNK_PIXELS = 512 * 32 * 32


def _probabilities(inspector, batches) -> np.ndarray:
    """Class probabilities (N, K) of batches given one after another (an iterable of arrays): only
    one batch is in memory at a time when ``batches`` is a generator."""
    scores = [inspector.scores(b) for b in batches]
    return inspector.probabilities(np.concatenate(scores) if scores else np.empty((0, inspector.num_classes)))


def _starts(size: int, patch: int, stride: int) -> list:
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def _layer(model, inspector, layer_name):
    if layer_name is None:
        return last_spatial_layer(model)
    inspector.check_layer(layer_name, spatial=True)
    return layer_name


def grad_cam_plus_plus(model, x, class_index=None, layer_name=None) -> np.ndarray:
    """Grad-CAM++ (Chattopadhyay et al. 2018) of ``layer_name`` (default: the last layer with a
    spatial output).

    With A (h, w, k) the layer's output and g = d score / dA, each position's weight is
    alpha = g² / (2 g² + g³ · Σ_ij A) (the closed form for an exponential of the score; the
    exponential cancels), normalised over the positions; the channel weight is
    Σ_ij alpha · ReLU(g), and the map ReLU(Σ_k weight_k A_k). Returns float32 (H, W) in [0, 1]
    at the input's size (bilinear, then divided by its maximum).
    """
    inspector, x = check_inputs(model, x, class_index, gradients=True)
    layer_name = _layer(model, inspector, layer_name)
    if class_index is None:
        class_index = int(np.argmax(inspector.scores(x[None])[0]))
    a, g = inspector.gradcam_parts(x, layer_name, int(class_index))
    a, g = a.astype(np.float64), g.astype(np.float64)
    g2, g3 = g ** 2, g ** 3
    denom = 2.0 * g2 + g3 * a.sum(axis=(0, 1), keepdims=True)
    alpha = g2 / np.where(denom != 0.0, denom, 1.0)
    norm = alpha.sum(axis=(0, 1), keepdims=True)
    alpha = alpha / np.where(norm != 0.0, norm, 1.0)
    weights = (alpha * np.maximum(g, 0.0)).sum(axis=(0, 1))
    cam = np.maximum((a * weights).sum(axis=-1), 0.0)
    return normalize_map(resize_map(cam, inspector.input_shape[:2]))


def _score_cam_plan(x, activations) -> _Plan:
    """The copies of ``x`` masked by each channel of ``activations`` (h, w, k) and their
    probability-weighted sum (``score_cam``)."""
    a = np.asarray(activations, dtype=np.float32)
    size = x.shape[:2]

    def make(start, stop):
        masks = _upsample(a[:, :, start:stop], size)
        lo = masks.min(axis=(1, 2), keepdims=True)
        span = masks.max(axis=(1, 2), keepdims=True) - lo
        masks = np.where(span > 0, (masks - lo) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)
        return x[None] * masks[..., None]

    def finish(c, first, rest):
        cam = np.maximum((a * rest[:, c]).sum(axis=-1), 0.0)
        return normalize_map(resize_map(cam, size))

    return _Plan(a.shape[-1], make, finish)


def _upsample(maps, size) -> np.ndarray:
    """``resize_map`` of every channel of ``maps`` (h, w, k) at once: (k, H, W) float32. Bilinear
    resizing is linear and separable, so it is two small matrices, taken once per pair of sizes
    from ``resize_map`` itself (a map of ones in one row, or one column, resized)."""
    h, w, _ = maps.shape
    rows, cols = _resize_matrices(h, w, int(size[0]), int(size[1]))
    return (rows @ np.asarray(maps, np.float32).transpose(2, 0, 1) @ cols.T).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _resize_matrices(h, w, big_h, big_w) -> tuple:
    rows = np.stack([resize_map(np.eye(h, dtype=np.float32)[i][:, None].repeat(w, axis=1), (big_h, big_w))[:, 0]
                     for i in range(h)], axis=1)
    cols = np.stack([resize_map(np.eye(w, dtype=np.float32)[j][None, :].repeat(h, axis=0), (big_h, big_w))[0]
                     for j in range(w)], axis=1)
    return rows, cols


def score_cam(model, x, class_index=None, layer_name=None, activations=None) -> np.ndarray:
    """Score-CAM (Wang et al. 2020) of ``layer_name`` (default: the last layer with a spatial
    output).

    Each channel of the layer's output, upsampled to the input's size and scaled to [0, 1],
    masks the image (x · mask); all masked copies go through the model in one batch (batches of
    ``CHUNK_PIXELS`` pixels for a layer with more channels), and each
    channel's weight is the class probability (the softmax of the scores) of its masked copy.
    Returns float32 (H, W) in [0, 1]: ReLU(Σ_k weight_k A_k), upsampled and divided by its maximum.
    ``activations``, the layer's output (h, w, k) for ``x`` when already known (an inspection
    holds it), saves the forward pass that finds it.
    """
    inspector, x = check_inputs(model, x, class_index)
    layer_name = _layer(model, inspector, layer_name)
    if activations is None:
        outputs, logits = inspector.run(x)
        activations = outputs[layer_name]
    else:
        logits = None
    if class_index is None:
        logits = inspector.scores(x[None])[0] if logits is None else logits
        class_index = int(np.argmax(logits))
    plan = _score_cam_plan(x, activations)
    return plan.finish(int(class_index), None, _probabilities(inspector, _chunks([plan], x.shape)))


#: The methods that need no gradient, named in the error a gradient method gives.
GRADIENT_FREE = ("occlusion", "score_cam")


def _grad_cam(model, x, class_index=None, value_range=None, outputs=None):
    return grad_cam(model, x, class_index)


def _lab_occlusion_plan(x, value_range):
    # A patch of an eighth of the image's side (4 pixels on CIFAR-10's 32) keeps every input size
    # at about 225 occluded copies.
    patch = max(4, round(min(np.shape(x)[:2]) / 8))
    return _occlusion_plan(x, patch, max(1, patch // 2), value_range)


def _ig_heat_plan(x, value_range):
    plan = _integrated_gradients_plan(x, value_range=value_range)
    return plan._replace(finish=lambda c, first, rest: np.abs(plan.finish(c, first, rest)).sum(axis=-1))


#: The methods whose model work is a ``_Plan``: name → (needs input gradients, plan of
#: ``(x, value_range)``); Score-CAM's plan needs the layer's activations as well.
_PLANS = {
    "saliency": (True, lambda x, r: _saliency_plan(x)),
    "smoothgrad": (True, lambda x, r: _smoothgrad_plan(x, value_range=r)),
    "integrated_gradients": (True, _ig_heat_plan),
    "occlusion": (False, _lab_occlusion_plan),
}


def _planned(name):
    return lambda m, x, c=None, r=None, o=None: explain_all(m, x, [name], c, r, o)[2][name]


#: Every method of the explanation lab: name → (label for students, function giving an (H, W) map
#: from ``(model, x, class_index, value_range, outputs)``; larger means more important).
METHODS = {
    "grad_cam": ("Grad-CAM", _grad_cam),
    "grad_cam_plus_plus": ("Grad-CAM++", lambda m, x, c=None, r=None, o=None: grad_cam_plus_plus(m, x, c)),
    "score_cam": ("Score-CAM", _planned("score_cam")),
    "saliency": ("Saliency", _planned("saliency")),
    "smoothgrad": ("SmoothGrad", _planned("smoothgrad")),
    "integrated_gradients": ("Integrated Gradients", _planned("integrated_gradients")),
    "occlusion": ("Occlusion", _planned("occlusion")),
}


def explain(model, x, method: str, class_index=None, value_range=None, outputs=None) -> np.ndarray:
    """The (H, W) map of one method of ``METHODS`` (Integrated Gradients: |attributions| summed
    over channels), not normalised: larger means more important. ``outputs``, every layer's output
    for ``x`` when already known (``{name: array}``), saves Score-CAM a forward pass."""
    if method not in METHODS:
        raise ValueError(f"method {method!r} not known; methods are: {', '.join(METHODS)}")
    return np.asarray(METHODS[method][1](model, x, class_index, value_range, outputs), dtype=np.float32)


def explain_all(model, x, methods=None, class_index=None, value_range=None, outputs=None) -> tuple:
    """The maps of several ``methods`` (default: all of ``METHODS``) in as few model calls as they
    allow: one batch for the forward-only methods' images after ``x`` (occlusion, Score-CAM), one
    batch of input gradients for saliency, SmoothGrad and Integrated Gradients, and Grad-CAM's and
    Grad-CAM++'s own calls. Each map equals ``explain``'s up to float rounding.

    Returns ``(class, probabilities, {name: map (H, W) float32})``: the class explained (the
    prediction when ``class_index`` is None) and the class probabilities (K,) of ``x``, or None
    when no forward-only method needed them.
    """
    names = list(METHODS if methods is None else methods)
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(f"method {unknown[0]!r} not known; methods are: {', '.join(METHODS)}")
    inspector, x = check_inputs(model, x, class_index)
    forward = {n: _PLANS[n][1](x, value_range) for n in names if n in _PLANS and not _PLANS[n][0]}
    if "score_cam" in names:
        layer = last_spatial_layer(model)
        activations = None if outputs is None else outputs.get(layer)
        forward["score_cam"] = _score_cam_plan(x, inspector.run(x)[0][layer] if activations is None else activations)
    backward = {n: _PLANS[n][1](x, value_range) for n in names if n in _PLANS and _PLANS[n][0]}
    heats, first, c = {}, None, class_index
    if forward or (c is None and not backward):
        c, first, maps = _run_probabilities(inspector, x, class_index, list(forward.values()))
        heats.update(zip(forward, maps))
    if backward:
        check_inputs(model, x, c, gradients=True)
        c, maps = _run_gradients(inspector, x, c, list(backward.values()))
        heats.update(zip(backward, maps))
    for name in names:
        if name not in heats:
            heats[name] = METHODS[name][1](model, x, c, value_range, outputs)
    return int(c), first, {n: np.asarray(heats[n], dtype=np.float32) for n in names}
