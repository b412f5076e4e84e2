"""Safe loading of a ``.keras`` file (an uploaded model).

``load_model_file`` is the one way cnnviz opens a model file. It never runs code from the file:
before Keras sees the archive, the zip is checked (size, member names, decompression bombs) and
its ``config.json`` is read as plain JSON and refused when it names a ``Lambda`` layer, a class
from outside Keras, or a layer that reaches outside the file; Keras then loads it in safe mode,
without compiling. Every refusal is a ValueError whose message is meant for the student.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .. import compute
from ..compat import safe_mode_scope

#: Largest ``.keras`` file accepted, in bytes.
MAX_MODEL_BYTES = 200 * 2**20
#: Largest total size of the files inside a ``.keras`` archive once unpacked.
MAX_UNPACKED_BYTES = 1 * 2**30
#: A member this much larger unpacked than stored is a decompression bomb, not model weights.
MAX_COMPRESSION_RATIO = 200
#: More files than this in a ``.keras`` archive is not a Keras model.
MAX_ARCHIVE_MEMBERS = 10_000
#: Largest ``config.json`` read; a real model's architecture is far smaller.
MAX_CONFIG_BYTES = 32 * 2**20
#: Longest error text shown from inside Keras (its messages can embed a whole model config).
_MAX_REASON_CHARS = 300

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_KERAS_MODEL_CLASSES = ("Sequential", "Functional", "Model")
#: Layers that would run code or read files outside the ``.keras`` archive, and why each is refused.
_REFUSED_LAYERS = {
    "TFSMLayer": "loads a TensorFlow SavedModel from another place on disk",
    "TorchModuleWrapper": "holds a pickled PyTorch module, and unpickling can run code",
    "JaxLayer": "wraps Python functions",
    "FlaxLayer": "wraps Python code",
    "StringLookup": "can read a vocabulary file from elsewhere on disk",
    "IntegerLookup": "can read a vocabulary file from elsewhere on disk",
    "TextVectorization": "can read a vocabulary file from elsewhere on disk",
}
_LAMBDA_ADVICE = (
    "Rebuild the model with Keras' built-in layers instead (for example keras.layers.Rescaling "
    "for x / 255) and save it again with model.save('my_model.keras')."
)


def format_mib(n: int) -> str:
    """A byte count for people: "512 bytes", "3.4 KB", "200.0 MB"."""
    if n < 2**10:
        return f"{n} bytes"
    if n < 2**20:
        return f"{n / 2**10:.1f} KB"
    return f"{n / 2**20:.1f} MB"


def short_error(exc: BaseException) -> str:
    """The first line of an exception's message, cut to a readable length."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 1] + "…"


# ----- loading a model ---------------------------------------------------------------------------

def load_model_file(source, max_bytes: int = MAX_MODEL_BYTES, max_unpacked_bytes: int = MAX_UNPACKED_BYTES):
    """Load a Keras image classifier from a ``.keras`` file without running any code from it.

    Parameters
    ----------
    source : str, os.PathLike, bytes or a binary file object
        The path of a ``.keras`` file or its bytes (e.g. from an upload).
    max_bytes : int
        Largest file accepted (default 200 MB).
    max_unpacked_bytes : int
        Largest total size of the archive's members once unpacked (default 1 GB).

    Returns
    -------
    keras.Model
        A single-input image classifier that the dashboard can show, not compiled.

    Raises
    ------
    ValueError
        With a reason a student understands: the file is missing, empty, too large, a legacy
        ``.h5`` file, not a zip, a damaged or hostile zip, holds a ``Lambda`` layer or other code,
        or holds a model the dashboard cannot show (see ``compute.check_image_model``).

    >>> model = load_model_file("my_model.keras")      # doctest: +SKIP
    >>> model = load_model_file(uploaded_bytes)        # doctest: +SKIP
    """
    data, suffix = _read_source(source, max_bytes)
    if data.startswith(_HDF5_SIGNATURE) or suffix in (".h5", ".hdf5"):
        raise ValueError(
            "this is a legacy HDF5 (.h5) model file; cnnviz opens only the .keras format, because an "
            ".h5 file can carry Python code that would run when it is loaded. Open it where you made "
            "it and save it again with model.save('my_model.keras')."
        )
    config = check_keras_archive(data, max_unpacked_bytes)
    check_model_config(config)
    model = _load_checked_bytes(data)
    try:
        compute.check_image_model(model)
        compute.Inspector.for_model(model)
    except ValueError as exc:
        raise ValueError(f"the dashboard cannot show this model: {short_error(exc)}") from None
    except Exception as exc:  # Keras can fail in many ways on an unusual graph.
        raise ValueError(f"the dashboard cannot show this model ({type(exc).__name__}: {short_error(exc)})") from None
    return model


def _read_source(source, max_bytes: int):
    """The file's bytes (at most ``max_bytes``) and its suffix ("" for bytes)."""
    too_big = ("the model file is {size}, more than the limit of " + format_mib(max_bytes)
               + "; cnnviz is for small image classifiers")
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, suffix = bytes(source), ""
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"there is no model file at {path}")
        size = path.stat().st_size
        if size > max_bytes:
            raise ValueError(too_big.format(size=format_mib(size)))
        data, suffix = path.read_bytes(), path.suffix.lower()
    elif hasattr(source, "read"):
        data, suffix = source.read(max_bytes + 1), ""
        if not isinstance(data, (bytes, bytearray)):
            raise ValueError("the file object must be opened in binary mode ('rb')")
        data = bytes(data)
    else:
        raise ValueError(f"expected the path or the bytes of a .keras file, not {type(source).__name__}")
    if len(data) > max_bytes:
        raise ValueError(too_big.format(size=format_mib(len(data))))
    if not data:
        raise ValueError("the model file is empty")
    return data, suffix


def check_keras_archive(data: bytes, max_unpacked_bytes: int = MAX_UNPACKED_BYTES) -> dict:
    """Check the zip archive of a ``.keras`` file and return its ``config.json`` as a dict.

    Refuses (ValueError) what is not a zip, a damaged or encrypted zip, member names that climb
    out of a folder (``../``, absolute paths), archives that unpack to more than
    ``max_unpacked_bytes`` or contain a member compressed more than ``MAX_COMPRESSION_RATIO``
    times (decompression bombs), and archives without a readable ``config.json``.
    """
    not_keras = ("this is not a .keras model file (a .keras file is a zip archive holding "
                 "config.json and the weights; save one with model.save('my_model.keras'))")
    buffer = io.BytesIO(data)
    if not zipfile.is_zipfile(buffer):
        raise ValueError(not_keras)
    try:
        with zipfile.ZipFile(buffer) as archive:
            members = archive.infolist()
            if len(members) > MAX_ARCHIVE_MEMBERS:
                raise ValueError(f"the archive holds {len(members):,} files; a .keras model holds a few")
            total = 0
            for info in members:
                _check_member(info)
                total += info.file_size
            if total > max_unpacked_bytes:
                raise ValueError(f"the archive would unpack to {format_mib(total)}, more than the limit of "
                                 f"{format_mib(max_unpacked_bytes)}; refusing it as a possible zip bomb")
            names = {info.filename for info in members}
            if "config.json" not in names:
                raise ValueError(not_keras + "; this zip has no config.json")
            info = archive.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                raise ValueError(f"the model's config.json is {format_mib(info.file_size)}; that is no model "
                                 "architecture cnnviz can show")
            with archive.open(info) as f:
                raw = f.read(MAX_CONFIG_BYTES + 1)
    except ValueError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError,
            KeyError) as exc:
        raise ValueError(f"the .keras file is damaged ({short_error(exc)}); save the model again") from None
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"the model's config.json is not valid JSON ({short_error(exc)}); "
                         "the file is damaged") from None
    if not isinstance(config, dict):
        raise ValueError("the model's config.json does not describe a model; the file is damaged")
    return config


def _check_member(info: zipfile.ZipInfo) -> None:
    name = info.filename
    path = PurePosixPath(name)
    if ("\\" in name or "\x00" in name or path.is_absolute() or ".." in path.parts
            or (len(name) > 1 and name[1] == ":")):
        raise ValueError(f"the archive holds a file named {name!r} that points outside the archive; "
                         "refusing it")
    if info.flag_bits & 0x1:
        raise ValueError("the archive is encrypted; a .keras model file never is")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"the archive member {name!r} uses a compression Keras does not write")
    if info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1) and info.file_size > 2**20:
        raise ValueError(f"the archive member {name!r} would unpack to {format_mib(info.file_size)} from "
                         f"{format_mib(info.compress_size)}; refusing it as a possible zip bomb")


def check_model_config(config: dict) -> None:
    """Refuse (ValueError) a model config that would make Keras run or fetch code.

    Walks the whole JSON tree (nested sub-models included) before Keras builds anything: a
    ``Lambda`` layer or a serialized Python lambda, a class or function from a module outside
    Keras (custom code cnnviz does not have and will not import), and the layers listed in
    ``_REFUSED_LAYERS`` are refused, naming the layer.
    """
    top = config.get("class_name")
    if top not in _KERAS_MODEL_CLASSES:
        raise ValueError(f"the file holds a {top!r}, not a Keras Sequential or Functional model")
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        cls = node.get("class_name")
        if not isinstance(cls, str):
            continue
        inner = node.get("config")
        layer = inner.get("name") if isinstance(inner, dict) else None
        named = f" ('{layer}')" if isinstance(layer, str) else ""
        if cls in ("Lambda", "__lambda__"):
            raise ValueError(f"this model contains a Lambda layer{named}, whose Python code cnnviz "
                             f"will not run (it could do anything on this computer). {_LAMBDA_ADVICE}")
        if cls in _REFUSED_LAYERS:
            raise ValueError(f"this model contains a {cls} layer{named}, which {_REFUSED_LAYERS[cls]}; "
                             "cnnviz does not load it")
        module = node.get("module")
        if module is not None and module != "builtins" and not (
                isinstance(module, str) and (module == "keras" or module.startswith("keras."))):
            raise ValueError(
                f"this model uses {cls!r}{named} from {module!r}, which is not part of Keras; cnnviz "
                "loads only models built from Keras' own layers and runs no code from the file"
            )


def _load_checked_bytes(data: bytes):
    """Keras' own loader on a private copy of the bytes that were checked."""
    import keras

    # Keras reads only from a path ending in ".keras"; the folder is private to this process
    # (mkdtemp makes it 0700) and removed afterwards, and it holds exactly the bytes checked above.
    with tempfile.TemporaryDirectory(prefix="cnnviz-model-") as folder:
        path = os.path.join(folder, "model.keras")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            # A global ``enable_unsafe_deserialization()`` elsewhere in the process must not switch
            # safe mode off while an uploaded file loads.
            with safe_mode_scope():
                return keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:  # Keras raises ValueError, TypeError, KeyError, OSError...
            if "lambda" in str(exc).lower():
                raise ValueError("this model contains a Lambda layer, whose Python code cnnviz will not "
                                 f"run (it could do anything on this computer). {_LAMBDA_ADVICE}") from None
            raise ValueError(f"Keras could not load this file ({type(exc).__name__}: {short_error(exc)}); "
                             "it may be damaged or saved by an incompatible Keras version") from None
