"""Tests of the teaching computations (cnnviz_widgets.compute) and of training (cnnviz_widgets.train):
gradient ascent, conv arithmetic, top images, training.

Expected values are computed independently: plain Keras sub-models (``model.get_layer(...).output``),
``np.pad`` for the convolution window, NumPy for means and orderings.
"""
from __future__ import annotations

import keras
import numpy as np
import pytest

from cnnviz_widgets import compute, train
from cnnviz_widgets.loading.shipped_model import build_cifar_cnn

# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def subset(cifar_test):
    """The first 500 CIFAR-10 test images, their labels and the class names."""
    images, labels, names = cifar_test
    return images[:500], labels[:500], names


@pytest.fixture(scope="module")
def nested_model():
    """A small model with a nested backbone: valid padding, stride 2, a fused ReLU, BatchNorm with
    non-trivial statistics, an Activation layer, then a 'same' conv with a ReLU layer."""
    keras.utils.set_random_seed(3)
    backbone = keras.Sequential([
        keras.Input((12, 12, 3)),
        keras.layers.Conv2D(5, 3, strides=2, padding="valid", activation="relu", name="c1"),
        keras.layers.BatchNormalization(name="c1_bn"),
        keras.layers.Activation("tanh", name="c1_act"),
    ], name="backbone")
    inputs = keras.Input((12, 12, 3))
    x = backbone(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", name="c2")(x)
    x = keras.layers.ReLU(negative_slope=0.1, name="c2_act")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(3, name="logits")(x)
    model = keras.Model(inputs, outputs)
    bn = backbone.get_layer("c1_bn")
    rng = np.random.default_rng(0)
    bn.set_weights([rng.uniform(0.5, 2.0, 5), rng.normal(0, 0.3, 5), rng.normal(0, 0.5, 5),
                    rng.uniform(0.2, 3.0, 5)])
    return model


def _real_output(model, layer, x):
    """A layer's output from a plain Keras sub-model of the original (not the unrolled) graph."""
    sub = keras.Model(model.inputs[0], model.get_layer(layer).output)
    return np.asarray(sub(x[None], training=False))[0]


def _expected_window(conv_input, kh, kw, stride, row, col, pad_top, pad_left):
    padded = np.pad(conv_input, ((pad_top, kh), (pad_left, kw), (0, 0)))
    r, c = row * stride, col * stride
    return padded[r:r + kh, c:c + kw]


# --------------------------------------------------------------------------- conv arithmetic

POSITIONS = [(0, 0), (0, -1), (-1, 0), (-1, -1), (7, 3)]


@pytest.mark.parametrize("layer, stride", [("conv2_act", 2), ("conv3", 1), ("conv1_bn", 1), ("conv4_act", 2)])
def test_conv_arithmetic_ends_at_the_real_activation(cifar_model, cifar_test, layer, stride):
    images, _, _ = cifar_test
    x = images[7].astype(np.float32) / 255.0
    conv = layer.split("_")[0]
    stage_end = f"{conv}_act"
    h, w, c = cifar_model.get_layer(conv).output.shape[1:]
    kernel, bias = (np.asarray(v) for v in cifar_model.get_layer(conv).weights)
    previous = {"conv1": None, "conv2": "conv1_act", "conv3": "conv2_act", "conv4": "conv3_act"}[conv]
    conv_input = x if previous is None else _real_output(cifar_model, previous, x)
    in_h = conv_input.shape[0]
    # TensorFlow's 'same' padding puts the odd extra row at the bottom.
    pad = max((h - 1) * stride + 3 - in_h, 0) // 2
    real_z = _real_output(cifar_model, conv, x)
    real_bn = _real_output(cifar_model, f"{conv}_bn", x)
    real_act = _real_output(cifar_model, stage_end, x)
    for k, (row, col) in enumerate(POSITIONS):
        row, col = row % h, col % w
        channel = (5 * k + 3) % c
        r = compute.conv_arithmetic(cifar_model, x, layer, channel, row, col)
        assert r["stage"] == [conv, f"{conv}_bn", stage_end]
        assert r["strides"] == (stride, stride)
        window = _expected_window(conv_input, 3, 3, stride, row, col, pad, pad)
        np.testing.assert_allclose(r["window"], window, atol=1e-6)
        np.testing.assert_allclose(r["kernel"], kernel[:, :, :, channel])
        np.testing.assert_allclose(r["products"], window * kernel[:, :, :, channel], atol=1e-6)
        assert r["sum"] == pytest.approx(float((window.astype(np.float64) * kernel[:, :, :, channel]).sum()), abs=1e-5)
        assert r["bias"] == pytest.approx(float(bias[channel]))
        assert r["z"] == pytest.approx(float(real_z[row, col, channel]), abs=1e-5)
        assert r["steps"][0]["output"] == pytest.approx(float(real_bn[row, col, channel]), abs=1e-5)
        assert r["value"] == pytest.approx(float(real_act[row, col, channel]), abs=1e-5)
        assert r["layer_outputs"][stage_end] == pytest.approx(float(real_act[row, col, channel]), abs=1e-6)
        assert r["input_layer"] == (previous or "input")
    # The corner positions of a 'same' stride-1 conv read zero padding; stride 2 on an even size does
    # not pad the top-left at all.
    first = compute.conv_arithmetic(cifar_model, x, layer, 0, 0, 0)
    assert first["padded"].any() == (stride == 1)


def test_conv_arithmetic_nested_valid_padding_and_other_activations(nested_model):
    rng = np.random.default_rng(1)
    x = rng.random((12, 12, 3)).astype(np.float32)
    backbone = nested_model.get_layer("backbone")
    sub = keras.Model(backbone.inputs[0], [backbone.get_layer(n).output for n in ("c1", "c1_bn", "c1_act")])
    c1, c1_bn, c1_act = (np.asarray(v)[0] for v in sub(x[None], training=False))
    for row, col, ch in [(0, 0, 0), (4, 4, 4), (2, 3, 1)]:
        r = compute.conv_arithmetic(nested_model, x, "backbone/c1_bn", ch, row, col)
        assert r["stage"] == ["backbone/c1", "backbone/c1_bn", "backbone/c1_act"]
        assert not r["padded"].any()
        np.testing.assert_allclose(r["window"], x[2 * row:2 * row + 3, 2 * col:2 * col + 3], atol=1e-7)
        assert [s["class_name"] for s in r["steps"]] == ["activation", "BatchNormalization", "Activation"]
        assert r["steps"][0]["output"] == pytest.approx(float(c1[row, col, ch]), abs=1e-5)
        assert r["steps"][1]["output"] == pytest.approx(float(c1_bn[row, col, ch]), abs=1e-5)
        assert r["value"] == pytest.approx(float(c1_act[row, col, ch]), abs=1e-5)
    outer = compute.layer_outputs(nested_model, x)
    for row, col, ch in [(0, 0, 0), (4, 4, 3), (0, 4, 2)]:
        r = compute.conv_arithmetic(nested_model, x, "c2", ch, row, col)
        assert r["input_layer"] == "backbone/c1_act"
        assert r["steps"][-1]["params"]["negative_slope"] == pytest.approx(0.1)
        assert r["value"] == pytest.approx(float(outer["c2_act"][row, col, ch]), abs=1e-5)


def test_conv_arithmetic_refuses_bad_positions_and_layers(cifar_model, cifar_test):
    x = cifar_test[0][0].astype(np.float32) / 255.0
    with pytest.raises(ValueError, match=r"row 16 is out of range 0\.\.15"):
        compute.conv_arithmetic(cifar_model, x, "conv2_act", 0, 16, 0)
    with pytest.raises(ValueError, match=r"column -1 is out of range 0\.\.31"):
        compute.conv_arithmetic(cifar_model, x, "conv1", 0, 0, -1)
    with pytest.raises(ValueError, match=r"channel 64 is out of range 0\.\.63"):
        compute.conv_arithmetic(cifar_model, x, "conv4_act", 64, 0, 0)
    with pytest.raises(ValueError, match="conv stages are: conv1_act, conv2_act"):
        compute.conv_arithmetic(cifar_model, x, "flatten", 0, 0, 0)
    with pytest.raises(ValueError, match="not found"):
        compute.conv_arithmetic(cifar_model, x, "conv9", 0, 0, 0)
    assert compute.stage_of(cifar_model, "conv3_bn") == ["conv3", "conv3_bn", "conv3_act"]
    assert compute.stage_of(cifar_model, "conv1") == ["conv1", "conv1_bn", "conv1_act"]
    # Flatten ends the last stage; a dense layer starts a stage that is not a convolution.
    for name in ("flatten", "dense1_act", "predictions"):
        with pytest.raises(ValueError, match=f"layer '{name}' is not part of a conv stage; conv stages "
                                             "are: conv1_act, conv2_act, conv3_act, conv4_act"):
            compute.stage_of(cifar_model, name)


# --------------------------------------------------------------------------- gradient ascent

@pytest.mark.parametrize("layer", ["conv2_act", "conv4_act"])
def test_maximize_activation_excites_the_channel(cifar_model, layer):
    rng = np.random.default_rng(5)
    noise = rng.random((10, 32, 32, 3)).astype(np.float32)
    sub = keras.Model(cifar_model.inputs[0], cifar_model.get_layer(layer).output)
    random_means = np.asarray(sub(noise, training=False)).mean(axis=(1, 2))
    ratios = []
    for channel in range(6):
        calls = []
        img = compute.maximize_activation(cifar_model, layer, channel, steps=64,
                                           progress=lambda s, t, calls=calls: calls.append((s, t)))
        assert img.shape == (32, 32, 3) and img.dtype == np.float32
        assert img.min() >= 0.0 and img.max() <= 1.0
        assert calls == [(s, 64) for s in range(1, 65)]
        achieved = float(np.asarray(sub(img[None], training=False))[0, :, :, channel].mean())
        baseline = random_means[:, channel]
        # Every channel beats the best of ten uniform-noise images clearly...
        assert achieved > float(baseline.max()) + 3 * float(baseline.std())
        ratios.append(achieved / max(float(baseline.mean()), 1e-3))
    # ...and typically by far more than three times their mean.
    assert np.median(ratios) > 3.0


def test_maximize_activation_is_seeded_cancellable_and_works_nested(nested_model):
    a = compute.maximize_activation(nested_model, "backbone/c1_act", 2, steps=8, seed=4)
    b = compute.maximize_activation(nested_model, "backbone/c1_act", 2, steps=8, seed=4)
    c = compute.maximize_activation(nested_model, "backbone/c1_act", 2, steps=8, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    start = compute.start_noise((12, 12, 3), (0.0, 1.0), 4)
    # Measured with the backbone itself (its output is c1_act).
    backbone = nested_model.get_layer("backbone")
    means = np.asarray(backbone(np.stack([a, start]), training=False)).mean(axis=(1, 2))[:, 2]
    assert means[0] > means[1]
    # [-1, 1] inputs stay in range.
    d = compute.maximize_activation(nested_model, "c2_act", 0, steps=8, value_range=(-1.0, 1.0))
    assert d.min() >= -1.0 and d.max() <= 1.0 and d.min() < 0.0

    class Stop(Exception):
        pass

    seen = []

    def progress(step, steps):
        seen.append(step)
        if step == 3:
            raise Stop()

    with pytest.raises(Stop):
        compute.maximize_activation(nested_model, "c2", 1, steps=50, progress=progress)
    assert seen == [1, 2, 3]
    with pytest.raises(ValueError, match=r"channel 4 is out of range 0\.\.3"):
        compute.maximize_activation(nested_model, "c2", 4)


# --------------------------------------------------------------------------- top images

def test_top_images_are_the_highest_mean_activations(cifar_model, subset):
    images, _, _ = subset
    sub = keras.Model(cifar_model.inputs[0], cifar_model.get_layer("conv3_act").output)
    expected_means = np.asarray(sub.predict(images.astype(np.float32) / 255.0, verbose=0)).mean(axis=(1, 2))
    calls = []
    top = compute.top_images(cifar_model, images, "conv3_act", 17, k=9, batch_size=200,
                              progress=lambda d, t: calls.append((d, t)))
    assert calls == [(200, 500), (400, 500), (500, 500)]
    np.testing.assert_array_equal(top, np.argsort(-expected_means[:, 17], kind="stable")[:9])
    assert np.all(np.diff(expected_means[top, 17]) <= 1e-6)
    other = compute.top_images(cifar_model, images, "conv3_act", 40, k=4)
    np.testing.assert_array_equal(other, np.argsort(-expected_means[:, 40], kind="stable")[:4])
    means = compute.layer_channel_means(cifar_model, images, "conv3_act")
    np.testing.assert_allclose(means, expected_means, rtol=1e-4, atol=1e-5)


def test_top_images_of_a_dense_layer_and_bad_channel(cifar_model, subset):
    images = subset[0][:60]
    sub = keras.Model(cifar_model.inputs[0], cifar_model.get_layer("dense1_act").output)
    expected = np.asarray(sub(images.astype(np.float32) / 255.0, training=False))
    top = compute.top_images(cifar_model, images, "dense1_act", 5, k=3)
    np.testing.assert_array_equal(top, np.argsort(-expected[:, 5], kind="stable")[:3])
    with pytest.raises(ValueError, match=r"channel 128 is out of range 0\.\.127"):
        compute.top_images(cifar_model, images, "dense1_act", 128)


# --------------------------------------------------------------------------- confidence, training

def test_confidence_examples_match_numpy():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(4) * 0.5, size=200)
    labels = rng.integers(0, 4, 200)
    ex = compute.confidence_examples(probs, labels)
    pred, conf = probs.argmax(1), probs.max(1)
    right, wrong = np.flatnonzero(pred == labels), np.flatnonzero(pred != labels)
    assert ex == {"confident_right": int(right[np.argmax(conf[right])]),
                  "unsure_right": int(right[np.argmin(conf[right])]),
                  "confident_wrong": int(wrong[np.argmax(conf[wrong])])}
    all_right = compute.confidence_examples(np.eye(3), [0, 1, 2])
    assert all_right["confident_wrong"] is None
    # An image of unknown class (-1) is neither right nor wrong.
    unknown = labels.copy()
    unknown[::3] = -1
    ex = compute.confidence_examples(probs, unknown)
    right, wrong = np.flatnonzero(pred == unknown), np.flatnonzero((pred != unknown) & (unknown >= 0))
    assert ex == {"confident_right": int(right[np.argmax(conf[right])]),
                  "unsure_right": int(right[np.argmin(conf[right])]),
                  "confident_wrong": int(wrong[np.argmax(conf[wrong])])}
    assert compute.confidence_examples(np.eye(3)[[1, 0, 2]], [-1, -1, 2])["confident_wrong"] is None


def test_guide_architecture_and_copy(cifar_model, nested_model):
    assert train.guide_architecture(cifar_model)
    assert train.guide_architecture(build_cifar_cnn(dropout=0.1))
    assert not train.guide_architecture(nested_model)
    copy = train.copy_guide_model(cifar_model)
    assert copy is not cifar_model
    for a, b in zip(copy.get_weights(), cifar_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="not this dashboard's CNN"):
        train.copy_guide_model(nested_model)


@pytest.mark.slow
def test_train_epochs_reports_each_epoch_and_stops(subset):
    images, labels, _ = subset
    keras.utils.set_random_seed(0)
    model = build_cifar_cnn()
    before = [w.copy() for w in model.get_weights()]
    epochs, batches = [], []
    # should_stop is checked after every batch: it turns True after the first batch of the second
    # epoch, so training ends there; the cut-short second epoch is not reported as an epoch.
    out = train.train_epochs(model, images[:128], labels[:128], epochs=3, batch_size=64, augment=True,
                                test=(images[128:192], labels[128:192]),
                                on_epoch=lambda e, logs: epochs.append((e, logs)),
                                on_batch=lambda b, n: batches.append((b, n)),
                                should_stop=lambda: len(batches) >= 3)
    assert out is model
    assert [e for e, _ in epochs] == [0]
    assert set(epochs[0][1]) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert 0.0 <= epochs[0][1]["val_accuracy"] <= 1.0 and epochs[0][1]["loss"] > 0
    assert batches == [(1, 2), (2, 2), (1, 2)]
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    with pytest.raises(ValueError, match="as many labels as images"):
        train.train_epochs(model, images[:10], labels[:9], epochs=1)
