"""Tests for cnnviz_widgets.compute against independent computations.

Every expected value is computed here without the code under test: layer outputs with separately
built single-output Keras models, Grad-CAM with a hand-written GradientTape on a hand-built logits
model, statistics and confusion matrices with NumPy. The trained model and real CIFAR-10 images
are used for integration; tiny models built in this module cover nested and unusual models.
"""
from __future__ import annotations

import keras
import numpy as np
import pytest
from references import hand_grad_cam

from cnnviz_widgets import compute

GUIDE_LAYERS = [
    "conv1", "conv1_bn", "conv1_act", "conv2", "conv2_bn", "conv2_act",
    "conv3", "conv3_bn", "conv3_act", "conv4", "conv4_bn", "conv4_act",
    "flatten", "dense1", "dense1_bn", "dense1_act", "dense1_dropout", "predictions",
]


def _x(cifar_test, index: int) -> np.ndarray:
    """Image ``index`` of the real test set as the model sees it: float32 (32, 32, 3) in [0, 1]."""
    return cifar_test[0][index].astype(np.float32) / 255.0


def _layer_names(model) -> list:
    return [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def _softmax(z) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# =========================================================================== layer outputs

def test_layer_outputs_equal_single_output_models(cifar_model, cifar_test):
    x = _x(cifar_test, 7)
    outputs = compute.layer_outputs(cifar_model, x)
    assert list(outputs) == _layer_names(cifar_model) == GUIDE_LAYERS
    for name in GUIDE_LAYERS:
        probe = keras.Model(cifar_model.input, cifar_model.get_layer(name).output)
        # A direct call in inference mode: the same numbers as ``predict`` without its
        # per-model tracing, which would cost most of a second per layer.
        expected = probe(x[None], training=False).numpy()[0]
        assert outputs[name].shape == expected.shape, name
        np.testing.assert_allclose(outputs[name], expected, atol=1e-5, err_msg=name)


def _small_sequential_backbone():
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(4, 3, name="c1"),
        keras.layers.ReLU(name="r1"),
        keras.layers.Conv2D(6, 3, strides=2, name="c2"),
        keras.layers.BatchNormalization(name="bn"),
    ], name="seq_backbone")


def _small_functional_backbone():
    inp = keras.Input((32, 32, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inp)
    b = keras.layers.Conv2D(4, 1, name="skip")(inp)
    y = keras.layers.Add(name="add")([a, b])
    y = keras.layers.LeakyReLU(negative_slope=0.1, name="act")(y)
    y = keras.layers.MaxPooling2D(name="pool")(y)
    return keras.Model(inp, y, name="fn_backbone")


def _check_unrolled(model, backbone, x, outer_names):
    """Inner outputs equal the backbone called on the input directly; outer ones equal the
    outer layers applied by hand; the final scores equal the model's own output."""
    inspector = compute.Inspector.for_model(model)
    outputs, logits = inspector.run(x)
    inner = _layer_names(backbone)
    prefix = backbone.name + "/"
    assert set(outputs) == {prefix + n for n in inner} | set(outer_names)
    probe = keras.Model(backbone.inputs[0], [backbone.get_layer(n).output for n in inner])
    expected = probe(x[None], training=False)
    for name, value in zip(inner, expected):
        np.testing.assert_allclose(outputs[prefix + name], value.numpy()[0], atol=1e-5, rtol=1e-5,
                                   err_msg=name)
    h = backbone(x[None], training=False)
    for name in outer_names:
        h = model.get_layer(name)(h, training=False)
        np.testing.assert_allclose(outputs[name], h.numpy()[0], atol=1e-5, rtol=1e-5, err_msg=name)
    return inspector, logits


@pytest.mark.parametrize("make_backbone", [_small_sequential_backbone, _small_functional_backbone])
def test_nested_backbone_in_a_sequential(make_backbone, cifar_test):
    keras.utils.set_random_seed(3)
    backbone = make_backbone()
    model = keras.Sequential([
        keras.Input((32, 32, 3)),
        backbone,
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(5, name="head"),
    ])
    x = _x(cifar_test, 3)
    inspector, logits = _check_unrolled(model, backbone, x, ["gap", "head"])
    assert not inspector.has_softmax
    np.testing.assert_allclose(logits, model(x[None]).numpy()[0], atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_nested_mobilenet_in_a_functional_model(cifar_test):
    keras.utils.set_random_seed(4)
    backbone = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), include_top=False)
    inp = keras.Input((32, 32, 3))
    y = keras.layers.GlobalAveragePooling2D(name="gap")(backbone(inp))
    out = keras.layers.Dense(10, activation="softmax", name="head")(y)
    model = keras.Model(inp, out)
    x = _x(cifar_test, 11)
    inspector, logits = _check_unrolled(model, backbone, x, ["gap", "head"])
    assert inspector.has_softmax
    np.testing.assert_allclose(inspector.probabilities(logits), model(x[None]).numpy()[0], atol=1e-5)
    # The last spatial layer of a MobileNetV2 on 32×32 inputs is 1×1, so Grad-CAM's default
    # layer is an earlier one that still has a 2-D extent.
    last = compute.last_spatial_layer(model)
    shape = inspector.check_layer(last, spatial=True).shape
    assert shape[0] > 1 and shape[1] > 1 and last.startswith(backbone.name + "/")


# =========================================================================== Grad-CAM

@pytest.fixture(scope="module")
def cam_index(cifar_model, cifar_test):
    """A real test image whose Grad-CAM for the predicted class is far from flat, so that the
    comparisons below cannot pass by two all-zero maps agreeing."""
    for index in range(50):
        x = _x(cifar_test, index)
        predicted = int(np.argmax(cifar_model(x[None], training=False).numpy()[0]))
        cam, _ = hand_grad_cam(cifar_model, x, predicted, "conv4_act")
        if cam.max() == pytest.approx(1.0) and cam.std() > 0.05:
            return index
    pytest.fail("no image among the first 50 has a non-flat Grad-CAM for its predicted class")


@pytest.mark.parametrize("layer", [None, "conv2_act"])
@pytest.mark.parametrize("which", ["predicted", "other"])
def test_grad_cam_equals_hand_written_gradient_tape(cifar_model, cifar_test, cam_index, layer, which):
    x = _x(cifar_test, cam_index)
    probs = cifar_model(x[None], training=False).numpy()[0]
    predicted = int(np.argmax(probs))
    c = predicted if which == "predicted" else (predicted + 3) % 10
    expected, logits = hand_grad_cam(cifar_model, x, c, layer or "conv4_act")
    # The hand-built logits are the model's own pre-softmax scores.
    np.testing.assert_allclose(_softmax(logits), probs, atol=1e-5)
    got = compute.grad_cam(cifar_model, x, None if which == "predicted" else c, layer)
    assert got.shape == (32, 32) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert got.min() >= 0.0 and got.max() <= 1.0


@pytest.mark.parametrize("bad", [10, -1, 99])
def test_grad_cam_class_index_out_of_range(cifar_model, cifar_test, bad):
    with pytest.raises(ValueError, match=r"class index -?\d+ is out of range 0\.\.9"):
        compute.grad_cam(cifar_model, _x(cifar_test, 0), class_index=bad)


def test_grad_cam_refuses_a_layer_without_spatial_output(cifar_model, cifar_test):
    with pytest.raises(ValueError) as err:
        compute.grad_cam(cifar_model, _x(cifar_test, 0), layer_name="dense1_act")
    message = str(err.value)
    assert "'dense1_act'" in message and "conv4_act" in message
    listed = message.split("layers are:")[1]
    assert "dense1" not in listed and "flatten" not in listed


# =========================================================================== predict

def test_predict_equals_the_models_probabilities(cifar_model, cifar_test):
    for index in (0, 1, 2):
        x = _x(cifar_test, index)
        probs, predicted = compute.predict(cifar_model, x)
        expected = cifar_model(x[None], training=False).numpy()[0]
        np.testing.assert_allclose(probs, expected, atol=1e-5)
        assert predicted == int(np.argmax(expected))


@pytest.fixture(scope="module")
def logits_model():
    """A tiny image classifier that ends in raw scores (no softmax)."""
    keras.utils.set_random_seed(5)
    return keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(3, 3, activation="relu", name="c"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(4, name="scores"),
    ])


def test_predict_applies_softmax_to_a_logits_model(logits_model):
    x = np.random.default_rng(0).random((8, 8, 3), dtype=np.float32) * 4
    probs, predicted = compute.predict(logits_model, x)
    scores = logits_model(x[None]).numpy()[0]
    np.testing.assert_allclose(probs, _softmax(scores), atol=1e-6)
    assert probs.sum() == pytest.approx(1.0, abs=1e-6)
    assert predicted == int(np.argmax(scores))
    assert not compute.Inspector.for_model(logits_model).has_softmax


# =========================================================================== stats, filters, names

def test_layer_stats_equal_numpy_on_a_real_layer(cifar_model, cifar_test):
    a = compute.layer_outputs(cifar_model, _x(cifar_test, 5))["conv2_act"]
    stats = compute.layer_stats(a)
    assert stats["shape"] == (16, 16, 32)
    assert stats["mean"] == pytest.approx(float(np.mean(a)), rel=1e-5, abs=1e-6)
    assert stats["std"] == pytest.approx(float(np.std(a)), rel=1e-5, abs=1e-6)
    assert stats["min"] == float(np.min(a))
    assert stats["max"] == float(np.max(a))
    assert stats["sparsity"] == pytest.approx(float(np.mean(a <= 0.01)))


def test_layer_stats_of_known_values():
    stats = compute.layer_stats(np.array([[-1.0, 0.0, 0.01], [0.02, 2.0, 5.0]]))
    assert stats["shape"] == (2, 3)
    assert stats["mean"] == pytest.approx(6.03 / 6)
    assert stats["min"] == -1.0 and stats["max"] == 5.0
    # -1, 0 and exactly 0.01 count as inactive; 0.02 does not.
    assert stats["sparsity"] == pytest.approx(3 / 6)


def test_conv_filters_equal_the_layer_weights(cifar_model):
    for name in ("conv1", "conv2", "conv3", "conv4"):
        kernel, bias = compute.conv_filters(cifar_model, name)
        expected_kernel, expected_bias = cifar_model.get_layer(name).get_weights()
        np.testing.assert_array_equal(kernel, expected_kernel)
        np.testing.assert_array_equal(bias, expected_bias)
    assert compute.conv_filters(cifar_model, "conv1")[0].shape == (3, 3, 3, 32)


def test_conv_filters_of_a_non_conv_layer_lists_the_conv_layers(cifar_model):
    with pytest.raises(ValueError, match=r"conv layers are: conv1, conv2, conv3, conv4"):
        compute.conv_filters(cifar_model, "dense1")


def test_layer_names_of_the_guides_cnn(untrained_cnn):
    assert compute.conv_stages(untrained_cnn) == ["conv1_act", "conv2_act", "conv3_act", "conv4_act"]
    groups = compute.layers_by_kind(untrained_cnn)
    assert [i.name for i in groups["conv"]] == ["conv1", "conv2", "conv3", "conv4"]
    assert [i.name for i in groups["dense"]] == ["dense1", "predictions"]
    assert [i.name for i in groups["other"]] == [
        n for n in GUIDE_LAYERS if n not in ("conv1", "conv2", "conv3", "conv4", "dense1", "predictions")]
    assert compute.last_spatial_layer(untrained_cnn) == "conv4_act"
    shapes = {i.name: i.shape for i in compute.layer_table(untrained_cnn)}
    assert shapes["conv2_act"] == (16, 16, 32) and shapes["flatten"] == (4096,)


def test_wrong_layer_name_lists_the_valid_layers(cifar_model):
    with pytest.raises(ValueError) as err:
        compute.conv_filters(cifar_model, "conv9")
    message = str(err.value)
    assert "'conv9'" in message
    assert "layers are: " + ", ".join(GUIDE_LAYERS) in message
    with pytest.raises(ValueError, match="layers are: conv1, conv1_bn"):
        compute.Inspector.for_model(cifar_model).check_layer("nope")


# =========================================================================== whole data set

def test_confusion_matrix_on_500_real_images(cifar_model, cifar_test):
    images, labels, _ = cifar_test
    images, labels = images[:500], labels[:500]
    cm = compute.confusion_matrix(cifar_model, images, labels, batch_size=200)
    predicted = cifar_model.predict(images.astype(np.float32) / 255.0, batch_size=250, verbose=0).argmax(axis=1)
    expected = np.zeros((10, 10), dtype=np.int64)
    for t, p in zip(labels, predicted):
        expected[t, p] += 1
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, expected)
    assert cm.sum() == 500


# =========================================================================== refusing models

def test_check_image_model_refuses_two_inputs():
    a, b = keras.Input((32, 32, 3)), keras.Input((32, 32, 3))
    y = keras.layers.Concatenate()([keras.layers.Flatten()(a), keras.layers.Flatten()(b)])
    model = keras.Model([a, b], keras.layers.Dense(2)(y))
    with pytest.raises(ValueError, match="2 inputs; cnnviz shows models with one image input"):
        compute.check_image_model(model)


def test_check_image_model_refuses_a_non_image_input():
    model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match=r"input has shape \(None, 20\); cnnviz needs an image input"):
        compute.check_image_model(model)


def test_check_image_model_refuses_non_models():
    with pytest.raises(ValueError, match="expected a Keras model, got str"):
        compute.check_image_model("model.keras")


def test_count_confusions_counts_like_a_loop_and_leaves_out_unknown_classes():
    rng = np.random.default_rng(3)
    probs = rng.random((200, 4))
    labels = rng.integers(-1, 4, 200)
    expected = np.zeros((4, 4), np.int64)
    for p, t in zip(probs, labels):
        if t >= 0:
            expected[t, int(np.argmax(p))] += 1
    cm = compute.count_confusions(probs, labels)
    assert cm.dtype == np.int64 and np.array_equal(cm, expected)
    assert cm.sum() == (labels >= 0).sum() < 200
