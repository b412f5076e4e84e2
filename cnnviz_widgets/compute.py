"""Pure computations on a Keras model: no widget code here."""
from __future__ import annotations

import numpy as np


def _scale(images, preprocess):
    if preprocess is None:
        return np.asarray(images, dtype=np.float32) / 255.0
    return np.asarray(preprocess(images), dtype=np.float32)


def predict_batches(model, images, preprocess=None, batch_size: int = 500, progress=None):
    """Class probabilities for many images, batch by batch.

    images : uint8 (N, H, W, C); preprocess defaults to /255.
    Returns float32 (N, K). ``progress(done, total)`` is called after each batch.
    """
    out = []
    n = len(images)
    for start in range(0, n, batch_size):
        x = _scale(images[start:start + batch_size], preprocess)
        out.append(np.asarray(model(x, training=False)))
        if progress is not None:
            progress(min(start + batch_size, n), n)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def confusion_matrix(model, images, labels, preprocess=None, batch_size: int = 500, progress=None):
    """Confusion matrix of ``model`` on ``images``: (K, K) int64, rows true class, columns predicted."""
    probs = predict_batches(model, images, preprocess, batch_size, progress)
    k = probs.shape[1]
    pred = probs.argmax(axis=1)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (np.asarray(labels, dtype=np.int64), pred), 1)
    return cm
