"""Batched passes over a whole image set and the statistics made from them: no widget code here.

``images`` are uint8 (N, H, W, C), preprocessed with ``preprocess`` (default: /255).
"""
from __future__ import annotations

import numpy as np

from .inspection import Inspector


def scale_images(images, preprocess=None) -> np.ndarray:
    """Preprocess uint8 images (N, H, W, C) for the model: ``preprocess`` or /255 → float32."""
    if preprocess is None:
        return np.asarray(images, dtype=np.float32) / 255.0
    return np.asarray(preprocess(images), dtype=np.float32)


def predict_batches(model, images, preprocess=None, batch_size: int = 500, progress=None):
    """Class probabilities (N, K) float32 for many images, batch by batch.

    ``progress(done, total)`` is called after each batch; it may raise to cancel.
    """
    inspector = Inspector.for_model(model)
    out = []
    n = len(images)
    for start in range(0, n, batch_size):
        x = scale_images(images[start:start + batch_size], preprocess)
        logits = inspector.scores(x)
        out.append(inspector.probabilities(logits))
        if progress is not None:
            progress(min(start + batch_size, n), n)
    return np.concatenate(out) if out else np.zeros((0, inspector.num_classes), np.float32)


def confusion_matrix(model, images, labels, preprocess=None, batch_size: int = 500, progress=None):
    """Confusion matrix of ``model`` on ``images``: (K, K) int64, rows true class, columns predicted."""
    return count_confusions(predict_batches(model, images, preprocess, batch_size, progress), labels)


def count_confusions(probabilities, labels) -> np.ndarray:
    """The confusion matrix of predictions already made: (K, K) int64, rows true class, columns the
    class of highest probability. probabilities : (N, K); labels : int (N,), negative for an image
    of unknown class (not counted)."""
    probs = np.asarray(probabilities)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    known = labels >= 0
    k = probs.shape[1]
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (labels[known], probs.argmax(axis=1)[known]), 1)
    return cm


def confidence_examples(probabilities, labels) -> dict:
    """The guide's exercise 5: three telling predictions of an image set.

    probabilities : (N, K); labels : int (N,), negative for an image of unknown class (never right
    nor wrong). Returns ``{"confident_right": i, "unsure_right": i, "confident_wrong": i}``: the
    correct prediction with the highest confidence, the correct one with the lowest, and the wrong
    one with the highest (None when the set has no such image).
    """
    probs = np.asarray(probabilities)
    labels = np.asarray(labels).reshape(-1)
    if probs.ndim != 2 or len(probs) != len(labels):
        raise ValueError(f"need probabilities (N, K) and N labels; got {probs.shape} and {labels.shape}")
    predicted = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    right = np.flatnonzero(predicted == labels)
    wrong = np.flatnonzero((predicted != labels) & (labels >= 0))

    def pick(indices, best):
        if len(indices) == 0:
            return None
        values = confidence[indices]
        return int(indices[np.argmax(values) if best else np.argmin(values)])

    return {"confident_right": pick(right, True), "unsure_right": pick(right, False),
            "confident_wrong": pick(wrong, True)}
