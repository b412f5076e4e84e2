"""A map of a whole image set: every image as a point in 2-D, placed by what the network's
penultimate layer makes of it. Pure functions, no widget code.

The steps: one batched pass that gives every image's penultimate features (N, D) and its predicted
class; PCA to at most 50 dimensions (scikit-learn); t-SNE to 2 dimensions (openTSNE, with its
FFT-accelerated gradients, 250 exaggerated and 250 normal iterations: about half a minute for 10,000
images on two idle cores). The result is kept
on disk (``MapCache``) under a key of the model's weights, the images and the preprocessing, as
an ``.npz`` read with ``allow_pickle=False``; a file that is unreadable, truncated or made for
other weights or images is computed again, never trusted.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Bumped whenever the way a map is computed changes, so older cache files are not used.
FORMAT = 1
PCA_COMPONENTS = 50
PERPLEXITY = 30.0
#: Share of a map's progress bar taken by the network's pass (the rest is t-SNE).
FEATURES_SHARE = 0.3
#: The environment variable that chooses the cache folder.
CACHE_ENV = "CNNVIZ_CACHE_DIR"


class CacheError(ValueError):
    """A cache file that cannot be used: unreadable, truncated, or made for something else."""


@dataclass(frozen=True, eq=False)
class DatasetMapResult:
    """A computed map.

    coords : float32 (N, 2), the t-SNE coordinates of every image
    predicted : int64 (N,), the model's predicted class of every image
    layer : the Keras name of the layer the features come from
    key : the cache key (hex) of the model's weights, the images and the preprocessing
    from_cache : True when read from the disk cache
    """

    coords: np.ndarray
    predicted: np.ndarray
    layer: str
    key: str
    from_cache: bool = False


def penultimate_layer(model) -> str:
    """The last one-dimensional layer before the model's final Dense (Dropout skipped, since it
    changes nothing at inference): for the guide's CNN ``dense1_act``, 128 features."""
    from .inspection import layer_table

    infos = list(layer_table(model))
    dense = [k for k, info in enumerate(infos) if info.kind == "dense"]
    if not dense:
        raise ValueError("the model has no Dense layer, so it has no penultimate features to map")
    before = [i for i in infos[:dense[-1]] if len(i.shape) == 1 and i.class_name != "Dropout"]
    if not before:
        raise ValueError("the model has no one-dimensional layer before its last Dense layer")
    return before[-1].name


def features_and_predictions(model, images, preprocess=None, layer=None, batch_size: int = 500,
                             progress=None) -> tuple:
    """The penultimate features and predicted classes of every image, from one batched pass.

    images : uint8 (N, H, W, C), preprocessed with ``preprocess`` (default /255).
    Returns ``(features float32 (N, D), predicted int64 (N,))``. ``progress(done, total)`` after each
    batch; it may raise to cancel.
    """
    from .inspection import Inspector
    from .statistics import scale_images

    inspector = Inspector.for_model(model)
    layer = layer or penultimate_layer(model)
    feats, preds = [], []
    n = len(images)
    for start in range(0, n, batch_size):
        values, logits = inspector.batch_outputs(scale_images(images[start:start + batch_size], preprocess),
                                                 [layer])
        feats.append(values.reshape(len(values), -1).astype(np.float32))
        preds.append(logits.argmax(axis=1).astype(np.int64))
        if progress is not None:
            progress(min(start + batch_size, n), n)
    return np.concatenate(feats), np.concatenate(preds)


def pca(features, n_components: int = PCA_COMPONENTS, seed: int = 0) -> np.ndarray:
    """The first principal components of ``features`` (N, D): float32 (N, min(n_components, D, N)),
    from scikit-learn's PCA (centred, not whitened)."""
    from sklearn.decomposition import PCA

    x = np.asarray(features, dtype=np.float32)
    k = int(min(n_components, x.shape[1], x.shape[0]))
    return PCA(n_components=k, svd_solver="full", random_state=seed).fit_transform(x).astype(np.float32)


def tsne(points, seed: int = 0, perplexity: float = PERPLEXITY, n_jobs: int = 2, progress=None) -> np.ndarray:
    """A 2-D t-SNE embedding (openTSNE, PCA initialisation, FFT gradients) of ``points`` (N, d).

    ``n_jobs`` threads for 10,000 points or more (FFT gradients), one below (Barnes-Hut).
    Returns float32 (N, 2). ``progress(done, total)`` every 25 iterations; it may raise to cancel,
    which stops the optimisation there.
    """
    from openTSNE import TSNE

    n = len(points)
    perplexity = float(min(perplexity, max((n - 1) / 3.0, 1.0)))
    # 250 normal iterations after the exaggerated ones, not openTSNE's 500: the later iterations
    # cost most (the map spreads out, and the FFT grid with it), and after 250 the 10,000 CIFAR-10
    # test images already keep 31 % of their ten nearest neighbours (in PCA space) on the map.
    early, late = 250, 250
    step = 25
    calls = {"done": 0}

    def callback(iteration, error, embedding):
        calls["done"] += step
        if progress is not None:
            progress(min(calls["done"], early + late), early + late)
        return False

    # Below 10,000 points openTSNE uses Barnes-Hut, whose threads cost more than they give on a
    # busy machine (a 300-image map: 2 s with one thread, 16 s or more with two).
    jobs = n_jobs if n >= 10_000 else 1
    embedding = TSNE(n_components=2, perplexity=perplexity, early_exaggeration_iter=early, n_iter=late,
                     n_jobs=jobs, random_state=seed, callbacks=callback, callbacks_every_iters=step,
                     verbose=False).fit(np.asarray(points, dtype=np.float32))
    return np.asarray(embedding, dtype=np.float32)


def map_key(model, images, preprocess=None) -> str:
    """A hex key of everything a map depends on: the model's weights (values and shapes), the
    images (bytes and shape), the preprocessing (its output on the first images) and ``FORMAT``."""
    from .statistics import scale_images

    h = hashlib.sha256(f"cnnviz-dataset-map-{FORMAT}".encode())
    for w in model.weights:
        a = np.ascontiguousarray(np.asarray(w))
        h.update(f"{w.path}{a.shape}{a.dtype}".encode())
        h.update(a.tobytes())
    images = np.ascontiguousarray(images)
    h.update(f"{images.shape}{images.dtype}".encode())
    h.update(images.tobytes())
    h.update(np.ascontiguousarray(scale_images(images[:16], preprocess)).tobytes())
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``$CNNVIZ_CACHE_DIR`` when set, else the user's cache folder: ``$XDG_CACHE_HOME/cnnviz``
    or ``~/.cache/cnnviz``."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cnnviz"


class MapCache:
    """Dataset maps on disk, one ``dataset_map-<key>.npz`` per key, in ``folder`` (default
    ``default_cache_dir()``). Files are written whole (a temporary file, then renamed) and read with
    ``allow_pickle=False``; ``load`` checks the key stored inside and every array's shape."""

    def __init__(self, folder=None):
        self.folder = Path(folder) if folder is not None else default_cache_dir()

    def path(self, key: str) -> Path:
        return self.folder / f"dataset_map-{key}.npz"

    def load(self, key: str, n_images: int) -> DatasetMapResult | None:
        """The map stored under ``key`` for ``n_images`` images; None when there is no file.
        Raises CacheError (saying why) when the file exists but cannot be trusted."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            # Opened here, so that a file numpy cannot read is closed all the same.
            with open(path, "rb") as file, np.load(file, allow_pickle=False) as data:
                stored = str(data["key"])
                fmt = int(data["format"])
                coords = np.asarray(data["coords"], dtype=np.float32)
                predicted = np.asarray(data["predicted"], dtype=np.int64)
                layer = str(data["layer"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise CacheError(f"the cached map {path.name} is unreadable ({type(exc).__name__}: {exc})") from exc
        if stored != key or fmt != FORMAT:
            raise CacheError(f"the cached map {path.name} was made for another model or image set")
        if coords.shape != (n_images, 2) or predicted.shape != (n_images,) or not np.isfinite(coords).all():
            raise CacheError(f"the cached map {path.name} does not fit these {n_images:,} images")
        return DatasetMapResult(coords, predicted, layer, key, from_cache=True)

    def save(self, result: DatasetMapResult) -> Path:
        """Write ``result`` under its key (atomically); returns the file's path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(result.key)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, key=np.array(result.key), format=np.array(FORMAT), coords=result.coords,
                     predicted=result.predicted, layer=np.array(result.layer))
        os.replace(tmp, path)
        return path


def cached(load, on_note=None, progress=None, what: str = "it"):
    """What ``load()`` reads from a disk cache, or None when it holds nothing. A file that cannot be
    trusted (``CacheError``) is reported to ``on_note`` ("…; computing ``what`` again") and skipped;
    a hit completes ``progress``."""
    try:
        hit = load()
    except CacheError as exc:
        if on_note is not None:
            on_note(f"{exc}; computing {what} again")
        return None
    if hit is not None and progress is not None:
        progress(1, 1)
    return hit


def dataset_map(model, images, preprocess=None, cache: MapCache | None = None, seed: int = 0,
                progress=None, on_note=None) -> DatasetMapResult:
    """The 2-D map of ``images`` (uint8 (N, H, W, C)) seen by ``model``: read from ``cache`` when
    it holds a trustworthy map for this model and these images, else computed (features, PCA,
    t-SNE) and stored there. ``progress(done, total)`` may raise to cancel; ``on_note(text)`` hears
    why a cache file was not used."""
    n = len(images)
    if n < 5:
        raise ValueError(f"a map needs at least 5 images; this set has {n}")
    key = map_key(model, images, preprocess)
    if cache is not None:
        hit = cached(lambda: cache.load(key, n), on_note, progress)
        if hit is not None:
            return hit
    total = 1000
    first = int(total * FEATURES_SHARE)

    def features_progress(done, count):
        if progress is not None:
            progress(int(first * done / count), total)

    def tsne_progress(done, count):
        if progress is not None:
            progress(first + int((total - first) * done / count), total)

    layer = penultimate_layer(model)
    feats, predicted = features_and_predictions(model, images, preprocess, layer, progress=features_progress)
    coords = tsne(pca(feats, seed=seed), seed=seed, progress=tsne_progress)
    result = DatasetMapResult(coords, predicted, layer, key)
    if cache is not None:
        cache.save(result)
    return result
