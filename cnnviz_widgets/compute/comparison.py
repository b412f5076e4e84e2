"""Two models on the same images: their top classes and where their answers differ. No widgets."""
from __future__ import annotations

import numpy as np

from .statistics import predict_batches


def top_classes(probabilities, k: int = 3) -> list:
    """The ``k`` most probable classes of one image, most probable first.

    probabilities : (K,) float. Returns ``[(class index, probability), ...]`` of length min(k, K);
    ties keep the lower class index first.
    """
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    order = np.argsort(-p, kind="stable")[:k]
    return [(int(i), float(p[i])) for i in order]


def compare_predictions(model_a, model_b, images, preprocess=None, progress=None, batch_size: int = 500) -> dict:
    """Both models' predicted classes for every image and the images where they differ.

    images : uint8 (N, H, W, C); ``preprocess`` maps them to each model's float input (default
    ``scale_images``, [0, 1]). ``progress(done, total)`` is called after each batch of either model
    (``total`` is 2 N) and may raise to cancel.

    Returns ``{"predicted_a": int (N,), "predicted_b": int (N,), "disagree": int (D,)}``, the
    indices where the two predicted classes differ, in increasing order.
    """
    images = np.asarray(images)
    n = len(images)

    def part(offset):
        if progress is None:
            return None
        return lambda done, total: progress(offset + done, 2 * n)

    probs_a = predict_batches(model_a, images, preprocess, batch_size=batch_size, progress=part(0))
    probs_b = predict_batches(model_b, images, preprocess, batch_size=batch_size, progress=part(n))
    predicted_a = np.argmax(probs_a, axis=1).astype(np.int64)
    predicted_b = np.argmax(probs_b, axis=1).astype(np.int64)
    return {"predicted_a": predicted_a, "predicted_b": predicted_b,
            "disagree": np.flatnonzero(predicted_a != predicted_b)}
