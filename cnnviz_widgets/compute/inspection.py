"""Pure computations on a Keras image classifier: no widget code here.

Everything works for Sequential and Functional models and for models that hold a nested sub-model
(a backbone inside a Sequential, as in transfer learning). The model is "unrolled" once into a flat
multi-output graph (``Inspector``); after that, one image costs one call of a ``tf.function``.

Array conventions: ``x`` is one image already preprocessed for the model, float32 (H, W, C);
``images`` are uint8 (N, H, W, C) and are preprocessed with ``preprocess`` (default: /255).
"""
from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np

from ..compat import is_graph_model, run_through_graph

CONV_CLASSES = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "Conv1D")
#: Layers that change values elementwise (or per channel) and keep the shape: they belong to the
#: conv stage before them.
STAGE_CLASSES = (
    "BatchNormalization", "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax",
    "LayerNormalization", "GroupNormalization", "Dropout", "SpatialDropout2D",
)
#: Default threshold of ``layer_stats``' sparsity.
SPARSITY_EPS = 0.01


@dataclass(frozen=True)
class LayerInfo:
    """One layer of the unrolled model, in execution order.

    name : the Keras layer name (``outer/inner`` for a layer inside a nested sub-model)
    kind : "conv", "dense" or "other"
    class_name : the Keras class, e.g. "Conv2D"
    shape : output shape without the batch axis, e.g. (32, 32, 32)
    """

    name: str
    kind: str
    class_name: str
    shape: tuple

    @property
    def spatial(self) -> bool:
        """True when the output is a stack of 2-D maps (H, W, C)."""
        return len(self.shape) == 3


def _kind(layer) -> str:
    cls = type(layer).__name__
    if cls in CONV_CLASSES:
        return "conv"
    if cls == "Dense":
        return "dense"
    return "other"


def _is_softmax(fn) -> bool:
    return getattr(fn, "__name__", "") == "softmax"


class Inspector:
    """A model unrolled into one flat multi-output graph, built once per model.

    Use ``Inspector.for_model(model)``: one inspector per model object, kept while the model
    lives. The inspector holds its model only weakly (its own graph is made of the model's
    layers, not of the model object), so a model nobody else holds is freed with its inspector,
    its compiled functions and everything in ``memo``.

    Attributes
    ----------
    layers : tuple of LayerInfo
        Every layer with its output, in execution order (nested sub-models unrolled).
    input_shape : (H, W, C)
    has_softmax : bool
        True when the model ends in a softmax (fused in its last layer or a separate layer).
    """

    _cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
    _lock = threading.Lock()

    @classmethod
    def for_model(cls, model) -> Inspector:
        with cls._lock:
            inspector = cls._cache.get(model)
            if inspector is None:
                inspector = cls(model)
                cls._cache[model] = inspector
        return inspector

    def __init__(self, model):
        import keras
        import tensorflow as tf

        check_image_model(model)
        self._model = weakref.ref(model)
        self._memo: dict = {}
        shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        self.input_shape = shape
        x = keras.Input(shape=shape, name="cnnviz_input")
        tensors: dict = {}
        layers: dict = {}
        final = {"layer": None, "input": None}
        out = _unroll(model, x, "", tensors, layers, final)
        logits, self.has_softmax = _logits_of(final["layer"], final["input"], out)
        names = list(tensors)
        self.layers = tuple(
            LayerInfo(n, _kind(layers[n]), type(layers[n]).__name__,
                      tuple(int(d) if d is not None else -1 for d in tensors[n].shape[1:]))
            for n in names
        )
        self._names = names
        self._index = {n: i for i, n in enumerate(names)}
        self._flat = keras.Model(x, [tensors[n] for n in names] + [logits])
        self._layer_objects = layers
        spec = tf.TensorSpec((None, *shape), tf.float32)
        self._forward = tf.function(lambda b: self._flat(b, training=False), input_signature=[spec])
        scores = keras.Model(x, logits)
        self._scores = tf.function(lambda b: scores(b, training=False), input_signature=[spec])
        self.num_classes = int(logits.shape[-1])
        self._gradcam_fns: dict = {}
        self._input_gradients = None

    @property
    def model(self):
        """The model this inspector unrolled (None once it has been freed)."""
        return self._model()

    def memo(self, key: tuple, make):
        """``make()`` once per key for the life of the model: compiled sub-models and functions
        of this model (never results for particular images, which belong in a state's cache)."""
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        value = make()
        with self._lock:
            return self._memo.setdefault(key, value)

    # ----- the forward pass -------------------------------------------------------------------
    def run(self, x):
        """Every layer's output for one image, in one call.

        x : float32 (H, W, C). Returns ``(outputs, logits)``: ``{layer name: ndarray (layer shape)}``
        and the final scores (K,) before any softmax.
        """
        batch = np.asarray(x, dtype=np.float32)[None]
        values = self._forward(batch)
        outputs = {n: values[i].numpy()[0] for i, n in enumerate(self._names)}
        return outputs, values[-1].numpy()[0]

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Softmax of the final scores, (K,) or (N, K)."""
        z = np.asarray(logits, dtype=np.float64)
        z = z - z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)

    def layer(self, name: str):
        """The Keras layer object named ``name`` (``outer/inner`` for nested ones)."""
        self.check_layer(name)
        return self._layer_objects[name]

    def check_layer(self, name: str, spatial: bool = False) -> LayerInfo:
        """The LayerInfo of ``name``; a ValueError listing the valid names when it is not one."""
        info = self.layers[self._index[name]] if name in self._index else None
        if info is None or (spatial and not info.spatial):
            valid = [i.name for i in self.layers if i.spatial or not spatial]
            what = "layer with a spatial output" if spatial else "layer"
            raise ValueError(f"{what} {name!r} not found; layers are: {', '.join(valid)}")
        return info

    def tensor(self, name: str):
        """The symbolic output of layer ``name`` in the unrolled graph (a Keras tensor), as a
        function of ``input_tensor``."""
        self.check_layer(name)
        return self._flat.outputs[self._index[name]]

    @property
    def input_tensor(self):
        """The one symbolic input of the unrolled graph."""
        return self._flat.inputs[0]

    def scores(self, batch) -> np.ndarray:
        """The final scores before any softmax for a float32 batch (N, H, W, C): (N, K)."""
        return self._scores(np.asarray(batch, dtype=np.float32)).numpy()

    # ----- Grad-CAM ---------------------------------------------------------------------------
    def gradcam_parts(self, x, layer_name: str, class_index: int):
        """Activations A (h, w, k) of ``layer_name`` and d(score of class)/dA (h, w, k)."""
        import tensorflow as tf

        fn = self._gradcam_fns.get(layer_name)
        if fn is None:
            i = self._index[layer_name]
            spec = tf.TensorSpec((None, *self.input_shape), tf.float32)

            def parts(batch, c):
                with tf.GradientTape() as tape:
                    # Watching the input records a layer without weights right after it (a
                    # ZeroPadding2D, a Rescaling), whose gradient would otherwise be None.
                    tape.watch(batch)
                    values = self._flat(batch, training=False)
                    score = values[-1][:, c]
                return values[i], tape.gradient(score, values[i])

            fn = tf.function(parts, input_signature=[spec, tf.TensorSpec((), tf.int32)])
            self._gradcam_fns[layer_name] = fn
        a, g = fn(np.asarray(x, dtype=np.float32)[None], np.int32(class_index))
        return a.numpy()[0], g.numpy()[0]

    # ----- batched scores and input gradients -------------------------------------------------
    def input_gradients(self, batch, class_index=None):
        """d(score of a class)/d(input) for a whole batch, in one call.

        batch : float32 (N, H, W, C). ``class_index`` None means the class the model predicts
        for ``batch[0]``. Returns ``(class_index, scores (N,), gradients (N, H, W, C))``; a
        ValueError when no gradient flows from the scores back to the pixels.
        """
        import tensorflow as tf

        if self._input_gradients is None:
            spec = tf.TensorSpec((None, *self.input_shape), tf.float32)

            def gradients(b, c):
                with tf.GradientTape() as tape:
                    tape.watch(b)
                    logits = self._flat(b, training=False)[-1]
                    # A negative class means "the prediction for the first image": chosen inside
                    # the graph, so that it costs no forward pass of its own.
                    c = tf.where(c < 0, tf.cast(tf.argmax(logits[0]), tf.int32), c)
                    score = logits[:, c]
                grads = tape.gradient(score, b)
                if grads is None:
                    raise ValueError("no gradient flows from the class score back to the pixels")
                return c, score, grads

            self._input_gradients = tf.function(
                gradients, input_signature=[spec, tf.TensorSpec((), tf.int32)])
        c = -1 if class_index is None else int(class_index)
        c, score, grads = self._input_gradients(np.asarray(batch, dtype=np.float32), np.int32(c))
        return int(c), score.numpy(), grads.numpy()

    @classmethod
    def forget(cls, model) -> None:
        """Drop the inspector of ``model`` (a throw-away copy), so that nothing keeps it alive."""
        with cls._lock:
            cls._cache.pop(model, None)
    # ----- batches: chosen layers, and the loss gradient with respect to the input -------------
    def batch_outputs(self, batch, names) -> list:
        """The outputs of the layers ``names`` and the final scores for a batch, in one call.

        batch : float32 (N, H, W, C). Returns ``[output of names[0] (N, ...), ..., logits (N, K)]``.
        """
        import keras
        import tensorflow as tf

        names = tuple(names)
        fn = self._gradcam_fns.get(("outputs", names))
        if fn is None:
            for name in names:
                self.check_layer(name)
            sub = keras.Model(self._flat.inputs, [self._flat.outputs[self._index[n]] for n in names]
                              + [self._flat.outputs[-1]])
            spec = tf.TensorSpec((None, *self.input_shape), tf.float32)
            fn = tf.function(lambda b: sub(b, training=False), input_signature=[spec])
            self._gradcam_fns[("outputs", names)] = fn
        return [v.numpy() for v in fn(np.asarray(batch, dtype=np.float32))]

    def loss_gradient(self, batch, labels):
        """The gradient of the cross-entropy loss of each image's scores against its label.

        batch : float32 (N, H, W, C); labels : int (N,), -1 meaning the image's predicted class.
        Returns ``(logits (N, K), labels used (N,), d loss / d batch (N, H, W, C))``; the loss is
        ``-log softmax(logits)[label]``, computed from the pre-softmax scores so that a confident
        image still has a gradient.
        """
        import tensorflow as tf

        fn = self._gradcam_fns.get("loss_gradient")
        if fn is None:
            spec = tf.TensorSpec((None, *self.input_shape), tf.float32)

            def gradient(b, y):
                with tf.GradientTape() as tape:
                    tape.watch(b)
                    logits = self._flat(b, training=False)[-1]
                    used = tf.where(y < 0, tf.argmax(logits, axis=-1, output_type=tf.int32), y)
                    loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(used, logits))
                return logits, used, tape.gradient(loss, b)

            fn = tf.function(gradient, input_signature=[spec, tf.TensorSpec((None,), tf.int32)])
            self._gradcam_fns["loss_gradient"] = fn
        logits, used, grad = fn(np.asarray(batch, dtype=np.float32), np.asarray(labels, dtype=np.int32))
        return logits.numpy(), used.numpy().astype(np.int64), grad.numpy()


def _unroll(model, x, prefix, tensors, layers, final):
    """Re-apply ``model``'s layers to the symbolic tensor ``x``, recording every layer's output.

    Nested models are unrolled recursively, so every inner output is connected to the one outer
    input (a sub-model's own ``.output`` would be "Graph disconnected" from it).
    """
    import keras

    def record(layer, inputs, outputs):
        name = prefix + layer.name
        while name in tensors:  # A layer called twice keeps both outputs.
            name += "'"
        if keras.tree.is_nested(outputs):
            return
        tensors[name] = outputs
        layers[name] = layer
        final["layer"], final["input"] = layer, inputs

    def apply(op, *args, **kwargs):
        if isinstance(op, keras.Model):
            return _unroll(op, args[0], prefix + op.name + "/", tensors, layers, final)
        out = op(*args, **kwargs)
        if isinstance(op, keras.layers.Layer) and not isinstance(op, keras.layers.InputLayer):
            record(op, args[0] if args else None, out)
        return out

    if isinstance(model, keras.Sequential):
        for layer in model.layers:
            x = apply(layer, x)
        return x
    if is_graph_model(model):
        return run_through_graph(model, x, apply)
    raise ValueError(f"cannot look inside a subclassed model ({type(model).__name__}); "
                     "use a Sequential or Functional model")


def _logits_of(layer, layer_input, output):
    """The final scores before softmax, as a symbolic tensor, and whether the model has a softmax."""
    from keras import ops

    cls = type(layer).__name__
    if cls == "Softmax" or (cls == "Activation" and _is_softmax(layer.activation)):
        return layer_input, True
    if _is_softmax(getattr(layer, "activation", None)):
        if cls == "Dense":
            # The pre-softmax score of a Dense with fused softmax, from the layer's own variables,
            # so that it stays right if the weights are later trained in place.
            z = ops.matmul(layer_input, layer.kernel)
            return (ops.add(z, layer.bias) if layer.use_bias else z), True
        raise ValueError(f"the last layer {layer.name!r} ({cls}) fuses a softmax that cnnviz cannot "
                         "undo; end the model in a Dense layer or a separate Softmax layer")
    return output, False


def check_image_model(model):
    """Raise a ValueError saying why ``model`` is not a single-input image classifier."""
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"expected a Keras model, got {type(model).__name__}")
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError):
        raise ValueError("the model has no defined input: build it with keras.Input(...) "
                         "(a Sequential needs an Input layer first)") from None
    if len(inputs) != 1:
        raise ValueError(f"the model has {len(inputs)} inputs; cnnviz shows models with one image input")
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[3] not in (1, 3) or None in shape[1:]:
        raise ValueError(f"the model's input has shape {shape}; cnnviz needs an image input "
                         "(batch, height, width, 1 or 3 channels) with a fixed size")
    if len(outputs) != 1 or len(outputs[0].shape) != 2:
        raise ValueError("the model must have one output of class scores (batch, classes); "
                         f"it has {len(outputs)} output(s) of shape {[tuple(o.shape) for o in outputs]}")


# ----- public functions --------------------------------------------------------------------------

def layer_outputs(model, x) -> dict:
    """Every layer's output for one image in one forward pass.

    x : float32 (H, W, C), already preprocessed. Returns ``{layer name: ndarray}``, each array the
    layer's output without the batch axis (e.g. ``conv1_act``: (32, 32, 32)), in execution order.
    """
    return Inspector.for_model(model).run(x)[0]


def predict(model, x):
    """Class probabilities (K,) and the predicted class for one image x (H, W, C).

    A model that ends in logits (no softmax) has a softmax applied here.
    """
    inspector = Inspector.for_model(model)
    _, logits = inspector.run(x)
    probs = inspector.probabilities(logits)
    return probs, int(np.argmax(probs))


def layer_stats(a, eps: float = SPARSITY_EPS) -> dict:
    """Summary statistics of one layer's output ``a`` (any shape).

    Returns shape, mean, std, min, max and sparsity. **Sparsity** is the share of entries that are
    at most ``eps`` (default 0.01): exact zeros of a ReLU, the small negative outputs of a
    LeakyReLU and every negative value count as "not active"; 0.0 means every entry is active.
    """
    a = np.asarray(a, dtype=np.float32)
    return {
        "shape": tuple(a.shape),
        "mean": float(a.mean()),
        "std": float(a.std()),
        "min": float(a.min()),
        "max": float(a.max()),
        "sparsity": float(np.count_nonzero(a <= eps) / a.size),
    }


def layer_table(model) -> tuple:
    """Every layer of the (unrolled) model as LayerInfo: name, kind (conv/dense/other), shape."""
    return Inspector.for_model(model).layers


def layers_by_kind(model) -> dict:
    """``{"conv": [LayerInfo...], "dense": [...], "other": [...]}`` in execution order."""
    groups = {"conv": [], "dense": [], "other": []}
    for info in layer_table(model):
        groups[info.kind].append(info)
    return groups


def conv_filters(model, layer_name: str):
    """The learned kernel of a convolution layer and its bias.

    Returns ``(kernel, bias)``: kernel float32 (kh, kw, in_channels, filters) — for a depthwise
    or separable convolution the depthwise kernel (kh, kw, in_channels, multiplier) — and bias
    (filters,) or None.
    """
    layer = Inspector.for_model(model).layer(layer_name)
    cls = type(layer).__name__
    if cls not in CONV_CLASSES or cls == "Conv1D":
        convs = [i.name for i in layer_table(model) if i.kind == "conv"]
        raise ValueError(f"{layer_name!r} is a {cls}, not a 2-D convolution; conv layers are: {', '.join(convs)}")
    if cls in ("DepthwiseConv2D", "SeparableConv2D"):
        kernel = layer.depthwise_kernel
    else:
        kernel = layer.kernel
    bias = layer.bias if getattr(layer, "use_bias", False) else None
    return (np.asarray(kernel, dtype=np.float32),
            None if bias is None else np.asarray(bias, dtype=np.float32))


def stage_starts(layers) -> tuple:
    """For each LayerInfo of ``layers`` (execution order), the conv or dense layer that starts its
    stage, or None.

    A stage is a conv (or dense) layer followed by the layers that only rescale its output and keep
    its shape (BatchNormalization, activations, dropout: ``STAGE_CLASSES``). For the guide's CNN,
    ``conv1``, ``conv1_bn`` and ``conv1_act`` all start at ``conv1``; ``flatten`` at None. The one
    definition of a stage: ``conv_stages``, the layer selector's groups and the convolution
    arithmetic all use it.
    """
    out = []
    start = None
    for info in layers:
        if info.kind in ("conv", "dense"):
            start = info
        elif start is None or info.class_name not in STAGE_CLASSES or info.shape != start.shape:
            start = None
        out.append(start)
    return tuple(out)


def conv_stages(model) -> list:
    """The layer that ends each convolution stage (``stage_starts``): the conv layer followed by its
    BatchNorm, activation and dropout layers of the same shape. E.g. the guide's CNN gives
    ``["conv1_act", "conv2_act", "conv3_act", "conv4_act"]``. Only spatial outputs are kept.
    """
    infos = layer_table(model)
    ends = {}  # stage start → its last layer, in execution order
    for info, start in zip(infos, stage_starts(infos)):
        if start is not None and start.kind == "conv" and start.spatial:
            ends[start.name] = info.name
    return list(ends.values())


def last_spatial_layer(model) -> str:
    """The name of the last layer with a spatial (H, W, C) output: Grad-CAM's default layer."""
    spatial = [i.name for i in layer_table(model) if i.spatial and i.shape[0] > 1 and i.shape[1] > 1]
    if not spatial:
        raise ValueError("the model has no layer with a spatial output, so there is nothing to map")
    return spatial[-1]


def check_class_index(model, class_index) -> None:
    """A ValueError giving the valid range unless ``class_index`` is None (the predicted class)
    or one of the model's classes."""
    if class_index is None:
        return
    k = Inspector.for_model(model).num_classes
    if not isinstance(class_index, (int, np.integer)) or not 0 <= int(class_index) < k:
        raise ValueError(f"class index {class_index} is out of range 0..{k - 1}")
