"""The shipped model's training checkpoints: its weights after a few epochs, from untrained to final.

Each checkpoint is the guide's CNN (``build_cifar_cnn``) with float16 weights in a compressed
``.npz`` keyed by each variable's Keras path (``conv1/kernel``, ...); ``checkpoints.json`` beside
them records each one's test accuracy. ``python -m cnnviz_widgets.train --checkpoints 0,1,2,3,5,10``
writes them. The last epoch is the shipped model itself.
"""
from __future__ import annotations

import functools
import json
import threading
from pathlib import Path

import numpy as np

from .shipped_model import DEFAULT_MODEL_DIR, DEFAULT_MODEL_PATH, build_cifar_cnn, load_default_card

DEFAULT_CHECKPOINT_DIR = DEFAULT_MODEL_DIR / "checkpoints"
MANIFEST_NAME = "checkpoints.json"


def checkpoint_file_name(epoch: int) -> str:
    return f"epoch_{int(epoch):02d}.weights.npz"


def save_weights_npz(model, path) -> None:
    """Write ``model``'s weights (every variable, BatchNorm statistics included) as float16."""
    arrays = {v.path: np.asarray(v.numpy(), dtype=np.float16) for v in model.weights}
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def load_weights_npz(model, path) -> None:
    """Set ``model``'s weights from a file written by ``save_weights_npz`` (as float32)."""
    with np.load(path, allow_pickle=False) as data:
        saved = set(data.files)
        wanted = {v.path for v in model.weights}
        if saved != wanted:
            missing = ", ".join(sorted(wanted - saved)) or "none"
            extra = ", ".join(sorted(saved - wanted)) or "none"
            raise ValueError(f"{Path(path).name} does not fit the model: missing {missing}; unexpected {extra}")
        for v in model.weights:
            array = data[v.path]
            if tuple(array.shape) != tuple(v.shape):
                raise ValueError(f"{Path(path).name}: {v.path} has shape {array.shape}, the model "
                                 f"needs {tuple(v.shape)}")
            v.assign(array.astype(np.float32))


def read_manifest(folder=None) -> dict:
    """The checkpoints' manifest: ``{"checkpoints": {"0": {"file", "test_accuracy", ...}, ...}}``."""
    path = Path(folder or DEFAULT_CHECKPOINT_DIR) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no training checkpoints in {path.parent}: train them with "
                                "`python -m cnnviz_widgets.train --checkpoints 0,1,2,3,5,10 --stop-after 10`")
    return json.loads(path.read_text())


def checkpoint_accuracies(folder=None) -> dict[int, float]:
    """``{epoch: test accuracy}`` for every checkpoint, the shipped model's final epoch included."""
    manifest = read_manifest(folder)
    result = {int(e): float(c["test_accuracy"]) for e, c in manifest["checkpoints"].items()}
    if folder is None:
        card = load_default_card()
        result.setdefault(int(card["epochs"]), float(card["test_accuracy"]))
    return dict(sorted(result.items()))


def _load_checkpoint(path: Path, dropout: float):
    model = build_cifar_cnn(dropout=dropout)
    load_weights_npz(model, path)
    return model


def _load_shipped():
    from .shipped_model import load_default_model

    return load_default_model()


def shipped_checkpoints(folder=None) -> dict:
    """``{epoch: loader}`` for the shipped model's training, from 0 (untrained) to the final epoch.

    A loader is a no-argument callable that returns a new Keras model (the guide's CNN, uncompiled,
    input (None, 32, 32, 3) in [0, 1], output (None, 10) probabilities). The final epoch's loader
    loads the shipped model itself. Epochs are in increasing order.

    >>> loaders = shipped_checkpoints()          # doctest: +SKIP
    >>> sorted(loaders)                          # doctest: +SKIP
    [0, 1, 2, 3, 5, 10, 45]
    >>> model = loaders[3]()                     # doctest: +SKIP
    """
    folder_path = Path(folder or DEFAULT_CHECKPOINT_DIR)
    manifest = read_manifest(folder_path)
    card = load_default_card()
    dropout = float(card.get("dropout", 0.25))
    loaders = {int(e): functools.partial(_load_checkpoint, folder_path / c["file"], dropout)
               for e, c in manifest["checkpoints"].items()}
    if folder is None and DEFAULT_MODEL_PATH.is_file():
        loaders.setdefault(int(card["epochs"]), _load_shipped)
    return dict(sorted(loaders.items()))


_models: dict = {}
_models_lock = threading.Lock()


def checkpoint_model(epoch: int):
    """The shipped model's checkpoint after ``epoch`` epochs, loaded once per process and then
    shared (a checkpoint's model is only read, never trained). ValueError lists the epochs.

    Kept for the life of the process: seven small models (about 2.4 MB of weights each) make
    switching epochs back and forth a look-up, and keep each model's traced graphs warm.
    """
    loaders = _loaders()
    epoch = int(epoch)
    if epoch not in loaders:
        raise ValueError(f"no checkpoint after epoch {epoch}; the epochs are: {', '.join(map(str, loaders))}")
    with _models_lock:
        model = _models.get(epoch)
        if model is None:
            model = loaders[epoch]()
            _models[epoch] = model
    return model


def checkpoint_epoch_of(model) -> int | None:
    """The epoch whose loaded checkpoint ``model`` is (by identity), else None."""
    for epoch, loaded in list(_models.items()):
        if loaded is model:
            return epoch
    return None


def adopt_final_model(model) -> bool:
    """Use ``model`` as the final epoch's checkpoint when its weights are exactly the shipped
    model's (the state usually already holds the shipped model: no second copy is loaded then).
    True when adopted, or when it already is the final checkpoint."""
    loaders = _loaders()
    final = max(loaders)
    if _models.get(final) is model:
        return True
    if final in _models or loaders[final] is not _load_shipped:
        return False
    try:
        mine, shipped = model.get_weights(), _load_shipped().get_weights()
    except Exception:  # Not the shipped model, whatever went wrong.
        return False
    same = len(mine) == len(shipped) and all(a.shape == b.shape and np.array_equal(a, b)
                                             for a, b in zip(mine, shipped))
    if same:
        with _models_lock:
            _models.setdefault(final, model)
    return same and _models[final] is model


@functools.lru_cache(maxsize=1)
def _loaders() -> dict:
    return shipped_checkpoints()
