"""Bring your own model and images: safe loading of a ``.keras`` file and of uploaded pictures.

``load_model_file`` is the one way cnnviz opens a model file. It never runs code from the file:
before Keras sees the archive, the zip is checked (size, member names, decompression bombs) and
its ``config.json`` is read as plain JSON and refused when it names a ``Lambda`` layer, a class
from outside Keras, or a layer that reaches outside the file; Keras then loads it in safe mode,
without compiling. The widgets ``ModelUpload`` and ``ImageUpload`` put these checks behind two
upload buttons; every refusal becomes a message for the student and leaves the state as it was.
"""
from __future__ import annotations

import contextlib
import html
import io
import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import ipywidgets as widgets
import numpy as np

from . import compute
from .base import StateWidget
from .data import CIFAR10_CLASSES, load_image
from .state import PREPROCESSORS, UNKNOWN

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
#: Largest single image file accepted by the image upload.
MAX_IMAGE_FILE_BYTES = 32 * 2**20
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


def _mib(n: int) -> str:
    """A byte count for people: "512 bytes", "3.4 KB", "200.0 MB"."""
    if n < 2**10:
        return f"{n} bytes"
    if n < 2**20:
        return f"{n / 2**10:.1f} KB"
    return f"{n / 2**20:.1f} MB"


def _short(exc: BaseException) -> str:
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
        raise ValueError(f"the dashboard cannot show this model: {_short(exc)}") from None
    except Exception as exc:  # Keras can fail in many ways on an unusual graph.
        raise ValueError(f"the dashboard cannot show this model ({type(exc).__name__}: {_short(exc)})") from None
    return model


def _read_source(source, max_bytes: int):
    """The file's bytes (at most ``max_bytes``) and its suffix ("" for bytes)."""
    too_big = ("the model file is {size}, more than the limit of " + _mib(max_bytes)
               + "; cnnviz is for small image classifiers")
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, suffix = bytes(source), ""
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"there is no model file at {path}")
        size = path.stat().st_size
        if size > max_bytes:
            raise ValueError(too_big.format(size=_mib(size)))
        data, suffix = path.read_bytes(), path.suffix.lower()
    elif hasattr(source, "read"):
        data, suffix = source.read(max_bytes + 1), ""
        if not isinstance(data, (bytes, bytearray)):
            raise ValueError("the file object must be opened in binary mode ('rb')")
        data = bytes(data)
    else:
        raise ValueError(f"expected the path or the bytes of a .keras file, not {type(source).__name__}")
    if len(data) > max_bytes:
        raise ValueError(too_big.format(size=_mib(len(data))))
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
                raise ValueError(f"the archive would unpack to {_mib(total)}, more than the limit of "
                                 f"{_mib(max_unpacked_bytes)}; refusing it as a possible zip bomb")
            names = {info.filename for info in members}
            if "config.json" not in names:
                raise ValueError(not_keras + "; this zip has no config.json")
            info = archive.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                raise ValueError(f"the model's config.json is {_mib(info.file_size)}; that is no model "
                                 "architecture cnnviz can show")
            with archive.open(info) as f:
                raw = f.read(MAX_CONFIG_BYTES + 1)
    except ValueError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError,
            KeyError) as exc:
        raise ValueError(f"the .keras file is damaged ({_short(exc)}); save the model again") from None
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"the model's config.json is not valid JSON ({_short(exc)}); "
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
        raise ValueError(f"the archive member {name!r} would unpack to {_mib(info.file_size)} from "
                         f"{_mib(info.compress_size)}; refusing it as a possible zip bomb")


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


def _safe_mode_scope():
    """Keras' safe-mode scope, so a global ``enable_unsafe_deserialization()`` elsewhere in the
    process cannot switch safe mode off while cnnviz loads an uploaded file."""
    try:
        from keras.src.saving.serialization_lib import SafeModeScope
    except ImportError:  # A future Keras may move it; the config check above still applies.
        return contextlib.nullcontext()
    return SafeModeScope(True)


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
            with _safe_mode_scope():
                return keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:  # Keras raises ValueError, TypeError, KeyError, OSError...
            if "lambda" in str(exc).lower():
                raise ValueError("this model contains a Lambda layer, whose Python code cnnviz will not "
                                 f"run (it could do anything on this computer). {_LAMBDA_ADVICE}") from None
            raise ValueError(f"Keras could not load this file ({type(exc).__name__}: {_short(exc)}); "
                             "it may be damaged or saved by an incompatible Keras version") from None


# ----- loading images ----------------------------------------------------------------------------

def load_images(files, size=(32, 32), channels: int = 3, max_file_bytes: int = MAX_IMAGE_FILE_BYTES):
    """Decode many image files at once; a bad file is reported, not fatal.

    Parameters
    ----------
    files : iterable of (name, bytes)
        E.g. the uploads of a ``FileUpload``.
    size : (height, width)
        The model's input size.
    channels : {1, 3}

    Returns
    -------
    images : uint8 array (n, height, width, channels), the files that decoded, in order
    errors : list of str, "name: reason" for every file that did not

    Raises
    ------
    ValueError
        When no file decoded (the message lists every file's reason).

    >>> images, errors = load_images([("cat.png", png_bytes), ("notes.txt", b"hi")])  # doctest: +SKIP
    >>> images.shape, errors                                                            # doctest: +SKIP
    ((1, 32, 32, 3), ['notes.txt: this file is not an image Pillow can read (...)'])
    """
    decoded, errors = [], []
    count = 0
    for name, data in files:
        count += 1
        name = str(name) or f"file {count}"
        try:
            if len(data) > max_file_bytes:
                raise ValueError(f"the file is {_mib(len(data))}, more than the limit of {_mib(max_file_bytes)}")
            decoded.append(load_image(bytes(data), size=size, channels=channels))
        except Exception as exc:  # One unreadable file must not lose the others.
            errors.append(f"{name}: {_short(exc)}")
    if count == 0:
        raise ValueError("no files were given")
    if not decoded:
        raise ValueError(f"none of the {count} file(s) is an image cnnviz can read: " + "; ".join(errors))
    return np.stack(decoded).astype(np.uint8), errors


def resize_images(images, size, channels: int) -> np.ndarray:
    """Resize uint8 images (N, H, W, C) to (N, height, width, channels) with Pillow.

    Three channels become one by Pillow's luminance ("L"); one becomes three by repetition.
    """
    from PIL import Image

    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    height, width = int(size[0]), int(size[1])
    if images.shape[1:] == (height, width, channels):
        return images
    out = np.empty((len(images), height, width, channels), dtype=np.uint8)
    for i, image in enumerate(images):
        pil = Image.fromarray(image[..., 0], "L") if image.shape[-1] == 1 else Image.fromarray(image, "RGB")
        pil = pil.convert("L" if channels == 1 else "RGB")
        if pil.size != (width, height):
            pil = pil.resize((width, height), Image.Resampling.BICUBIC)
        out[i] = np.asarray(pil, dtype=np.uint8).reshape(height, width, channels)
    return out


def _say(message: str, error: bool = False) -> str:
    color = "#b71c1c" if error else "#2e7d32"
    text = html.escape(message).replace("\n", "<br>")
    return f"<div style='color:{color}'>{'⚠ ' if error else ''}{text}</div>"


# ----- widgets -----------------------------------------------------------------------------------

class ImageUpload(StateWidget):
    """Upload pictures; they are resized to the model's input and join the images (or, with
    "add to current images" unticked, replace them; the image picker's "back" button restores
    the images it started with).

    The first new image is selected. Files that cannot be read are listed in ``message`` and in
    ``state.status``; when none can be read, the state keeps its images and selection.

    >>> upload = ImageUpload(state)                          # doctest: +SKIP
    >>> upload.add_files([("cat.jpg", open("cat.jpg", "rb").read())])   # doctest: +SKIP
    1
    """

    def __init__(self, state, max_file_bytes: int = MAX_IMAGE_FILE_BYTES, **kwargs):
        super().__init__(state, **kwargs)
        self.max_file_bytes = max_file_bytes
        self.upload = widgets.FileUpload(accept="image/*", multiple=True, description="Upload images",
                                         tooltip="Choose one or more pictures (PNG, JPEG, GIF…)")
        # Adding is the default: replacing would put the labelled test images out of reach of
        # the exercises until the student goes back to them.
        self.append = widgets.Checkbox(value=True, description="add to current images", indent=False,
                                       layout=widgets.Layout(width="auto"))
        self.message = widgets.HTML()
        self.children = [widgets.HBox([self.upload, self.append]), self.message]
        self.upload.observe(self._on_upload, names="value")

    def _on_upload(self, change):
        files = [(f.get("name", ""), f.get("content", b"")) for f in change["new"]]
        if not files:
            return
        try:
            self.add_files(files)
        finally:
            # Clearing the upload lets the student upload the same file again after a change.
            self.upload.value = ()

    def add_files(self, files, append: bool | None = None) -> int:
        """Decode ``files`` (list of (name, bytes)) at the model's input size and show them.

        ``append`` (default: the checkbox) adds them after the current images, otherwise they
        replace them. Returns how many images were added (0 when none could be read); never raises.
        """
        append = self.append.value if append is None else bool(append)
        try:
            h, w, c = self.state.inspector.input_shape
            images, errors = load_images(files, (h, w), c, self.max_file_bytes)
            if append:
                first = len(self.state.images)
                # The current images keep their classes; uploaded pictures have none.
                labels = self.state.labels
                if labels is not None:
                    labels = np.concatenate([labels, np.full(len(images), UNKNOWN, dtype=labels.dtype)])
                self.state.set_images(np.concatenate([self.state.images, images]), labels=labels)
            else:
                first = 0
                self.state.set_images(images, labels=None)
            self.state.index = first
        except Exception as exc:  # The student sees why; the state keeps its images.
            self._report(f"no images were added: {_short(exc)}" if not isinstance(exc, ValueError)
                         else str(exc), error=True)
            return 0
        n = len(images)
        text = f"Loaded {n} image{'s' if n != 1 else ''} at {h}×{w}"
        text += " (added to the current images)" if append else ""
        if errors:
            text += f"; {len(errors)} file{'s' if len(errors) != 1 else ''} skipped: " + "; ".join(errors)
        self._report(text, error=False, warn=bool(errors))
        return n

    def _report(self, text: str, error: bool, warn: bool = False):
        self.message.value = _say(text, error or warn)
        self.state.status = f"⚠ ImageUpload: {text}" if error or warn else text


class ModelUpload(StateWidget):
    """Upload a ``.keras`` image classifier; it replaces the model after ``load_model_file``'s checks.

    The class names box is optional (comma-separated); left empty, the current names are kept
    when the class count matches, else the classes are called "class 0" … "class N-1". When the
    new model takes another input size, the current images are resized (and made grey for a
    one-channel model) so the same pictures can be inspected. A refused file leaves the model,
    images and selections as they were, with the reason in ``message`` and ``state.status``.

    >>> upload = ModelUpload(state)                                   # doctest: +SKIP
    >>> upload.load_bytes(open("mine.keras", "rb").read(), "cat, dog")   # doctest: +SKIP
    True
    """

    def __init__(self, state, max_bytes: int = MAX_MODEL_BYTES, **kwargs):
        super().__init__(state, **kwargs)
        self.max_bytes = max_bytes
        self.upload = widgets.FileUpload(accept=".keras", multiple=False, description="Upload .keras",
                                         tooltip="Choose a .keras image classifier; nothing in it is run")
        self.names_text = widgets.Text(value="", description="Class names", style={"description_width": "initial"},
                                       placeholder="optional: cat, dog, … (comma-separated)",
                                       layout=widgets.Layout(width="100%", max_width="520px"))
        current = state.preprocess_name if state.preprocess_name in PREPROCESSORS else "[0, 1]"
        self.preprocess = widgets.Dropdown(options=list(PREPROCESSORS), value=current,
                                           description="Pixels to", layout=widgets.Layout(width="220px"))
        self.reset_button = widgets.Button(description="Restore the shipped model", icon="undo",
                                           tooltip="Go back to the trained CIFAR-10 model that comes "
                                                   "with cnnviz; the images stay as they are",
                                           layout=widgets.Layout(width="max-content"))
        self.message = widgets.HTML()
        hint = widgets.HTML(f"<div class='cnnviz-note'>A .keras file up to {_mib(max_bytes)}. Set the "
                            "class names and the pixel scaling the model was trained with before you "
                            "upload.</div>")
        self.children = [hint, self.names_text, widgets.HBox([self.preprocess, self.upload]),
                         self.reset_button, self.message]
        # The images as they were before any resize, so that going back to a 32×32 colour model
        # after a 28×28 grey one shows the original pictures, not a blurred grey copy.
        self._originals = None
        self.upload.observe(self._on_upload, names="value")
        self.reset_button.on_click(self._on_reset)

    def _on_upload(self, change):
        files = list(change["new"])
        if not files:
            return
        try:
            f = files[0]
            self.load_bytes(f.get("content", b""), self.names_text.value, self.preprocess.value,
                            name=f.get("name"))
        finally:
            self.upload.value = ()

    def _on_reset(self, button=None):
        self.reset_to_default()

    def load_bytes(self, data, class_names_text: str = "", preprocess: str = "[0, 1]", name=None) -> bool:
        """Load the bytes of a ``.keras`` file and make it the state's model.

        Returns True when the model was replaced; False (with the reason in ``message`` and
        ``state.status``) when it was refused. Never raises.
        """
        what = f"'{name}'" if name else "the file"
        self.message.value = _say(f"Checking {what}…")
        try:
            model = load_model_file(data, max_bytes=self.max_bytes)
        except Exception as exc:  # The previous model stays; the student sees why.
            self._refused(what, exc)
            return False
        return self.use_model(model, class_names_text, preprocess)

    def use_model(self, model, class_names_text: str = "", preprocess: str = "[0, 1]") -> bool:
        """Make an in-memory Keras model the state's model, as an upload does (class names,
        preprocessing, images resized to its input). Returns False, with the reason shown, when the
        state refuses it; never raises."""
        try:
            self._use_model(model, _parse_names(class_names_text), preprocess)
        except Exception as exc:  # The previous model stays; the student sees why.
            self._refused(f"the model '{getattr(model, 'name', model)}'", exc)
            return False
        return True

    def _refused(self, what: str, exc: Exception):
        text = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {_short(exc)}"
        self._report(f"{what} was not loaded: {text}", error=True)

    def reset_to_default(self) -> bool:
        """Go back to the shipped CIFAR-10 model (images resized back when needed); never raises."""
        from .model import load_default_model

        try:
            self._use_model(load_default_model(), list(CIFAR10_CLASSES), "[0, 1]")
        except Exception as exc:  # Keep whatever model is there.
            self._report(f"the default model was not loaded: {_short(exc)}", error=True)
            return False
        self.preprocess.value = "[0, 1]"
        return True

    def _use_model(self, model, names, preprocess):
        state = self.state
        if self._originals is None or state.images is not self._originals["shown"]:
            self._originals = {"images": state.images, "labels": state.labels,
                               "class_names": tuple(state.class_names), "shown": None}
        source = self._originals
        h, w, c = compute.Inspector.for_model(model).input_shape
        k = int(model.outputs[0].shape[-1])
        if names is None:
            names = tuple(state.class_names) if len(state.class_names) == k else None
        # Labels are indices into the class names, so they stay only when the names stay.
        keep_labels = names is not None and tuple(names) == source["class_names"]
        labels = source["labels"] if keep_labels else None
        images = resize_images(source["images"], (h, w), c)
        state.set_model(model, class_names=names, preprocess=preprocess, images=images, labels=labels)
        source["shown"] = state.images
        old = source["images"].shape[1:]
        text = f"Loaded model '{model.name}' with {k} classes (input {h}×{w}×{c})"
        if old != (h, w, c):
            text += f"; the images were resized from {old[0]}×{old[1]}×{old[2]} to {h}×{w}×{c}"
        if source["labels"] is not None and labels is None:
            text += "; the true classes are not shown because the class names changed"
        self._report(text, error=False)

    def _report(self, text: str, error: bool):
        self.message.value = _say(text, error)
        self.state.status = f"⚠ ModelUpload: {text}" if error else text


def _parse_names(text: str):
    """"cat, dog" → ["cat", "dog"]; empty → None."""
    names = [n.strip() for n in (text or "").split(",")]
    names = [n for n in names if n]
    return names or None
