"""Bring your own model and images: the two upload panels.

``ModelUpload`` and ``ImageUpload`` put the checks of ``loading.model_files`` and
``loading.images`` behind two upload buttons; every refusal becomes a message for the student and
leaves the state as it was.
"""
from __future__ import annotations

import datetime as dt
import html

import ipywidgets as widgets
import numpy as np

from .. import colours
from ..loading.images import MAX_IMAGE_FILE_BYTES, load_images
from ..loading.model_files import MAX_MODEL_BYTES, format_mib, load_model_file, short_error
from ..state import PREPROCESSORS, UNKNOWN
from .base import StateWidget


def _say(message: str, error: bool = False) -> str:
    color = colours.WRONG if error else colours.RIGHT
    text = html.escape(message).replace("\n", "<br>")
    return f"<div style='color:{color}'>{'⚠ ' if error else ''}{text}</div>"


#: The date given to files once read: no file a browser delivers carries it.
_READ = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _read_files(upload: widgets.FileUpload, handle) -> None:
    """Hand the files just delivered to ``upload`` to ``handle`` (a list of (name, bytes)), once.

    Afterwards the button keeps the files' names but not their bytes, so it still counts what was
    uploaded ("Upload images (2)", never "(0)" after an upload) without holding the data. Their
    date is set to ``_READ``, so the same file chosen again is new to the button and is read again.
    """
    files = list(upload.value)
    if not files or all(f.get("last_modified") == _READ for f in files):
        return
    try:
        handle([(f.get("name", ""), f.get("content", b"")) for f in files])
    finally:
        upload.value = tuple({**f, "content": memoryview(b""), "size": 0, "last_modified": _READ}
                             for f in files)


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
        _read_files(self.upload, self.add_files)

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
            self._report(f"no images were added: {short_error(exc)}" if not isinstance(exc, ValueError)
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
        hint = widgets.HTML(f"<div class='cnnviz-note'>A .keras file up to {format_mib(max_bytes)}. Set the "
                            "class names and the pixel scaling the model was trained with before you "
                            "upload.</div>")
        self.children = [hint, self.names_text, widgets.HBox([self.preprocess, self.upload]),
                         self.reset_button, self.message]
        self.upload.observe(self._on_upload, names="value")
        self.reset_button.on_click(self._on_reset)

    def _on_upload(self, change):
        _read_files(self.upload, lambda files: self.load_bytes(
            files[0][1], self.names_text.value, self.preprocess.value, name=files[0][0]))

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
        text = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {short_error(exc)}"
        self._report(f"{what} was not loaded: {text}", error=True)

    def reset_to_default(self) -> bool:
        """Go back to the shipped CIFAR-10 model (images resized back when needed); never raises."""
        try:
            self._report(self.state.restore_shipped_model(), error=False)
        except Exception as exc:  # Keep whatever model is there.
            self._report(f"the default model was not loaded: {short_error(exc)}", error=True)
            return False
        self.preprocess.value = "[0, 1]"
        return True

    def _use_model(self, model, names, preprocess):
        self._report(self.state.use_model(model, class_names=names, preprocess=preprocess), error=False)

    def _report(self, text: str, error: bool):
        self.message.value = _say(text, error)
        self.state.status = f"⚠ ModelUpload: {text}" if error else text


def _parse_names(text: str):
    """"cat, dog" → ["cat", "dog"]; empty → None."""
    names = [n.strip() for n in (text or "").split(",")]
    names = [n for n in names if n]
    return names or None
