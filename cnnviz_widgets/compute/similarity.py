"""Images the network sees alike: nearest neighbours in the space of the layer that feeds the
classifier, and the nearest image the network calls something else. Pure functions, no widget code."""
from __future__ import annotations

import os
import zipfile

import numpy as np

from .embedding import CacheError, MapCache, cached, features_and_predictions, map_key

#: How many similar images a query returns unless told.
NEAREST = 8


def penultimate_features(model, images, preprocess=None, batch_size: int = 500, progress=None) -> np.ndarray:
    """The output of the layer that feeds the classifier (``embedding.penultimate_layer``) for every
    image, flattened: float32 (N, D) — (N, 128) for the guide's CNN.

    images : uint8 (N, H, W, C), preprocessed with ``preprocess`` (default /255).
    ``progress(done, total)`` after each batch; it may raise to cancel.
    """
    return features_and_predictions(model, images, preprocess, batch_size=batch_size, progress=progress)[0]


def features_path(cache: MapCache, key: str):
    """Where ``cache`` keeps the features and predictions of ``key`` (beside the dataset maps)."""
    return cache.folder / f"features-{key}.npz"


def load_features(cache: MapCache, key: str, n_images: int) -> tuple | None:
    """``(features (N, D), predicted (N,))`` stored under ``key`` for ``n_images`` images; None when
    there is no file. Raises CacheError (saying why) when the file cannot be trusted."""
    path = features_path(cache, key)
    if not path.exists():
        return None
    try:
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as data:
            stored = str(data["key"])
            features = np.asarray(data["features"], dtype=np.float32)
            predicted = np.asarray(data["predicted"], dtype=np.int64)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise CacheError(f"the cached features {path.name} are unreadable ({type(exc).__name__}: {exc})") from exc
    if stored != key:
        raise CacheError(f"the cached features {path.name} were made for another model or image set")
    if features.ndim != 2 or len(features) != n_images or predicted.shape != (n_images,) \
            or not np.isfinite(features).all():
        raise CacheError(f"the cached features {path.name} do not fit these {n_images:,} images")
    return features, predicted


def save_features(cache: MapCache, key: str, features, predicted) -> None:
    """Write the features and predictions of ``key`` whole (a temporary file, then renamed)."""
    cache.folder.mkdir(parents=True, exist_ok=True)
    path = features_path(cache, key)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, key=np.array(key), features=np.asarray(features, dtype=np.float32),
                 predicted=np.asarray(predicted, dtype=np.int64))
    os.replace(tmp, path)


def similarity_features(model, images, preprocess=None, cache: MapCache | None = None, progress=None,
                        on_note=None) -> tuple:
    """The penultimate features (N, D) and predicted classes (N,) of ``images``, read from the
    dataset maps' disk ``cache`` when it holds them for this model and these images (the same key
    as a map, ``embedding.map_key``), else computed in one batched pass and stored there.
    ``progress(done, total)`` may raise to cancel; ``on_note(text)`` hears why a file was not used."""
    key = map_key(model, images, preprocess) if cache is not None else None
    if cache is not None:
        hit = cached(lambda: load_features(cache, key, len(images)), on_note, progress, "them")
        if hit is not None:
            return hit
    features, predicted = features_and_predictions(model, images, preprocess, progress=progress)
    if cache is not None:
        save_features(cache, key, features, predicted)
    return features, predicted


def _distances(features, index: int) -> np.ndarray:
    f = np.asarray(features)
    if f.ndim != 2 or len(f) == 0:
        raise ValueError(f"features must be an array (N, D) with N ≥ 1; got shape {f.shape}")
    if not 0 <= int(index) < len(f):
        raise ValueError(f"image index {index} is out of range 0..{len(f) - 1}")
    # Differences in float64, not the expanded |a|² - 2ab + |b|²: near neighbours are exactly the
    # pairs where that form cancels badly and reorders them.
    d = f.astype(np.float64) - f[int(index)].astype(np.float64)
    return np.einsum("ij,ij->i", d, d)


def _nearest_first(dist: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` candidates with the smallest distance, nearest first (ties: lower index first)."""
    if len(candidates) > k:
        part = np.argpartition(dist[candidates], k - 1)[:k]
        # Candidates tied with the k-th are all kept here, so the tie rule below decides.
        cut = dist[candidates[part]].max()
        candidates = candidates[dist[candidates] <= cut]
    order = np.lexsort((candidates, dist[candidates]))
    return candidates[order[:k]].astype(np.int64)


def nearest_examples(features, index: int, k: int = NEAREST) -> np.ndarray:
    """The indices of the ``k`` images nearest to image ``index`` by Euclidean distance between
    their features (N, D), the image itself excluded, nearest first (equal distances: lower index
    first). Returns int64 (min(k, N - 1),).

    >>> nearest_examples(np.array([[0.], [5.], [1.], [3.]]), 0, k=2).tolist()
    [2, 3]
    """
    if int(k) < 1:
        raise ValueError(f"k must be at least 1; got {k}")
    dist = _distances(features, index)
    others = np.flatnonzero(np.arange(len(dist)) != int(index))
    return _nearest_first(dist, others, int(k))


def nearest_counterfactual(features, predictions, index: int) -> int | None:
    """The index of the image nearest to image ``index`` (Euclidean distance between features
    (N, D)) whose predicted class (``predictions`` (N,)) differs from image ``index``'s; None when
    every image has the same predicted class.

    >>> nearest_counterfactual(np.array([[0.], [1.], [3.]]), np.array([4, 4, 7]), 0)
    2
    """
    predictions = np.asarray(predictions).reshape(-1)
    dist = _distances(features, index)
    if len(predictions) != len(dist):
        raise ValueError(f"{len(predictions)} predictions for {len(dist)} feature rows")
    other = np.flatnonzero(predictions != predictions[int(index)])
    if len(other) == 0:
        return None
    return int(_nearest_first(dist, other, 1)[0])
