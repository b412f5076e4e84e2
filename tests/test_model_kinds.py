"""Every widget works for every kind of Keras image classifier a student may bring.

Kinds: Sequential, Functional with branches, a transfer-learning model (a MobileNetV2 backbone
nested in a Sequential), ResNet50V2 (residual branches), depthwise and separable convolutions,
a grey 28×28×1 model, a 96×96 model and a model that ends in logits (no softmax). Every model is
built once per module with random weights (``weights=None``: nothing is downloaded) and shown
on eight real CIFAR-10 test images resized to its input.
"""
from __future__ import annotations

import importlib
import inspect
import io

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image

from cnnviz_widgets import compute
from cnnviz_widgets.loading import resize_images
from cnnviz_widgets.state import ModelState
from cnnviz_widgets.widgets.base import StateWidget

WIDGET_MODULES = ("widgets.charts", "widgets.panels", "widgets.controls", "widgets.grids", "widgets.comparison",
                  "widgets.uploads")
#: The widgets of the dashboard's panels and side bar; the discovery below must find them all.
CORE_WIDGETS = {"SoftmaxChart", "DenseBars", "FeatureGrid", "FilterGrid", "LayerStrip", "ComparisonGrid",
                "StatsTable", "HeatmapOverlay", "ImagePicker", "LayerSelector", "ImageUpload", "ModelUpload"}
KINDS = ["sequential", "functional", "nested_mobilenet", "resnet50v2", "depthwise_separable",
         "gray28", "input96", "logits"]


def build(kind):
    """(model, has_softmax) of one kind, with fixed random weights."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(3)
    if kind == "sequential":
        return keras.Sequential([
            keras.Input((32, 32, 3)),
            layers.Conv2D(8, 3, padding="same", name="conv_a"), layers.BatchNormalization(name="bn_a"),
            layers.ReLU(name="relu_a"), layers.MaxPooling2D(name="pool_a"),
            layers.Conv2D(12, 3, padding="same", activation="relu", name="conv_b"),
            layers.Flatten(name="flatten"), layers.Dense(16, activation="relu", name="hidden"),
            layers.Dense(10, activation="softmax", name="predictions"),
        ], name="seq_cnn"), True
    if kind == "functional":
        x = inputs = keras.Input((32, 32, 3), name="image")
        left = layers.Conv2D(6, 3, padding="same", activation="relu", name="left")(x)
        right = layers.Conv2D(6, 5, padding="same", activation="relu", name="right")(x)
        x = layers.Concatenate(name="joined")([left, right])
        x = layers.Conv2D(8, 3, strides=2, activation="relu", name="conv_c")(x)
        x = layers.GlobalAveragePooling2D(name="gap")(x)
        return keras.Model(inputs, layers.Dense(10, activation="softmax", name="predictions")(x),
                           name="branches"), True
    if kind == "nested_mobilenet":
        backbone = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(32, 32, 3))
        return keras.Sequential([keras.Input((32, 32, 3)), backbone, layers.GlobalAveragePooling2D(name="gap"),
                                 layers.Dense(10, activation="softmax", name="predictions")],
                                name="transfer"), True
    if kind == "resnet50v2":
        return keras.applications.ResNet50V2(weights=None, input_shape=(64, 64, 3), classes=10), True
    if kind == "depthwise_separable":
        x = inputs = keras.Input((32, 32, 3))
        x = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(x)
        x = layers.DepthwiseConv2D(3, padding="same", activation="relu", name="depthwise")(x)
        x = layers.AveragePooling2D(2, name="avg_pool")(x)
        x = layers.SeparableConv2D(16, 3, padding="same", name="separable")(x)
        x = layers.BatchNormalization(name="separable_bn")(x)
        x = layers.ReLU(name="separable_act")(x)
        x = layers.MaxPooling2D(2, name="max_pool")(x)
        x = layers.GlobalMaxPooling2D(name="gmp")(x)
        return keras.Model(inputs, layers.Dense(10, activation="softmax", name="predictions")(x),
                           name="mobile_ops"), True
    if kind == "gray28":
        return keras.Sequential([
            keras.Input((28, 28, 1)), layers.Conv2D(8, 3, activation="relu", name="conv1"),
            layers.MaxPooling2D(name="pool1"), layers.Conv2D(16, 3, activation="relu", name="conv2"),
            layers.Flatten(name="flatten"), layers.Dense(10, activation="softmax", name="predictions"),
        ], name="gray_digits"), True
    if kind == "input96":
        return keras.Sequential([
            keras.Input((96, 96, 3)), layers.Conv2D(8, 5, strides=2, activation="relu", name="conv1"),
            layers.Conv2D(16, 3, strides=2, activation="relu", name="conv2"),
            layers.Conv2D(16, 3, activation="relu", name="conv3"),
            layers.GlobalAveragePooling2D(name="gap"), layers.Dense(10, activation="softmax", name="predictions"),
        ], name="big_input"), True
    if kind == "logits":
        return keras.Sequential([
            keras.Input((32, 32, 3)), layers.Conv2D(8, 3, activation="relu", name="conv1"),
            layers.Conv2D(8, 3, strides=2, activation="relu", name="conv2"),
            layers.Flatten(name="flatten"), layers.Dense(10, name="logits"),
        ], name="logit_cnn"), False
    raise ValueError(kind)


def calibrate_batchnorm(model, x):
    """Set every BatchNormalization's moving statistics to those of the batch ``x`` (one pass in
    training mode with momentum 0). A deep network with random weights and fresh statistics
    shrinks its activations block after block (MobileNetV2's reach 1e-8) and then predicts 1/K
    for every class, which would make the value checks below pass for any wiring."""
    import keras

    def batchnorms(m):
        for layer in m.layers:
            if isinstance(layer, keras.Model):
                yield from batchnorms(layer)
            elif isinstance(layer, keras.layers.BatchNormalization):
                yield layer

    found = list(batchnorms(model))
    momenta = [layer.momentum for layer in found]
    for layer in found:
        layer.momentum = 0.0
    model(x, training=True)
    for layer, momentum in zip(found, momenta):
        layer.momentum = momentum


@pytest.fixture(scope="module", params=KINDS)
def kind(request, cifar_test):
    """(name, model, has_softmax, images (8, H, W, C), labels, class names), built once."""
    model, softmax = build(request.param)
    images, labels, names = cifar_test
    h, w, c = (int(d) for d in model.inputs[0].shape[1:])
    calibrate_batchnorm(model, resize_images(images[1000:1064], (h, w), c).astype(np.float32) / 255.0)
    picks = np.arange(8) * 37
    return request.param, model, softmax, resize_images(images[picks], (h, w), c), labels[picks], names


def make_state(kind):
    _, model, _, images, labels, names = kind
    return ModelState(model, images, labels, names)


def probabilities_by_hand(model, softmax, images):
    """(N, K) probabilities from calling the Keras model directly on images / 255."""
    out = np.asarray(model(images.astype(np.float32) / 255.0, training=False), dtype=np.float64)
    if softmax:
        return out
    e = np.exp(out - out.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def widget_classes():
    found = {}
    for name in WIDGET_MODULES:
        module = importlib.import_module(f"cnnviz_widgets.{name}")
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, StateWidget) and cls.__module__ == module.__name__:
                found[cls_name] = cls
    return found


def decoded_pngs(widget):
    """Every non-empty PNG under ``widget``, decoded (a broken PNG fails here)."""
    out, stack = [], [widget]
    while stack:
        w = stack.pop()
        if isinstance(w, widgets.Image) and w.value:
            assert bytes(w.value[:8]) == b"\x89PNG\r\n\x1a\n"
            with Image.open(io.BytesIO(bytes(w.value))) as img:
                img.load()
                out.append(np.asarray(img.convert("RGB")))
        stack.extend(getattr(w, "children", ()))
    return out


def assert_no_error(state, what):
    assert not state.status.startswith("⚠"), f"{what}: {state.status}"


@pytest.mark.slow
def test_every_widget_renders_and_follows_selections(kind):
    state = make_state(kind)
    observers_before = _observer_counts(state)
    classes = widget_classes()
    assert CORE_WIDGETS <= set(classes)
    built = {}
    for name, cls in classes.items():
        state.status = ""
        built[name] = cls(state)
        assert_no_error(state, f"{kind[0]} · {name}")
    assert decoded_pngs(built["FeatureGrid"]) and decoded_pngs(built["HeatmapOverlay"])
    names = [i.name for i in state.layers]
    flat = [i.name for i in state.layers if len(i.shape) == 1]
    for index, layer, class_index in [(5, names[0], None), (3, flat[0], 2), (7, state.default_layer(), 9),
                                      (0, names[-1], None)]:
        state.index = index
        state.layer = layer
        state.class_index = class_index
        assert_no_error(state, f"{kind[0]} · index {index}, layer {layer}, class {class_index}")
        for widget in built.values():
            decoded_pngs(widget)
    for widget in built.values():
        widget.close()
    assert _observer_counts(state) == observers_before


def _observer_counts(state):
    counts = {trait: len(kinds.get("change", [])) for trait, kinds in state._trait_notifiers.items()}
    return {trait: n for trait, n in counts.items() if n}


def test_softmax_chart_bars_are_the_models_probabilities(kind):
    from cnnviz_widgets.widgets.charts import SoftmaxChart

    name, model, softmax, images, _, _ = kind
    state = make_state(kind)
    chart = SoftmaxChart(state)
    want = probabilities_by_hand(model, softmax, images)
    assert np.ptp(want, axis=1).min() > 0.02, "the model predicts nearly 1/K: the check would be empty"
    for i in range(len(images)):
        state.index = i
        np.testing.assert_allclose(chart.bars.y, want[i], atol=2e-5, err_msg=f"{name} image {i}")
        assert list(chart.bars.x) == list(state.class_names)
    chart.close()


def test_feature_grid_and_heatmap_show_the_selected_layer(kind):
    from cnnviz_widgets.widgets.grids import FeatureGrid
    from cnnviz_widgets.widgets.panels import HeatmapOverlay

    state = make_state(kind)
    layer = compute.last_spatial_layer(state.model)
    state.layer = layer
    grid, overlay = FeatureGrid(state), HeatmapOverlay(state)
    assert_no_error(state, kind[0])
    channels = state.inspection.outputs[layer].shape[-1]
    assert grid.n_features.max == channels
    assert all(p.ndim == 3 and p.shape[0] > 0 for p in decoded_pngs(grid))
    np.testing.assert_allclose(overlay.heat, hand_grad_cam(kind, layer, state.index, None)[0], atol=2e-3)
    overlay.mode.value = "activation"
    np.testing.assert_allclose(overlay.heat, hand_activation_map(kind, layer, state.index), atol=1e-4)
    pictures = decoded_pngs(overlay)
    assert len(pictures) == 3
    grid.close()
    overlay.close()


def _bilinear(m, size):
    return np.asarray(Image.fromarray(np.asarray(m, np.float32), "F").resize((size[1], size[0]),
                                                                                 Image.Resampling.BILINEAR))


def _cam(a, g, size):
    """Grad-CAM from activations and gradients (h, w, k), upsampled and scaled to [0, 1]."""
    cam = np.maximum((a * g.mean(axis=(0, 1))).sum(axis=-1), 0.0)
    cam = _bilinear(cam, size) if cam.shape != tuple(size) else cam
    return cam / cam.max() if cam.max() > 0 else cam


def _probe_of(kind, layer):
    """(a Keras model from the image to ``(layer's output, the last Dense's input)``, the layers
    between that model's second output and the Dense): for a layer inside the nested backbone the
    backbone itself, called on the image (it is the model's first layer)."""
    import keras

    name, model, _, _, _, _ = kind
    last = model.layers[-1]
    if "/" in layer:
        backbone, gap, _dense = model.layers
        inner = backbone.get_layer(layer.split("/", 1)[1])
        return keras.Model(backbone.inputs, [inner.output, backbone.output]), gap
    return keras.Model(model.inputs, [model.get_layer(layer).output, last.input]), (lambda out: out)


def hand_grad_cam(kind, layer, index, class_index):
    """Grad-CAM by GradientTape on the Keras model itself: ``(cam (H, W) in [0, 1], class)``."""
    import tensorflow as tf

    _, model, _, images, _, _ = kind
    last = model.layers[-1]
    probe, head = _probe_of(kind, layer)
    x = tf.constant(images[index:index + 1].astype(np.float32) / 255.0)
    with tf.GradientTape() as tape:
        a, out = probe(x, training=False)
        # The pre-softmax score of the last Dense, whether or not it fuses a softmax.
        logits = tf.matmul(head(out), last.kernel) + last.bias
        c = int(tf.argmax(logits[0])) if class_index is None else class_index
        score = logits[:, c]
    g = tape.gradient(score, a)
    return _cam(a.numpy()[0], g.numpy()[0], images.shape[1:3]), c


def hand_activation_map(kind, layer, index):
    """The channel mean of ``layer``'s output from a Keras sub-model, scaled to [0, 1] by min and max."""
    _, _, _, images, _, _ = kind
    probe, _ = _probe_of(kind, layer)
    a = np.asarray(probe(images[index:index + 1].astype(np.float32) / 255.0, training=False)[0])[0]
    m = a.astype(np.float64).mean(axis=-1)
    return (m - m.min()) / (m.max() - m.min()) if m.max() > m.min() else np.zeros_like(m)


def test_grad_cam_equals_a_hand_gradient_tape(kind):
    """Grad-CAM against GradientTape on the Keras model itself: for the nested model by calling
    the MobileNetV2 backbone inside the tape (its last convolution and its last layer with more
    than 1×1 positions), for the others at their last spatial layer."""
    name, model, softmax, images, _, _ = kind
    state = make_state(kind)
    if name == "nested_mobilenet":
        backbone = model.layers[0]
        last_conv = [layer.name for layer in backbone.layers if type(layer).__name__ in compute.CONV_CLASSES][-1]
        inner = [i.name for i in state.layers
                 if i.spatial and i.shape[0] > 1 and i.name.startswith(backbone.name + "/")][-1]
        layers = [f"{backbone.name}/{last_conv}", inner]
    else:
        layers = [compute.last_spatial_layer(model)]
    for layer in layers:
        for index, class_index in [(1, 4), (6, None)]:
            want, c = hand_grad_cam(kind, layer, index, class_index)
            got = state.grad_cam(layer, class_index, index)
            assert got.shape == images.shape[1:3]
            np.testing.assert_allclose(got, want, atol=2e-3, err_msg=f"{name} {layer} image {index} class {c}")
