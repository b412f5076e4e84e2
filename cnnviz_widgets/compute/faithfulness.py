"""Can a map be trusted? Deletion and insertion curves (Petsiuk et al. 2018, RISE) and the cascading
model-randomisation sanity check (Adebayo et al. 2018).

Pure NumPy/TensorFlow, no widget code; every model call is one batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import attribution
from .inspection import Inspector, stage_starts


class Curve(NamedTuple):
    """A deletion or insertion curve: ``fractions`` (S+1,) of pixels removed or revealed, from 0
    to 1, and the class ``probabilities`` (S+1,) at each; unpacks as ``(fractions, probabilities)``."""

    fractions: np.ndarray
    probabilities: np.ndarray

    @property
    def area(self) -> float:
        """The area under the curve (trapezoidal rule), between 0 and 1."""
        f, p = self.fractions.astype(np.float64), self.probabilities.astype(np.float64)
        return float(((p[1:] + p[:-1]) * np.diff(f)).sum() / 2.0)


def _ranking(heat, shape) -> np.ndarray:
    """Pixel indices (H·W,) from the highest value of ``heat`` down; ties in a fixed random order,
    so that a flat stretch of the map (all zeros of a ReLU) is not read top to bottom."""
    heat = np.asarray(heat, dtype=np.float64)
    if heat.shape != tuple(shape):
        raise ValueError(f"heat must be a map of the image's size {tuple(shape)}, not {heat.shape}")
    tie = np.random.default_rng(0).random(heat.size)
    return np.lexsort((tie, -heat.reshape(-1)))


def _curve_images(x, heat, steps, black, insert: bool):
    """The fractions (S+1,) and the images (S+1, H, W, C) of one deletion or insertion curve."""
    if int(steps) < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    h, w, _ = x.shape
    order = _ranking(heat, (h, w))
    fractions = np.linspace(0.0, 1.0, int(steps) + 1)
    counts = np.round(fractions * h * w).astype(int)
    # Rank of each pixel; a pixel is "changed" at step s when its rank is below counts[s].
    rank = np.empty(h * w, np.int64)
    rank[order] = np.arange(h * w)
    changed = (rank[None, :] < counts[:, None]).reshape(len(counts), h, w, 1)
    start, end = (black, x) if insert else (x, black)
    return fractions.astype(np.float32), np.where(changed, end[None], start[None])


def _curve(model, x, heat, class_index, steps, value_range, insert: bool) -> Curve:
    inspector, x = attribution.check_inputs(model, x, class_index)
    black = np.full_like(x, attribution.input_range(x, value_range)[0])
    fractions, batch = _curve_images(x, heat, steps, black, insert)
    probs = inspector.probabilities(inspector.scores(batch))
    # The image itself is the curve's first point (deletion) or its last (insertion).
    c = int(np.argmax(probs[-1 if insert else 0])) if class_index is None else int(class_index)
    return Curve(fractions, probs[:, c])


def deletion_curve(model, x, heat, class_index=None, steps: int = 16, value_range=None) -> Curve:
    """The class probability as the pixels ``heat`` (H, W) ranks highest are set to black (the low
    end of the input range), ``steps`` equal steps from none to all. A faithful map makes it fall
    fast: a small ``area``. Returns ``Curve(fractions (steps+1,), probabilities (steps+1,))``."""
    return _curve(model, x, heat, class_index, steps, value_range, insert=False)


def insertion_curve(model, x, heat, class_index=None, steps: int = 16, value_range=None) -> Curve:
    """The class probability as the pixels ``heat`` (H, W) ranks highest are revealed on a black
    image, ``steps`` equal steps from none to all. A faithful map makes it rise fast: a large
    ``area``. Returns ``Curve(fractions (steps+1,), probabilities (steps+1,))``."""
    return _curve(model, x, heat, class_index, steps, value_range, insert=True)


@dataclass(frozen=True)
class Explanation:
    """One method's answer for one image: its ``heat`` map (H, W), larger meaning more important,
    and the ``deletion`` and ``insertion`` curves of that map."""

    heat: np.ndarray
    deletion: Curve
    insertion: Curve


def compare_methods(model, x, class_index=None, methods=None, value_range=None,
                    steps: int = 16, outputs=None) -> dict:
    """Every method's map for one image with its deletion and insertion curves:
    ``{method name: Explanation}`` in the order of ``methods`` (default: all of
    ``attribution.METHODS``). The maps come from ``attribution.explain_all`` (``outputs``, every
    layer's output for ``x`` when known, saves Score-CAM a forward pass); the curves of all methods
    are one batch of the model."""
    class_index, first, heats = attribution.explain_all(model, x, methods, class_index, value_range, outputs)
    inspector, x = attribution.check_inputs(model, x, class_index)
    black = np.full_like(x, attribution.input_range(x, value_range)[0])
    names = list(heats)
    parts = [_curve_images(x, heats[name], steps, black, insert)
             for name in names for insert in (False, True)]
    # Every deletion curve runs from the image to black and every insertion curve back: those two
    # ends go through the model once for all curves (the image not at all when its probabilities
    # are known), the inner points of every curve in the same batch.
    ends = [black[None]] + ([x[None]] if first is None else [])
    scores = inspector.scores(np.concatenate(ends + [b[1:-1] for _, b in parts]))
    probs = inspector.probabilities(scores)[:, class_index]
    p_black, p_x = probs[0], (probs[1] if first is None else first[class_index])
    inner, at = int(steps) - 1, len(ends)
    curves = []
    for i, (f, _) in enumerate(parts):
        middle = probs[at + i * inner:at + (i + 1) * inner]
        start, end = (p_black, p_x) if i % 2 else (p_x, p_black)
        curves.append(Curve(f, np.concatenate([[start], middle, [end]]).astype(np.float32)))
    return {name: Explanation(heats[name], curves[2 * i], curves[2 * i + 1]) for i, name in enumerate(names)}


# ----- the sanity check --------------------------------------------------------------------------

def spearman(a, b) -> float:
    """Spearman's rank correlation of two maps of the same size (ties get their mean rank);
    0.0 when either map is flat."""
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = float(np.sqrt((ra ** 2).sum() * (rb ** 2).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


def _ranks(a) -> np.ndarray:
    _, inverse, counts = np.unique(np.asarray(a, dtype=np.float64).reshape(-1),
                                   return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse]


@dataclass(frozen=True)
class RandomizationCheck:
    """The result of ``randomization_check``.

    original : (H, W) the map of the trained model
    layers : the layers re-initialised at each step, top down (each step adds one stage)
    maps : (L, H, W) the map after step i (layers[:i + 1] random)
    correlations : (L,) Spearman rank correlation of each map with ``original``
    """

    original: np.ndarray
    layers: tuple
    maps: np.ndarray
    correlations: np.ndarray


def weighted_stages(model) -> list:
    """The stages with weights, top down: ``[[layer, ...], ...]``, each a conv or dense layer with
    the layers of its stage that hold weights (its BatchNormalization), e.g. for the guide's CNN
    ``[["predictions"], ["dense1", "dense1_bn"], ["conv4", "conv4_bn"], ...]``."""
    inspector = Inspector.for_model(model)
    groups: dict = {}
    for info, start in zip(inspector.layers, stage_starts(inspector.layers)):
        if inspector.layer(info.name).weights:
            key = start.name if start is not None else info.name
            groups.setdefault(key, []).append(info.name)
    return list(groups.values())[::-1]


def randomization_check(model, x, method, class_index=None, value_range=None, seed: int = 0,
                        progress=None):
    """The cascading model-parameter randomisation test (Adebayo et al. 2018).

    ``method`` is a name of ``attribution.METHODS``, a function ``(model, x, class_index) →
    (H, W)``, or a list of names. A copy of the model is made (the model itself is never
    changed); its stages with weights (``weighted_stages``) are re-initialised with their own
    initialisers, from the top down and cumulatively, and the map is computed after each. A map
    that stays the same while the network it should explain is destroyed does not explain the
    network.

    Returns a ``RandomizationCheck``, or ``{name: RandomizationCheck}`` for a list of names (one
    copy of the model for all). ``class_index`` None is the class the trained model predicts,
    kept for every step. ``progress(done, total)`` is called after each map; it may raise to stop.
    """
    import keras

    inspector, x = attribution.check_inputs(model, x, class_index)
    if callable(method):
        methods = {"map": method}
    else:
        names = [method] if isinstance(method, str) else list(method)
        unknown = [n for n in names if n not in attribution.METHODS]
        if unknown or not names:
            raise ValueError(f"method {', '.join(map(repr, unknown)) or 'list is empty'} not known; "
                             f"methods are: {', '.join(attribution.METHODS)}")
        methods = {n: _named_method(n, value_range) for n in names}
    if class_index is None:
        class_index = int(np.argmax(inspector.scores(x[None])[0]))
    stages = weighted_stages(model)
    total = (len(stages) + 1) * len(methods)
    done = 0

    def maps(m):
        nonlocal done
        out = {}
        for name, fn in methods.items():
            out[name] = np.asarray(fn(m, x, class_index), dtype=np.float32)
            done += 1
            if progress is not None:
                progress(done, total)
        return out

    original = maps(model)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    rng = np.random.default_rng(seed)
    steps = []
    try:
        copied = Inspector.for_model(copy)
        for stage in stages:
            for layer_name in stage:
                _reinitialise(copied.layer(layer_name), int(rng.integers(2**31)))
            steps.append(maps(copy))
    finally:
        Inspector.forget(copy)
    names = tuple(stage[0] for stage in stages)
    results = {
        name: RandomizationCheck(
            original[name], names, np.stack([s[name] for s in steps]),
            np.asarray([spearman(original[name], s[name]) for s in steps], np.float32))
        for name in methods
    }
    if callable(method):
        return results["map"]
    return results[method] if isinstance(method, str) else results


def _named_method(name: str, value_range):
    return lambda model, x, class_index: attribution.explain(model, x, name, class_index, value_range)


def _reinitialise(layer, seed: int) -> None:
    """Give every weight of ``layer`` a fresh value from the layer's own initialiser (e.g.
    ``kernel_initializer`` for ``kernel``), seeded; Glorot uniform where the layer names none."""
    import keras

    for i, variable in enumerate(layer.weights):
        init = getattr(layer, f"{variable.name}_initializer", None) or keras.initializers.GlorotUniform()
        config = keras.initializers.serialize(init)
        if "seed" in config.get("config", {}):
            config["config"]["seed"] = seed + i
        variable.assign(keras.initializers.deserialize(config)(variable.shape, variable.dtype))
