"""ModelState: the one object every widget observes.

Three tiers of traits (see the class docstring): *sources* (model, images, labels, class names,
preprocessing), *selections* (image index, layer, class, comparison images) and *derived*
read-only traits that only the state sets (the inspection of the current image, the layer table).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import traitlets

from . import compute, render
from .cache import Cache
from .compat import set_by_identity

#: Preprocessing choices by name: uint8 images to the model's float input.
PREPROCESSORS = {
    "[0, 1]": compute.scale_images,
    "[-1, 1]": lambda a: np.asarray(a, dtype=np.float32) / 127.5 - 1.0,
    "none": lambda a: np.asarray(a, dtype=np.float32),
}
#: The guide's section 9 compares a cat, a dog, a ship, a plane and a truck.
COMPARE_CLASSES = ("cat", "dog", "ship", "airplane", "truck")
#: The label of an image whose class is not known (a student's own picture added to CIFAR-10).
UNKNOWN = -1


class Source(traitlets.Any):
    """A trait holding a model or an array: a new object always notifies, and old and new are
    compared by identity. traitlets' own ``old == new`` would compare a 10,000-image array
    element by element (half a second against ``None``) only to find the result ambiguous."""

    def set(self, obj, value):
        set_by_identity(self, obj, value)


@dataclass(frozen=True, eq=False)
class Inspection:
    """Everything computed for one image, once.

    index : position of the image in the state's image set
    image : uint8 (H, W, C), as shown to the student
    x : float32 (H, W, C), as fed to the model
    outputs : {layer name: ndarray} every layer's output (no batch axis)
    probabilities : float32 (K,) summing to 1
    predicted : int, the argmax of ``probabilities``
    label : int or None, the true class when known
    logits : float32 (K,), the final scores before softmax
    """

    index: int
    image: np.ndarray
    x: np.ndarray
    outputs: dict
    probabilities: np.ndarray
    predicted: int
    label: int | None
    logits: np.ndarray | None = None
    _stats: dict = field(default_factory=dict, repr=False)

    @property
    def correct(self) -> bool | None:
        return None if self.label is None else self.label == self.predicted

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.predicted])

    def stats(self, layer: str) -> dict:
        """``compute.layer_stats`` of one layer's output, computed once."""
        if layer not in self._stats:
            self._stats[layer] = compute.layer_stats(self.outputs[layer])
        return self._stats[layer]


class ModelState(traitlets.HasTraits):
    """The model, the images and what the student selected, shared by every widget.

    *Sources* change only through ``set_model`` and ``set_images``, which validate first and leave
    the state as it was when they refuse. *Selections* (``index``, ``layer``, ``class_index``,
    ``compare``) are written by controls and validated. *Derived* traits (``inspection``,
    ``layers``, ``version``) are read-only and set by the state itself; widgets observe them.

    One change of ``index`` costs one forward pass, however many widgets observe it; a change of
    ``layer`` costs none. Every result computed from the model and the images (inspections,
    Grad-CAMs, the predictions of the whole set, per-layer channel means, gradient-ascent images)
    lives in one bounded ``Cache`` (``cache``), cleared whenever the model, the images or the
    preprocessing change, so a replaced model is not kept alive by anything computed from it.

    >>> state = ModelState.from_default()          # doctest: +SKIP
    >>> state.index = 7                             # doctest: +SKIP
    >>> state.inspection.predicted                  # doctest: +SKIP
    6
    """

    # Sources.
    model = Source(read_only=True, help="The Keras image classifier.")
    images = Source(read_only=True, help="uint8 images (N, H, W, C) shown to the student.")
    labels = Source(None, read_only=True, allow_none=True,
                    help="True classes (N,), UNKNOWN (-1) where an image's class is not known, or None.")
    class_names = traitlets.Tuple(read_only=True, help="One name per class of the model.")
    preprocess_name = traitlets.Unicode("[0, 1]", read_only=True,
                                        help="Name of the preprocessing (a key of PREPROCESSORS or 'custom').")
    # Selections.
    index = traitlets.Int(0, help="Index of the selected image in `images`.")
    layer = traitlets.Unicode("", help="Keras name of the selected layer.")
    class_index = traitlets.Int(None, allow_none=True,
                                help="Class for Grad-CAM; None means the predicted class. Chosen for one "
                                     "image: a new image goes back to its predicted class.")
    compare = traitlets.Tuple(help="Indices of the images compared side by side.")
    colour_scheme = traitlets.Enum(tuple(render.COLOUR_SCHEMES), default_value="standard",
                                   help="The colour maps every panel draws with (render.COLOUR_SCHEMES).")
    # Derived.
    version = traitlets.Int(0, read_only=True, help="Bumped whenever the model or the images change.")
    layers = traitlets.Tuple(read_only=True, help="LayerInfo of every layer, in execution order.")
    inspection = traitlets.Instance(Inspection, allow_none=True, read_only=True,
                                    help="Everything computed for the selected image.")
    status = traitlets.Unicode("", help="The last message for the student (errors, progress).")
    training_run = traitlets.Dict(help="The last training run made in the dashboard, epoch by epoch: "
                                  "{epoch: (loader, test accuracy or None)}, a loader returning a new "
                                  "model with that epoch's weights; empty until a run ends (TrainPanel).")

    def __init__(self, model, images, labels=None, class_names=None, preprocess=None, **kwargs):
        super().__init__()
        #: Everything computed from the current model and images (see ``cache.Cache``).
        self.cache = Cache()
        self._preprocess = PREPROCESSORS["[0, 1]"]
        # The images shown after ``use_model`` resized them, and the originals they came from.
        self._resized = (None, None)
        self._apply(*self._check(model, images, labels, class_names, preprocess))
        for name, value in kwargs.items():
            setattr(self, name, value)

    # ----- construction -------------------------------------------------------------------------
    @classmethod
    def from_default(cls, data_dir=None, split: str = "test", **kwargs) -> ModelState:
        """The shipped CIFAR-10 model with the CIFAR-10 images of ``split``."""
        from .loading.cifar10 import load_cifar10
        from .loading.shipped_model import load_default_model

        images, labels, names = load_cifar10(split, data_dir)
        return cls(load_default_model(), images, labels, names, **kwargs)

    def set_model(self, model, class_names=None, preprocess=None, images=None, labels=None):
        """Replace the model (and optionally the images) after checking that they work together.

        Raises ValueError with the reason and leaves the state unchanged when they do not.
        """
        if images is None:
            images, labels = self.images, self.labels if labels is None else labels
            if class_names is None and self._num_classes(model) == len(self.class_names):
                class_names = self.class_names
        if preprocess is None:
            preprocess = self.preprocess_name if self.preprocess_name != "custom" else self._preprocess
        self._apply(*self._check(model, images, labels, class_names, preprocess))

    def input_range(self) -> tuple:
        """``(low, high)`` of the model's input: the preprocessing applied to a black and a white
        pixel, ``(0.0, 1.0)`` when it maps both to one value (``compute.preprocess_range``)."""
        return compute.preprocess_range(self.preprocess, self.inspector.input_shape[2])

    def restore_shipped_model(self) -> str:
        """Go back to the shipped CIFAR-10 model, its class names and preprocessing, showing the
        pictures at its input size again (``use_model``); the message ``use_model`` returns.

        Raises what loading or ``use_model`` raises, with the state unchanged.
        """
        from .loading.cifar10 import CIFAR10_CLASSES
        from .loading.shipped_model import load_default_model

        return self.use_model(load_default_model(), class_names=list(CIFAR10_CLASSES), preprocess="[0, 1]")

    def use_model(self, model, class_names=None, preprocess=None) -> str:
        """Make ``model`` the state's model, showing the same pictures at its input size.

        The images as they were before any resize are resized to the model's input (and made grey
        for a one-channel model), so going back to a 32×32 colour model after a 28×28 grey one
        shows the original pictures again, not a blurred grey copy. Class names: those given,
        else the current ones when the class count matches, else "class 0" … "class N-1"; the true
        classes stay only when the names are those of the original images. Returns a sentence
        saying what changed; raises ValueError, leaving the state unchanged, when the model is
        refused.
        """
        from .loading.images import resize_images

        shown, originals = self._resized
        if shown is not self.images:  # the images changed since the last resize: they are the originals
            originals = (self.images, self.labels, tuple(self.class_names))
        images, labels, names = originals
        h, w, c = compute.Inspector.for_model(model).input_shape
        k = self._num_classes(model)
        if class_names is None:
            class_names = tuple(self.class_names) if len(self.class_names) == k else None
        # Labels are indices into the class names, so they stay only when the names stay.
        keep_labels = class_names is not None and tuple(class_names) == names
        self.set_model(model, class_names=class_names, preprocess=preprocess,
                       images=resize_images(images, (h, w), c), labels=labels if keep_labels else None)
        self._resized = (self.images, originals)
        old = images.shape[1:]
        text = f"Loaded model '{model.name}' with {k} classes (input {h}×{w}×{c})"
        if old != (h, w, c):
            text += f"; the images were resized from {old[0]}×{old[1]}×{old[2]} to {h}×{w}×{c}"
        if labels is not None and not keep_labels:
            text += "; the true classes are not shown because the class names changed"
        return text

    def set_images(self, images, labels=None, class_names=None):
        """Replace the images (uint8 (N, H, W, C) matching the model's input) and their labels."""
        names = class_names if class_names is not None else self.class_names
        preprocess = self.preprocess_name if self.preprocess_name != "custom" else self._preprocess
        self._apply(*self._check(self.model, images, labels, names, preprocess))

    def set_preprocess(self, preprocess):
        """Change the preprocessing: "[0, 1]", "[-1, 1]", "none" or a callable on uint8 arrays."""
        self._apply(*self._check(self.model, self.images, self.labels, self.class_names, preprocess))

    @staticmethod
    def _num_classes(model) -> int:
        return int(model.outputs[0].shape[-1])

    def _check(self, model, images, labels, class_names, preprocess):
        """Validate a full set of sources; return them normalised. Changes nothing."""
        compute.check_image_model(model)
        inspector = compute.Inspector.for_model(model)
        h, w, c = inspector.input_shape
        images = np.asarray(images)
        if images.ndim == 3 and c == 1:
            images = images[..., None]
        if images.ndim != 4 or len(images) == 0:
            raise ValueError(f"images must be a non-empty array (N, H, W, C); got shape {images.shape}")
        if images.shape[1:] != (h, w, c):
            raise ValueError(
                f"the model expects {h}×{w}×{c} images but these are "
                f"{images.shape[1]}×{images.shape[2]}×{images.shape[3]}; resize them "
                "(cnnviz_widgets.load_image does) or load a matching model"
            )
        if images.dtype != np.uint8:
            if np.issubdtype(images.dtype, np.floating) and images.size and images.max() <= 1.0 and images.min() >= 0.0:
                images = (images * 255.0 + 0.5).astype(np.uint8)
            elif images.size and images.min() >= 0 and images.max() <= 255:
                images = images.astype(np.uint8)
            else:
                raise ValueError("images must be uint8 in 0..255 (or floats in [0, 1])")
        k = inspector.num_classes
        if labels is not None:
            labels = np.asarray(labels).astype(np.int64).reshape(-1)
            if len(labels) != len(images):
                raise ValueError(f"{len(labels)} labels for {len(images)} images")
            if len(labels) and (labels.min() < UNKNOWN or labels.max() >= k):
                raise ValueError(f"labels must be class indices 0..{k - 1} (or {UNKNOWN} for an image "
                                 f"of unknown class); found {labels.min()}..{labels.max()}")
            if not (labels >= 0).any():
                labels = None  # no image has a known class: the same as no labels
        if class_names is None or len(class_names) == 0:
            class_names = [f"class {i}" for i in range(k)]
        class_names = tuple(str(n) for n in class_names)
        if len(class_names) != k:
            raise ValueError(f"the model has {k} classes but {len(class_names)} class names were given")
        if preprocess is None:
            name, fn = "[0, 1]", PREPROCESSORS["[0, 1]"]
        elif isinstance(preprocess, str):
            if preprocess not in PREPROCESSORS:
                raise ValueError(f"preprocessing {preprocess!r} not known; choose one of: "
                                 f"{', '.join(PREPROCESSORS)}")
            name, fn = preprocess, PREPROCESSORS[preprocess]
        elif callable(preprocess):
            name, fn = "custom", preprocess
        else:
            raise ValueError("preprocess must be a name or a callable")
        # A real forward pass on the first image proves the combination works before anything
        # changes (it also builds the model's tf.function, so the first widget render is quick).
        x = np.asarray(fn(images[:1]), dtype=np.float32)
        if x.shape != (1, h, w, c):
            raise ValueError(f"preprocessing returned shape {x.shape[1:]}, expected {(h, w, c)}")
        inspector.run(x[0])
        return model, inspector, images, labels, class_names, name, fn

    def _apply(self, model, inspector, images, labels, class_names, name, fn):
        old_layer = self.layer
        with self.hold_trait_notifications():
            self._preprocess = fn
            self.set_trait("model", model)
            self.set_trait("images", images)
            self.set_trait("labels", labels)
            self.set_trait("class_names", class_names)
            self.set_trait("preprocess_name", name)
            # Cleared after the sources changed: a background job reads the cache's generation
            # before the sources (``_cached``), so whatever it computed from the old ones is
            # never stored.
            self.cache.clear()
            self.set_trait("layers", inspector.layers)
            self.set_trait("version", self.version + 1)
            if self.index >= len(images):
                self.index = 0
            if old_layer not in {i.name for i in inspector.layers}:
                self.layer = self.default_layer()
            if self.class_index is not None and self.class_index >= len(class_names):
                self.class_index = None
            self.compare = self.default_compare()
            # Set inside the hold, so that every observer of any changed trait already reads the
            # new model's inspection (notifications are delivered when the hold ends).
            self._update_inspection()

    # ----- selections -------------------------------------------------------------------------
    @traitlets.validate("index")
    def _validate_index(self, proposal):
        i = proposal["value"]
        n = 0 if self.images is None else len(self.images)
        if not 0 <= i < n:
            raise traitlets.TraitError(f"image index {i} is out of range 0..{n - 1}")
        return i

    @traitlets.validate("layer")
    def _validate_layer(self, proposal):
        name = proposal["value"]
        names = [i.name for i in self.layers]
        if names and name not in names:
            raise traitlets.TraitError(f"layer {name!r} not found; layers are: {', '.join(names)}")
        return name

    @traitlets.validate("class_index")
    def _validate_class_index(self, proposal):
        c = proposal["value"]
        if c is not None and not 0 <= c < len(self.class_names):
            raise traitlets.TraitError(f"class index {c} is out of range 0..{len(self.class_names) - 1}")
        return c

    @traitlets.validate("compare")
    def _validate_compare(self, proposal):
        n = len(self.images)
        bad = [i for i in proposal["value"] if not isinstance(i, (int, np.integer)) or not 0 <= i < n]
        if bad:
            raise traitlets.TraitError(f"comparison indices {bad} are out of range 0..{n - 1}")
        return tuple(int(i) for i in proposal["value"])

    @traitlets.observe("index")
    def _on_index(self, change):
        # A class chosen for Grad-CAM belongs to the image it was chosen for: "dog" stays a
        # question about that dog picture, and the next image is explained by its own prediction.
        with self.hold_trait_notifications():
            if self.class_index is not None:
                self.class_index = None
            self._update_inspection()

    def default_layer(self) -> str:
        """The first conv stage, else the first layer with a spatial output, else the first layer.

        The page opens where its first exercise starts: the first stage's maps still look like the
        picture, and its filters are the 3×3 colour patches a student can read."""
        stages = compute.conv_stages(self.model)
        if stages:
            return stages[0]
        spatial = [i.name for i in self.layers if i.spatial]
        return spatial[0] if spatial else self.layers[0].name

    def default_compare(self, count: int = 5) -> tuple:
        """The guide's five images (a cat, a dog, a ship, a plane, a truck) when those classes
        exist and are labelled, else the first ``count`` images."""
        n = len(self.images)
        if self.labels is not None and all(c in self.class_names for c in COMPARE_CLASSES):
            picks = []
            for name in COMPARE_CLASSES[:count]:
                hits = np.flatnonzero(self.labels == self.class_names.index(name))
                if len(hits):
                    picks.append(int(hits[0]))
            if len(picks) == min(count, len(COMPARE_CLASSES)):
                return tuple(picks)
        return tuple(range(min(count, n)))

    # ----- derived ----------------------------------------------------------------------------
    @property
    def inspector(self) -> compute.Inspector:
        return compute.Inspector.for_model(self.model)

    @property
    def preprocess(self):
        """The preprocessing function: uint8 array → float32 model input."""
        return self._preprocess

    def inspect(self, index: int) -> Inspection:
        """The inspection of image ``index``: one forward pass the first time, a look-up after."""
        index = int(index)
        if not 0 <= index < len(self.images):
            raise IndexError(f"image index {index} is out of range 0..{len(self.images) - 1}")
        return self._cached(("inspection", index), lambda model, images, preprocess: self._inspect(
            index, model, images, preprocess))

    def _cached(self, key: tuple, compute):
        """``compute(model, images, preprocess)`` once per version, from whichever thread asks.
        The cache's generation is read before the sources, so a result computed across a change
        of model or images is handed back but never stored."""
        generation = self.cache.generation
        model, images, preprocess = self.model, self.images, self._preprocess
        return self.cache.get(key, lambda: compute(model, images, preprocess), generation)

    def _inspect(self, index: int, model, images, preprocess) -> Inspection:
        image, labels, inspector = images[index], self.labels, compute.Inspector.for_model(model)
        x = np.asarray(preprocess(image[None]), dtype=np.float32)[0]
        outputs, logits = inspector.run(x)
        probs = inspector.probabilities(logits)
        label = None if labels is None or labels[index] < 0 else int(labels[index])
        return Inspection(index, image, x, outputs, probs, int(np.argmax(probs)), label, logits)

    def _update_inspection(self):
        self.set_trait("inspection", self.inspect(self.index))

    def grad_cam(self, layer: str | None = None, class_index: int | None = None, index: int | None = None):
        """Grad-CAM (H, W) in [0, 1] of image ``index`` (default: the selected one) for
        ``class_index`` (default: the selection, else the predicted class), cached."""
        index = self.index if index is None else int(index)
        insp = self.inspect(index)
        if class_index is None:
            class_index = self.class_index if self.class_index is not None else insp.predicted
        if layer is None:
            layer = compute.last_spatial_layer(self.model)
        return self._cached(("grad_cam", index, layer, int(class_index)),
                            lambda model, images, preprocess: compute.grad_cam(model, insp.x, class_index, layer))

    def predictions(self, progress=None) -> np.ndarray:
        """Probabilities (N, K) of every image, from one batched pass, computed once per version.
        Safe to call from a background job: ``progress(done, total)`` after each batch."""
        return self._cached(("predictions",), lambda model, images, preprocess: compute.predict_batches(
            model, images, preprocess, progress=progress))

    def channel_means(self, layer: str, progress=None) -> np.ndarray:
        """The mean activation of every channel of ``layer`` for every image (N, channels), from
        one batched pass (``compute.layer_channel_means``), computed once per version. Safe to
        call from a background job: ``progress(done, total)`` after each batch."""
        return self._cached(("channel_means", layer), lambda model, images, preprocess:
                            compute.layer_channel_means(model, images, layer, preprocess, progress=progress))

    def similarity_features(self, progress=None, disk=None, on_note=None) -> tuple:
        """The penultimate features (N, D) and predicted classes (N,) of every image, from one
        batched pass (``compute.similarity_features``), computed once per version: what
        nearest-neighbour queries search. ``disk``, a ``compute.MapCache``, keeps them between
        kernels too. Safe to call from a background job."""
        return self._cached(("similarity_features",), lambda model, images, preprocess:
                            compute.similarity_features(model, images, preprocess, cache=disk,
                                                        progress=progress, on_note=on_note))

    def layer_info(self, name: str) -> compute.LayerInfo:
        """LayerInfo of one layer; ValueError listing the layers when the name is unknown."""
        return self.inspector.check_layer(name)

    def caption(self, inspection: Inspection | None = None) -> str:
        """"True: frog · Predicted: frog (94.3 %)" for an inspection (default: the current one)."""
        insp = inspection or self.inspection
        pred = f"Predicted: {self.class_names[insp.predicted]} ({100 * insp.confidence:.1f} %)"
        if insp.label is None:
            return pred
        return f"True: {self.class_names[insp.label]} · {pred}"
