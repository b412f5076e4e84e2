"""The shipped model's training checkpoints: its weights after a few epochs, from untrained to final.

Each checkpoint is the guide's CNN (``build_cifar_cnn``) with float16 weights in a compressed
``.npz`` keyed by each variable's Keras path (``conv1/kernel``, ...); ``checkpoints.json`` beside
them records each one's test accuracy. ``python -m cnnviz_widgets.train --checkpoints 0,1,2,3,5,10``
writes them. The last epoch is the shipped model itself.
"""
from __future__ import annotations

import functools
import json
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
