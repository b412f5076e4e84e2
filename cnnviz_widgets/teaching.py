"""Pure computations behind the teaching tools: no widget code here.

* ``maximize_activation`` — gradient ascent from noise: the input a channel likes most.
* ``conv_arithmetic`` — one output value of a conv stage, multiplication by multiplication.
* ``top_images`` / ``layer_channel_means`` — the images of a set that excite a channel most.
* ``train_epochs`` — train the guide's CNN for a few epochs with a per-epoch callback and a stop switch.

Like ``compute``, everything works on the unrolled graph of ``compute.Inspector``, so layers inside
nested sub-models are reachable by their ``outer/inner`` names. Array conventions follow ``compute``:
``x`` is float32 (H, W, C) already preprocessed, ``images`` are uint8 (N, H, W, C).
"""
from __future__ import annotations

import functools

import numpy as np

# ``compute`` re-exports some of these functions, so this module imports ``compute`` inside its
# functions: a module-level import would be circular when ``teaching`` is imported first.

#: Layers that do nothing at inference time.
_IDENTITY_CLASSES = ("Dropout", "SpatialDropout2D", "SpatialDropout1D", "GaussianNoise", "GaussianDropout")


# ----- sub-models of the unrolled graph, built once per (model, layer) ------------------------------

class _Probe:
    """One tensor of a model's unrolled graph as a function of the model's input.

    Built once per (model, layer) by ``_probe``; every call after that is one ``tf.function`` call.
    """

    def __init__(self, model, layer_name: str, which: str = "output"):
        import keras
        import tensorflow as tf

        from .compute import Inspector

        inspector = Inspector.for_model(model)
        inspector.check_layer(layer_name)
        flat = inspector._flat
        tensor = flat.outputs[inspector._index[layer_name]]
        if which == "input":
            tensor = _input_tensor_of(tensor)
        self.identity = tensor is flat.inputs[0]
        self.shape = tuple(int(d) for d in tensor.shape[1:])
        self.input_shape = inspector.input_shape
        spec = tf.TensorSpec((None, *self.input_shape), tf.float32)
        if self.identity:
            self.model = None
            self._call = lambda b: b
        else:
            self.model = keras.Model(flat.inputs[0], tensor)
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


def _probe(model, layer_name: str, which: str = "output") -> _Probe:
    """The probe of one layer, built once per model and kept as long as the model lives."""
    from .compute import Inspector

    return Inspector.for_model(model).memo(("probe", layer_name, which),
                                           lambda: _Probe(model, layer_name, which))


def _input_tensor_of(tensor):
    """The symbolic input of the layer that produced ``tensor`` (its first argument)."""
    operation, node_index, _ = tensor._keras_history
    return operation._inbound_nodes[node_index].input_tensors[0]


def channel_means(model, x, layer_name: str) -> np.ndarray:
    """The mean activation of every channel of ``layer_name`` for a batch of preprocessed inputs.

    x : float32 (N, H, W, C). Returns float32 (N, channels): the mean over the spatial axes of a
    spatial layer (h, w, channels), or the values themselves for a one-dimensional layer.
    """
    return _probe(model, layer_name).channel_means(x)


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

    probe = _probe(model, layer_name)
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


# ----- the arithmetic of one convolution output -----------------------------------------------------

def conv_arithmetic(model, x, layer_name: str, channel: int, row: int, col: int, outputs=None) -> dict:
    """One output value of a conv stage, step by step: window × kernel, sum, + bias, BatchNorm,
    activation.

    ``layer_name`` is any layer of a conv stage: the Conv2D itself or a BatchNormalization /
    activation / dropout after it (e.g. ``conv2`` or ``conv2_act``); the whole stage is worked
    through, ending at the layer ``compute.conv_stages`` names (the one the feature grid shows).

    Parameters
    ----------
    x : float32 (H, W, C), one preprocessed image
    channel, row, col : the output channel and position in the stage's (h, w, channels) output
    outputs : ``compute.layer_outputs(model, x)`` when the caller already has it (a dashboard's
        inspection), so that no second forward pass is made

    Returns
    -------
    dict with
      ``stage`` (layer names, conv first), ``conv``, ``row``, ``col``, ``channel``,
      ``strides`` (sh, sw), ``padding`` "same"/"valid", ``dilation`` (dh, dw),
      ``pad`` (top, left): the zero rows/columns added before the input,
      ``input_layer``: the layer whose output the conv reads ("input" for the image),
      ``input_shape`` (H_in, W_in, in_c),
      ``origin`` (r0, c0): the window's top-left corner in input coordinates (negative in the padding),
      ``window`` float32 (kh, kw, in_c): the input values the kernel sees (zero padding as zeros),
      ``padded`` bool (kh, kw): True where the window lies in the zero padding,
      ``kernel`` float32 (kh, kw, in_c): the kernel of ``channel``,
      ``products`` float32 (kh, kw, in_c): window × kernel, elementwise,
      ``channel_sums`` float32 (in_c,): the products summed per input channel,
      ``sum``: all products summed, ``bias``: the channel's bias (0.0 without one), ``z``: sum + bias,
      ``steps``: one dict per stage layer after the sum ``{"layer", "class_name", "formula",
      "params", "input", "output"}``; the conv's own fused activation, if any, comes first,
      ``value``: the final number, the stage's output at (row, col, channel),
      ``layer_outputs`` ``{layer name: float}``: every stage layer's real output at that position,
      from ``compute.layer_outputs``, for cross-checking.

    >>> r = conv_arithmetic(model, x, "conv2_act", channel=3, row=0, col=15)   # doctest: +SKIP
    >>> r["sum"] + r["bias"] == r["z"]                                         # doctest: +SKIP
    True
    """
    from .compute import Inspector, layer_outputs

    inspector = Inspector.for_model(model)
    inspector.check_layer(layer_name)
    stage = _stage_of(inspector, layer_name)
    conv_name = stage[0].name
    conv = inspector.layer(conv_name)
    h, w, out_c = stage[0].shape
    for what, value, count in (("row", row, h), ("column", col, w), ("channel", channel, out_c)):
        if not 0 <= int(value) < count:
            raise ValueError(f"{what} {value} is out of range 0..{count - 1} "
                             f"(the output of {conv_name!r} is {h}×{w}×{out_c})")
    row, col, channel = int(row), int(col), int(channel)

    x = np.asarray(x, dtype=np.float32)
    if x.shape != tuple(inspector.input_shape):
        raise ValueError(f"x must have the model's input shape {inspector.input_shape}, not {x.shape}")
    source = _probe(model, conv_name, "input")
    conv_input = x if source.identity else source(x[None])[0]
    in_h, in_w, in_c = conv_input.shape

    kernel_all = np.asarray(conv.kernel, dtype=np.float64)
    kh, kw = kernel_all.shape[:2]
    sh, sw = (int(s) for s in conv.strides)
    dh, dw = (int(d) for d in conv.dilation_rate)
    padding = str(conv.padding).lower()
    if padding == "same":
        pad_top = max((h - 1) * sh + (kh - 1) * dh + 1 - in_h, 0) // 2
        pad_left = max((w - 1) * sw + (kw - 1) * dw + 1 - in_w, 0) // 2
    else:
        pad_top = pad_left = 0
    r0, c0 = row * sh - pad_top, col * sw - pad_left
    rows = r0 + np.arange(kh) * dh
    cols = c0 + np.arange(kw) * dw
    inside = ((rows >= 0) & (rows < in_h))[:, None] & ((cols >= 0) & (cols < in_w))[None, :]
    window = np.zeros((kh, kw, in_c), dtype=np.float64)
    rr, cc = np.nonzero(inside)
    window[rr, cc] = conv_input[rows[rr], cols[cc]]
    kernel = kernel_all[:, :, :, channel]
    products = window * kernel
    total = float(products.sum())
    bias = float(np.asarray(conv.bias)[channel]) if getattr(conv, "use_bias", False) else 0.0
    z = total + bias

    if outputs is None:
        outputs = layer_outputs(model, x)
    real = {info.name: float(outputs[info.name][row, col, channel]) for info in stage}
    steps = []
    value = z
    activation = getattr(conv, "activation", None)
    if activation is not None and getattr(activation, "__name__", "") != "linear":
        out = _apply_activation(activation, value)
        steps.append({"layer": conv_name, "class_name": "activation",
                      "formula": f"{activation.__name__}(z)", "params": {},
                      "input": value, "output": out})
        value = out
    for info in stage[1:]:
        layer = inspector.layer(info.name)
        formula, params, out = _elementwise(layer, info.shape, value, row, col, channel, real[info.name])
        steps.append({"layer": info.name, "class_name": info.class_name, "formula": formula,
                      "params": params, "input": value, "output": out})
        value = out

    input_layer = "input"
    if not source.identity:
        producer = _input_tensor_of(inspector._flat.outputs[inspector._index[conv_name]])
        matches = [n for n in inspector._names
                   if inspector._flat.outputs[inspector._index[n]] is producer]
        input_layer = matches[0] if matches else "?"
    return {
        "stage": [info.name for info in stage],
        "conv": conv_name,
        "row": row, "col": col, "channel": channel,
        "strides": (sh, sw), "padding": padding, "dilation": (dh, dw), "pad": (pad_top, pad_left),
        "input_layer": input_layer,
        "input_shape": (int(in_h), int(in_w), int(in_c)),
        "origin": (int(r0), int(c0)),
        "window": window.astype(np.float32),
        "padded": ~inside,
        "kernel": kernel.astype(np.float32),
        "products": products.astype(np.float32),
        "channel_sums": products.sum(axis=(0, 1)).astype(np.float32),
        "sum": total,
        "bias": bias,
        "z": z,
        "steps": steps,
        "value": float(value),
        "layer_outputs": real,
    }


def stage_of(model, layer_name: str) -> list:
    """The layer names of the conv stage holding ``layer_name``, the Conv2D first and the layer the
    feature grid shows last (e.g. ``["conv2", "conv2_bn", "conv2_act"]`` for ``"conv2_bn"``).
    ValueError listing the conv stages when ``layer_name`` is in none."""
    from .compute import Inspector

    inspector = Inspector.for_model(model)
    inspector.check_layer(layer_name)
    return [info.name for info in _stage_of(inspector, layer_name)]


def _stage_of(inspector, layer_name: str) -> list:
    """The LayerInfos of the conv stage holding ``layer_name`` (``compute.stage_starts``): the
    Conv2D first, then every same-shaped BatchNorm/activation/dropout layer after it, each reading
    the one before."""
    from .compute import conv_stages, stage_starts

    infos = inspector.layers
    starts = stage_starts(infos)
    conv = starts[inspector._index[layer_name]]
    if conv is None or conv.kind != "conv":
        raise ValueError(f"layer {layer_name!r} is not part of a conv stage; conv stages are: "
                         f"{', '.join(conv_stages(inspector.model))}")
    if conv.class_name != "Conv2D":
        raise ValueError(f"{conv.name!r} is a {conv.class_name}; the arithmetic is shown for Conv2D layers")
    layer = inspector.layer(conv.name)
    if getattr(layer, "groups", 1) != 1 or getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ValueError(f"{conv.name!r} uses groups or channels-first data; the arithmetic is shown "
                         "for plain channels-last convolutions")
    stage = [info for info, start in zip(infos, starts) if start is conv]
    flat = inspector._flat
    for before, after in zip(stage, stage[1:]):
        producer = _input_tensor_of(flat.outputs[inspector._index[after.name]])
        if producer is not flat.outputs[inspector._index[before.name]]:
            raise ValueError(f"{after.name!r} does not read {before.name!r}'s output; the stage "
                             "arithmetic needs a simple chain of layers")
    return stage


def _apply_activation(fn, value: float) -> float:
    from keras import ops

    return float(ops.convert_to_numpy(fn(np.full((1, 1), value, dtype=np.float32)))[0, 0])


def _elementwise(layer, shape, value: float, row: int, col: int, channel: int, real: float):
    """(formula text, parameters, output) of one stage layer applied to one value."""
    cls = type(layer).__name__
    if cls == "BatchNormalization":
        axis = layer.axis if isinstance(layer.axis, int) else layer.axis[-1]
        if axis not in (-1, 3):
            raise ValueError(f"{layer.name!r} normalises axis {axis}; only channels-last BatchNorm is shown")
        mean = float(np.asarray(layer.moving_mean)[channel])
        var = float(np.asarray(layer.moving_variance)[channel])
        gamma = float(np.asarray(layer.gamma)[channel]) if layer.scale else 1.0
        beta = float(np.asarray(layer.beta)[channel]) if layer.center else 0.0
        eps = float(layer.epsilon)
        out = (value - mean) / np.sqrt(var + eps) * gamma + beta
        return ("(z − moving_mean) / √(moving_var + ε) · γ + β",
                {"moving_mean": mean, "moving_var": var, "epsilon": eps, "gamma": gamma, "beta": beta},
                float(out))
    if cls == "LeakyReLU":
        slope = float(layer.negative_slope)
        return (f"z if z > 0 else {slope:g} · z", {"negative_slope": slope},
                value if value > 0 else slope * value)
    if cls == "ReLU":
        threshold = float(layer.threshold)
        slope = float(layer.negative_slope)
        top = None if layer.max_value is None else float(layer.max_value)
        if value >= threshold:
            out = value if top is None else min(value, top)
        else:
            out = slope * (value - threshold)
        text = "max(z, 0)" if (threshold == 0 and slope == 0 and top is None) else \
            f"z if z ≥ {threshold:g} else {slope:g} · (z − {threshold:g}), at most {top}"
        return text, {"threshold": threshold, "negative_slope": slope, "max_value": top}, float(out)
    if cls == "ELU":
        alpha = float(layer.alpha)
        return (f"z if z > 0 else {alpha:g} · (eᶻ − 1)", {"alpha": alpha},
                value if value > 0 else alpha * float(np.expm1(value)))
    if cls == "PReLU":
        alphas = np.broadcast_to(np.asarray(layer.alpha), tuple(shape))
        alpha = float(alphas[row, col, channel])
        return (f"z if z > 0 else {alpha:.4g} · z (learned slope)", {"alpha": alpha},
                value if value > 0 else alpha * value)
    if cls == "Activation" and getattr(layer.activation, "__name__", "") not in ("softmax", "log_softmax"):
        name = getattr(layer.activation, "__name__", "activation")
        return f"{name}(z)", {}, _apply_activation(layer.activation, value)
    if cls in _IDENTITY_CLASSES:
        return "unchanged (dropout is off when the network predicts)", {}, value
    # Softmax and layer/group normalisation mix channels: one value alone does not determine the
    # result, so the real output is shown.
    return (f"{cls} depends on every channel at this position: taken from the layer's output", {}, real)


# ----- the images that excite a channel most ---------------------------------------------------------

def layer_channel_means(model, images, layer_name: str, preprocess=None, batch_size: int = 500,
                        progress=None) -> np.ndarray:
    """The mean activation of every channel of a layer for every image of a set.

    images : uint8 (N, H, W, C), preprocessed with ``preprocess`` (default /255).
    Returns float32 (N, channels), from one batched pass over the set with a sub-model that stops
    at ``layer_name``. Nothing is cached here: ``ModelState.channel_means`` keeps the result in the
    state's cache, so that another channel of the same layer costs nothing there.
    ``progress(done, total)`` is called after each batch; it may raise to cancel.
    """
    from .compute import scale_images

    probe = _probe(model, layer_name)
    n = len(images)
    out = []
    for start in range(0, n, batch_size):
        out.append(probe.channel_means(scale_images(images[start:start + batch_size], preprocess)))
        if progress is not None:
            progress(min(start + batch_size, n), n)
    return np.concatenate(out) if out else np.zeros((0, probe.shape[-1]), np.float32)


def top_images(model, images, layer_name: str, channel: int, k: int = 9, preprocess=None,
               batch_size: int = 500, progress=None) -> np.ndarray:
    """Indices of the ``k`` images that activate one channel most, highest mean activation first.

    images : uint8 (N, H, W, C). Returns int64 (min(k, N),). Ties keep the image order.
    See ``layer_channel_means`` for the batched pass behind it.

    >>> top_images(model, images, "conv4_act", 12)   # doctest: +SKIP
    array([4121,  877, ...])
    """
    means = layer_channel_means(model, images, layer_name, preprocess, batch_size, progress)
    _check_channel(channel, means.shape[1], layer_name)
    order = np.argsort(-means[:, int(channel)], kind="stable")
    return order[: int(k)].astype(np.int64)


# ----- confidence ---------------------------------------------------------------------------------

def confidence_examples(probabilities, labels) -> dict:
    """The guide's exercise 5: three telling predictions of an image set.

    probabilities : (N, K); labels : int (N,), negative for an image of unknown class (never right
    nor wrong). Returns ``{"confident_right": i, "unsure_right": i, "confident_wrong": i}``: the
    correct prediction with the highest confidence, the correct one with the lowest, and the wrong
    one with the highest (None when the set has no such image).
    """
    probs = np.asarray(probabilities)
    labels = np.asarray(labels).reshape(-1)
    if probs.ndim != 2 or len(probs) != len(labels):
        raise ValueError(f"need probabilities (N, K) and N labels; got {probs.shape} and {labels.shape}")
    predicted = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    right = np.flatnonzero(predicted == labels)
    wrong = np.flatnonzero((predicted != labels) & (labels >= 0))

    def pick(indices, best):
        if len(indices) == 0:
            return None
        values = confidence[indices]
        return int(indices[np.argmax(values) if best else np.argmin(values)])

    return {"confident_right": pick(right, True), "unsure_right": pick(right, False),
            "confident_wrong": pick(wrong, True)}


# ----- training -------------------------------------------------------------------------------------

def guide_architecture(model) -> bool:
    """True when ``model`` has the layers of ``build_cifar_cnn()`` (names, classes, weight shapes)."""
    try:
        shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        reference = _guide_signature(shape, int(model.outputs[0].shape[-1]))
    except (AttributeError, ValueError, TypeError, IndexError):
        return False
    return _signature(model) == reference


def _signature(model) -> tuple:
    return tuple((layer.name, type(layer).__name__, tuple(tuple(v.shape) for v in layer.weights))
                 for layer in model.layers)


@functools.lru_cache(maxsize=8)
def _guide_signature(input_shape, num_classes) -> tuple:
    """The layer signature of ``build_cifar_cnn`` for one input shape and class count: a few
    names and shapes (the model built to read them is not kept)."""
    from .model import build_cifar_cnn

    return _signature(build_cifar_cnn(input_shape=input_shape, num_classes=num_classes))


def copy_guide_model(model):
    """A new, uncompiled ``build_cifar_cnn()`` holding a copy of ``model``'s weights (same dropout)."""
    from .model import build_cifar_cnn

    if not guide_architecture(model):
        raise ValueError("the model is not the guide's CNN (build_cifar_cnn), so it cannot be copied")
    rate = float(model.get_layer("dense1_dropout").rate)
    clone = build_cifar_cnn(input_shape=tuple(int(d) for d in model.inputs[0].shape[1:]),
                            num_classes=int(model.outputs[0].shape[-1]), dropout=rate)
    clone.set_weights(model.get_weights())
    return clone


def train_epochs(model, images, labels, epochs: int, batch_size: int = 128, augment: bool = True,
                 test=None, on_epoch=None, should_stop=None, on_batch=None, lr: float = 2e-3, seed: int = 0):
    """Train ``model`` in place on uint8 images for ``epochs`` epochs and return it.

    Uses ``train.make_dataset`` (images scaled to [0, 1]; random crop and flip when ``augment``)
    and ``train.compile_for_training`` (AdamW, warm-up, cosine decay).

    Parameters
    ----------
    images : uint8 (N, H, W, C); labels : int (N,)
    test : (images, labels) evaluated after every epoch (``val_loss``, ``val_accuracy``), or None
    on_epoch : ``on_epoch(epoch, logs)`` after each epoch (epoch counts from 0); ``logs`` holds
        ``loss``, ``accuracy`` and, with ``test``, ``val_loss``, ``val_accuracy`` as floats
    on_batch : ``on_batch(batch, batches_per_epoch)`` after each training batch
    should_stop : a callable checked after every batch; training stops there when it returns True
        (a cut-short epoch is not reported to ``on_epoch``)

    Returns
    -------
    The same model object, trained (and compiled).
    """
    import keras

    from .train import compile_for_training, make_dataset

    images = np.asarray(images)
    labels = np.asarray(labels).reshape(-1)
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"need as many labels as images (and at least one); got {len(images)} images "
                         f"and {len(labels)} labels")
    if epochs < 1 or batch_size < 1:
        raise ValueError("epochs and batch_size must be at least 1")
    steps = int(np.ceil(len(images) / batch_size))
    train_ds = make_dataset(images, labels, batch_size, augment, seed=seed)
    test_ds = None
    if test is not None:
        test_ds = make_dataset(np.asarray(test[0]), np.asarray(test[1]).reshape(-1), 500,
                               augment=False, shuffle=False)
    compile_for_training(model, steps, epochs, lr=lr)

    class Stop(Exception):
        pass

    class Reporter(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if on_batch is not None:
                on_batch(batch + 1, steps)
            # Raising ends fit at once; `stop_training` would still finish the epoch's validation
            # pass and report a cut-short epoch as if it were whole.
            if should_stop is not None and should_stop():
                raise Stop()

        def on_epoch_end(self, epoch, logs=None):
            if on_epoch is not None:
                on_epoch(epoch, {k: float(v) for k, v in (logs or {}).items()})
            if should_stop is not None and should_stop():
                raise Stop()

    try:
        # The data set shuffles itself; fit's own shuffle does not apply to a tf.data pipeline.
        model.fit(train_ds, epochs=int(epochs), validation_data=test_ds, callbacks=[Reporter()], verbose=0,
                  shuffle=False)
    except Stop:
        pass
    return model
