"""Loading CIFAR-10 into uint8 arrays (from a folder, the Keras cache, or a download).

Nothing here imports TensorFlow at module level, so reading data stays fast.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]

# The CIFAR-10 pickles hold only numpy arrays, lists, dicts and bytes. Every other global is refused,
# so a hostile pickle cannot build an arbitrary object or call an arbitrary function.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: a CIFAR-10 batch holds only numpy arrays"
            )
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray"
        return super().find_class(module, name)


def _read_batch(path: Path) -> dict:
    with open(path, "rb") as f:
        batch = _ArrayOnlyUnpickler(f, encoding="bytes").load()
    if not isinstance(batch, dict):
        raise ValueError(f"{path} is not a CIFAR-10 batch (expected a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}


def _keras_cache_dir() -> Path:
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "datasets"


def find_cifar10(data_dir) -> Path | None:
    candidates = []
    if data_dir is not None:
        candidates.append(Path(data_dir))
    elif os.environ.get("CNNVIZ_CIFAR10_DIR"):
        candidates.append(Path(os.environ["CNNVIZ_CIFAR10_DIR"]))
    else:
        candidates.append(_keras_cache_dir())
    for base in candidates:
        # Keras 3 unpacks a download one level deeper (datasets/cifar-10-batches-py/cifar-10-batches-py),
        # and keras.datasets.cifar10.load_data() into datasets/cifar-10-batches-py-target/: both are
        # reused rather than downloaded again.
        for folder in (base, base / CIFAR10_FOLDER, base / CIFAR10_FOLDER / CIFAR10_FOLDER,
                       base / f"{CIFAR10_FOLDER}-target" / CIFAR10_FOLDER):
            if (folder / "batches.meta").is_file() and (folder / "test_batch").is_file():
                return folder
    return None


def _download_cifar10() -> Path:
    """Download CIFAR-10 through Keras' own downloader (with its progress bar) into the Keras cache."""
    from keras.utils import get_file

    try:
        path = get_file(
            fname="cifar-10-batches-py",
            origin=CIFAR10_URL,
            extract=True,
            file_hash="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        )
    except Exception as exc:  # Keras raises several kinds of network errors.
        raise FileNotFoundError(
            "CIFAR-10 was not found and could not be downloaded "
            f"({type(exc).__name__}: {exc}).\n"
            "Do one of these:\n"
            "  * set CNNVIZ_CIFAR10_DIR to a folder holding 'cifar-10-batches-py' "
            "(or the batch files themselves), or\n"
            "  * pass data_dir=... to load_cifar10, or\n"
            f"  * download {CIFAR10_URL} and unpack it into {_keras_cache_dir()}."
        ) from None
    found = find_cifar10(Path(path)) or find_cifar10(Path(path).parent)
    if found is None:
        raise FileNotFoundError(f"the CIFAR-10 download in {path} has no '{CIFAR10_FOLDER}' folder")
    return found


def load_cifar10(split: str = "test", data_dir=None):
    """Load CIFAR-10 from the standard ``cifar-10-batches-py`` folder.

    Parameters
    ----------
    split : {"test", "train"}
        10,000 test images or 50,000 training images.
    data_dir : path, optional
        The ``cifar-10-batches-py`` folder or its parent. When omitted, ``$CNNVIZ_CIFAR10_DIR`` is used,
        else the Keras cache (``~/.keras/datasets``), else CIFAR-10 is downloaded through Keras.

    Returns
    -------
    images : uint8 array (N, 32, 32, 3)
    labels : int64 array (N,)
    class_names : list of str (10,)

    >>> images, labels, names = load_cifar10("test")   # doctest: +SKIP
    >>> images.shape, names[labels[0]]                  # doctest: +SKIP
    ((10000, 32, 32, 3), 'cat')
    """
    if split not in ("test", "train"):
        raise ValueError(f"split must be 'test' or 'train', not {split!r}")
    folder = find_cifar10(data_dir)
    if folder is None:
        if data_dir is not None or os.environ.get("CNNVIZ_CIFAR10_DIR"):
            where = data_dir if data_dir is not None else os.environ["CNNVIZ_CIFAR10_DIR"]
            raise FileNotFoundError(
                f"no CIFAR-10 in {where}: expected a '{CIFAR10_FOLDER}' folder (or its files "
                "batches.meta, data_batch_1..5, test_batch) there"
            )
        folder = _download_cifar10()
    names = ["test_batch"] if split == "test" else [f"data_batch_{i}" for i in range(1, 6)]
    images, labels = [], []
    for name in names:
        batch = _read_batch(folder / name)
        images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch["labels"], dtype=np.int64))
    meta = _read_batch(folder / "batches.meta")
    class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta["label_names"]]
    images = np.ascontiguousarray(np.concatenate(images).transpose(0, 2, 3, 1))
    return images, np.concatenate(labels), class_names
