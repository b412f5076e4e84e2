"""Pure computations behind the teaching tools: no widget code here.

* ``maximize_activation`` — gradient ascent from noise: the input a channel likes most.
* ``top_images`` / ``layer_channel_means`` — the images of a set that excite a channel most.
* ``layer_probe`` — one tensor of a model's unrolled graph as a function of the input, built once.

Everything works on the unrolled graph of ``Inspector``, so layers inside nested sub-models are
reachable by their ``outer/inner`` names. ``x`` is float32 (H, W, C) already preprocessed,
``images`` are uint8 (N, H, W, C).
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

import numpy as np

from ..compat import input_tensor_of
from .inspection import Inspector
from .statistics import scale_images

# ----- sub-models of the unrolled graph, built once per (model, layer) ------------------------------

class _Probe:
    """One tensor of a model's unrolled graph as a function of the model's input.

    Built once per (model, layer) by ``layer_probe``; every call after that is one ``tf.function`` call.
    """

    def __init__(self, model, layer_name: str, which: str = "output"):
        import keras
        import tensorflow as tf

        inspector = Inspector.for_model(model)
        inspector.check_layer(layer_name)
        tensor = inspector.tensor(layer_name)
        if which == "input":
            tensor = input_tensor_of(tensor)
        self.identity = tensor is inspector.input_tensor
        self.shape = tuple(int(d) for d in tensor.shape[1:])
        self.input_shape = inspector.input_shape
        spec = tf.TensorSpec((None, *self.input_shape), tf.float32)
        if self.identity:
            self.model = None
            self._call = lambda b: b
        else:
            self.model = keras.Model(inspector.input_tensor, tensor)
            self._call = tf.function(lambda b: self.model(b, training=False), input_signature=[spec])
        spatial_axes = tuple(range(1, len(self.shape)))
        self._means = tf.function(
            lambda b: tf.reduce_mean(self._call(b), axis=spatial_axes) if spatial_axes else self._call(b),
            input_signature=[spec],
        )
        self._ascent = None

    def __call__(self, batch) -> np.ndarray:
        """The tensor's value for a float32 batch (N, H, W, C): (N, *shape)."""
        return np.asarray(self._call(np.asarray(batch, dtype=np.float32)))

    def channel_means(self, batch) -> np.ndarray:
        """Mean over the spatial axes of the tensor for a batch (N, H, W, C): (N, channels)."""
        return np.asarray(self._means(np.asarray(batch, dtype=np.float32)))

    def ascent_step(self):
        """The compiled step of ``maximize_activation`` (traced once; the channel is an argument)."""
        if self._ascent is None:
            self._ascent = _make_ascent_step(self.model, self.input_shape)
        return self._ascent


_probes: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_probes_lock = threading.Lock()


def layer_probe(model, layer_name: str, which: str = "output") -> _Probe:
    with _probes_lock:
        per_model = _probes.setdefault(model, {})
        probe = per_model.get((layer_name, which))
    if probe is None:
        probe = _Probe(model, layer_name, which)
        with _probes_lock:
            probe = per_model.setdefault((layer_name, which), probe)
    return probe


def channel_means(model, x, layer_name: str) -> np.ndarray:
    """The mean activation of every channel of ``layer_name`` for a batch of preprocessed inputs.

    x : float32 (N, H, W, C). Returns float32 (N, channels): the mean over the spatial axes of a
    spatial layer (h, w, channels), or the values themselves for a one-dimensional layer.
    """
    return layer_probe(model, layer_name).channel_means(x)


# ----- gradient ascent ------------------------------------------------------------------------------

def _gaussian_kernel(channels: int, sigma: float = 0.7) -> np.ndarray:
    """A 3×3 Gaussian as a depthwise kernel (3, 3, channels, 1)."""
    t = np.exp(-np.arange(-1, 2) ** 2 / (2 * sigma ** 2))
    k = np.outer(t, t)
    k /= k.sum()
    return np.repeat(k[:, :, None, None], channels, axis=2).astype(np.float32)


def _make_ascent_step(sub_model, input_shape):
    import tensorflow as tf

    h, w, c = input_shape
    blur_kernel = tf.constant(_gaussian_kernel(c))
    image = tf.TensorSpec((1, h, w, c), tf.float32)
    scalar = tf.TensorSpec((), tf.float32)

    def blur(img):
        padded = tf.pad(img, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
        return tf.nn.depthwise_conv2d(padded, blur_kernel, [1, 1, 1, 1], "VALID")

    def step(img, channel, shift, do_blur, step_size, lo, hi):
        # The shift (jitter) and its undoing keep the ascent from building a pattern that only
        # works on an exact pixel grid: a well-known source of high-frequency noise.
        shifted = tf.roll(img, shift, axis=[1, 2])
        with tf.GradientTape() as tape:
            tape.watch(shifted)
            activation = sub_model(shifted, training=False)
            score = tf.reduce_mean(tf.gather(activation, channel, axis=-1))
        grad = tape.gradient(score, shifted)
        # Normalised gradients make the step size mean the same for every layer and channel.
        grad = grad / (tf.math.reduce_std(grad) + 1e-8)
        img = tf.roll(shifted + step_size * grad, -shift, axis=[1, 2])
        img = tf.cond(do_blur, lambda: blur(img), lambda: img)
        return tf.clip_by_value(img, lo, hi), score

    return tf.function(step, input_signature=[
        image, tf.TensorSpec((), tf.int32), tf.TensorSpec((2,), tf.int32), tf.TensorSpec((), tf.bool),
        scalar, scalar, scalar,
    ])


def maximize_activation(model, layer_name: str, channel: int, steps: int = 64, seed: int = 0,
                        lr: float = 0.05, jitter: int = 2, blur_every: int = 4, progress=None,
                        value_range=(0.0, 1.0)) -> np.ndarray:
    """The input that a channel likes most, found by gradient ascent from noise.

    Starts from seeded small random noise around mid-grey and takes ``steps`` steps *up* the
    gradient of the channel's mean activation, with the usual regularisers: a random roll of up
    to ``jitter`` pixels before each step, normalised gradients (each step moves pixels by about
    ``lr`` times the width of ``value_range``), a 3×3 Gaussian blur every ``blur_every`` steps
    (0: never) and clipping to ``value_range``.

    Parameters
    ----------
    layer_name : a layer with channels last, spatial (h, w, channels) or one-dimensional (units,)
    channel : index into the layer's last axis
    value_range : (low, high) of the model's input, e.g. (0, 1) for images scaled by 1/255
    progress : ``progress(step, steps)`` after each step; it may raise to cancel

    Returns
    -------
    float32 (H, W, C), the model's input shape, within ``value_range``.

    >>> img = maximize_activation(model, "conv2_act", 5)   # doctest: +SKIP
    >>> img.shape                                          # doctest: +SKIP
    (32, 32, 3)
    """
    import tensorflow as tf

    probe = layer_probe(model, layer_name)
    _check_channel(channel, probe.shape[-1], layer_name)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise ValueError(f"value_range must be (low, high) with low < high, not {value_range}")
    step = probe.ascent_step()
    rng = np.random.default_rng(seed)
    span = hi - lo
    img = start_noise(probe.input_shape, (lo, hi), rng)[None]
    shifts = rng.integers(-jitter, jitter + 1, size=(steps, 2)) if jitter > 0 else np.zeros((steps, 2), int)
    img = tf.constant(img)
    for i in range(steps):
        do_blur = bool(blur_every) and (i + 1) % int(blur_every) == 0 and i + 1 < steps
        img, _ = step(img, np.int32(channel), shifts[i].astype(np.int32), np.bool_(do_blur),
                      np.float32(lr * span), np.float32(lo), np.float32(hi))
        if progress is not None:
            progress(i + 1, steps)
    return img.numpy()[0]


def start_noise(input_shape, value_range=(0.0, 1.0), seed=0) -> np.ndarray:
    """The starting point of ``maximize_activation``: mid-grey plus small Gaussian noise (5 % of
    the range), clipped. ``seed`` is an int or a ``numpy.random.Generator``. Returns float32 (H, W, C)."""
    lo, hi = (float(v) for v in value_range)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    noise = lo + (hi - lo) * (0.5 + 0.05 * rng.standard_normal(tuple(input_shape)))
    return np.clip(noise, lo, hi).astype(np.float32)


def _check_channel(channel, count: int, layer_name: str):
    if not 0 <= int(channel) < count:
        raise ValueError(f"channel {channel} is out of range 0..{count - 1} for layer {layer_name!r}")


# ----- the images that excite a channel most ---------------------------------------------------------

_means_cache: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_means_lock = threading.Lock()
_MEANS_PER_MODEL = 16


def layer_channel_means(model, images, layer_name: str, preprocess=None, batch_size: int = 500,
                        progress=None) -> np.ndarray:
    """The mean activation of every channel of a layer for every image of a set.

    images : uint8 (N, H, W, C), preprocessed with ``preprocess`` (default /255).
    Returns float32 (N, channels), from one batched pass over the set with a sub-model that stops
    at ``layer_name``. The result is cached per (model, images object, layer, preprocess), so
    asking for another channel of the same layer costs nothing. ``progress(done, total)`` is called
    after each batch; it may raise to cancel (nothing is cached then).
    """
    key = (id(images), layer_name, id(preprocess))
    with _means_lock:
        per_model = _means_cache.setdefault(model, OrderedDict())
        hit = per_model.get(key)
    if hit is not None and hit[0]() is images:
        return hit[1]
    probe = layer_probe(model, layer_name)
    n = len(images)
    out = []
    for start in range(0, n, batch_size):
        out.append(probe.channel_means(scale_images(images[start:start + batch_size], preprocess)))
        if progress is not None:
            progress(min(start + batch_size, n), n)
    means = np.concatenate(out) if out else np.zeros((0, probe.shape[-1]), np.float32)
    try:
        ref = weakref.ref(images)
    except TypeError:  # A list or tuple of images cannot be referenced weakly: do not cache it.
        return means
    with _means_lock:
        per_model[key] = (ref, means)
        while len(per_model) > _MEANS_PER_MODEL:
            per_model.popitem(last=False)
    return means


def top_images(model, images, layer_name: str, channel: int, k: int = 9, preprocess=None,
               batch_size: int = 500, progress=None) -> np.ndarray:
    """Indices of the ``k`` images that activate one channel most, highest mean activation first.

    images : uint8 (N, H, W, C). Returns int64 (min(k, N),). Ties keep the image order.
    See ``layer_channel_means`` for the (cached) batched pass behind it.

    >>> top_images(model, images, "conv4_act", 12)   # doctest: +SKIP
    array([4121,  877, ...])
    """
    means = layer_channel_means(model, images, layer_name, preprocess, batch_size, progress)
    _check_channel(channel, means.shape[1], layer_name)
    order = np.argsort(-means[:, int(channel)], kind="stable")
    return order[: int(k)].astype(np.int64)
