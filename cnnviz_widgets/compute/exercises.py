"""The answers of the page's five exercises, measured on the model and the images rather than
written by hand: a student checks an answer against the same numbers the panels show.

Each function takes arrays (no widgets) and returns plain numbers and names; the exercise path
(``widgets/exercises.py``) writes them as sentences.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .describe import PLACES, strongest_place, thirds_shares


@dataclass(frozen=True)
class FilterPicks:
    """The first conv layer's filters that best fit four descriptions (indices into its filters).

    blue, red : the filter whose mean weight on that colour is the most above its mean weight on the
        other two colours (the filter drawn the most blue, or red, in the filter grid);
    horizontal, vertical : the filter whose weights, summed over the colours, differ the most
        between its top and bottom rows (a horizontal edge) or its left and right columns (a
        vertical edge), relative to the sum of their absolute values.
    scores : {description: float} the winning filter's score.
    """

    blue: int
    red: int
    horizontal: int
    vertical: int
    scores: dict


def filter_picks(kernel) -> FilterPicks:
    """``FilterPicks`` of an RGB convolution kernel float (kh, kw, 3, filters)."""
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 4 or k.shape[2] != 3:
        raise ValueError(f"need an RGB kernel (kh, kw, 3, filters); got shape {k.shape}")
    colour = k.mean(axis=(0, 1))  # (3, filters)
    blue = colour[2] - colour[:2].mean(axis=0)
    red = colour[0] - colour[1:].mean(axis=0)
    grey = k.sum(axis=2)  # (kh, kw, filters)
    size = np.maximum(np.abs(grey).sum(axis=(0, 1)), 1e-12)
    horizontal = np.abs(grey[0].sum(axis=0) - grey[-1].sum(axis=0)) / size
    vertical = np.abs(grey[:, 0].sum(axis=0) - grey[:, -1].sum(axis=0)) / size
    found = {name: int(np.argmax(score)) for name, score in
             (("blue", blue), ("red", red), ("horizontal", horizontal), ("vertical", vertical))}
    scores = {"blue": float(blue.max()), "red": float(red.max()), "horizontal": float(horizontal.max()),
              "vertical": float(vertical.max())}
    return FilterPicks(**found, scores=scores)


def stage_similarity(outputs) -> float:
    """How alike a few images look to one layer: the mean cosine similarity of every pair of their
    outputs, flattened. outputs : (N, ...) with N ≥ 2, one output per image. 1 means the same
    pattern; near 0, nothing in common."""
    flat = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    if len(flat) < 2:
        raise ValueError("need the outputs of at least two images to compare them")
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    unit = flat / np.maximum(norms, 1e-12)
    cosines = unit @ unit.T
    n = len(flat)
    return float((cosines.sum() - np.trace(cosines)) / (n * n - n))


def heat_place(cam) -> tuple:
    """Where a Grad-CAM map (H, W) is strongest: ``(place, share)``, the name of the third that holds
    its largest value ("upper left" … "bottom right") and the share of the map's total in that third."""
    place = strongest_place(cam)
    row = next(r for r, names in enumerate(PLACES) if place in names)
    return place, float(thirds_shares(cam)[row, PLACES[row].index(place)])


@dataclass(frozen=True)
class ClassMistakes:
    """The class the network gets right least often, and what it takes it for.

    accuracy : fraction of the labelled images predicted right; weakest : that class's index;
    weakest_accuracy : the fraction of its images predicted right; confused_with : the class its
    images are most often predicted as, wrongly, and ``confused_count`` how many; worst_pair :
    (true, predicted) the most common mistake of the set and ``worst_count`` how many.
    """

    accuracy: float
    weakest: int
    weakest_accuracy: float
    confused_with: int
    confused_count: int
    worst_pair: tuple
    worst_count: int


def class_mistakes(probabilities, labels) -> ClassMistakes:
    """``ClassMistakes`` of predictions (N, K) against labels int (N,) (negative: not known, left out)."""
    probs = np.asarray(probabilities)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    known = labels >= 0
    if not known.any():
        raise ValueError("no image has a known class, so nothing is right or wrong")
    k = probs.shape[1]
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (labels[known], probs.argmax(axis=1)[known]), 1)
    totals = cm.sum(axis=1)
    present = np.flatnonzero(totals)
    rates = np.diag(cm)[present] / totals[present]
    weakest = int(present[np.argmin(rates)])
    off = cm.copy()
    np.fill_diagonal(off, 0)
    confused = int(np.argmax(off[weakest]))
    t, p = np.unravel_index(int(np.argmax(off)), off.shape)
    return ClassMistakes(float(np.trace(cm) / cm.sum()), weakest, float(rates.min()), confused,
                         int(off[weakest, confused]), (int(t), int(p)), int(off[t, p]))


@dataclass(frozen=True)
class SureMistakes:
    """How often the network is sure and wrong.

    threshold : the confidence counted as sure; count : wrong predictions above it; wrong : every
    wrong prediction; most : the index of the most confident wrong prediction (None without one)
    and ``most_confidence`` its confidence.
    """

    threshold: float
    count: int
    wrong: int
    most: int | None
    most_confidence: float


def sure_mistakes(probabilities, labels, threshold: float = 0.9) -> SureMistakes:
    """``SureMistakes`` of predictions (N, K) against labels int (N,) (negative: left out)."""
    probs = np.asarray(probabilities)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    confidence = probs.max(axis=1)
    wrong = np.flatnonzero((probs.argmax(axis=1) != labels) & (labels >= 0))
    if len(wrong) == 0:
        return SureMistakes(threshold, 0, 0, None, 0.0)
    most = int(wrong[np.argmax(confidence[wrong])])
    return SureMistakes(threshold, int((confidence[wrong] > threshold).sum()), len(wrong), most,
                        float(confidence[most]))
