"""Tests of ConvolutionAnimation: every number it shows against plain Keras sub-models
(``keras.Model(model.inputs, model.get_layer(name).output)``), on the shipped model and on a small
model with stride-2 'same' convolutions whose padding is uneven."""
from __future__ import annotations

import io

import keras
import numpy as np
import pytest
from helpers import observer_count
from PIL import Image

from cnnviz_widgets import ConvolutionAnimation, compute
from cnnviz_widgets.state import ModelState
from cnnviz_widgets.widgets import conv_animation


def real_output(model, name, x) -> np.ndarray:
    """Layer ``name``'s output for one preprocessed image x (H, W, C), from a plain sub-model."""
    sub = keras.Model(model.inputs[0], model.get_layer(name).output)
    return np.asarray(sub(x[None], training=False))[0]


@pytest.fixture
def animation(st):
    before = observer_count(st)
    panel = ConvolutionAnimation(st)
    yield panel
    panel.close()
    assert observer_count(st) == before


@pytest.fixture(scope="module")
def stride2_model():
    """Two stride-2 'same' convolutions: a 3×3 one on 32 rows pads one zero row after and none
    before; a 4×4 one on 16 rows pads one before and one after. BatchNorm with learned-looking
    statistics and a ReLU after the first, a fused ReLU in the second."""
    keras.utils.set_random_seed(5)
    model = keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(5, 3, strides=2, padding="same", name="a"),
        keras.layers.BatchNormalization(name="a_bn"),
        keras.layers.ReLU(name="a_act"),
        keras.layers.Conv2D(3, 4, strides=2, padding="same", activation="relu", name="b"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(10, activation="softmax", name="out"),
    ])
    rng = np.random.default_rng(5)
    bn = model.get_layer("a_bn")
    bn.set_weights([rng.uniform(0.5, 2, 5), rng.normal(size=5), rng.normal(0, 0.3, 5), rng.uniform(0.2, 3, 5)])
    return model


def check_positions(panel, model, x, layer, stage, channel, positions):
    """At each position the panel's numbers equal the sub-models' outputs of the conv and of every
    stage layer after it; the sum is the conv's output minus its bias."""
    panel.layer.value = layer
    panel.channel.value = channel
    real = {name: real_output(model, name, x) for name in stage}
    bias = float(model.get_layer(layer).get_weights()[1][channel])
    w = real[layer].shape[1]
    for position in positions:
        panel.position.value = position
        row, col = divmod(position, w)
        r = panel.result
        assert (r["row"], r["col"], r["channel"]) == (row, col, channel)
        assert r["stage"] == stage
        assert r["bias"] == pytest.approx(bias)
        assert r["sum"] == pytest.approx(float(real[layer][row, col, channel]) - bias, abs=1e-4)
        assert r["z"] == pytest.approx(float(real[layer][row, col, channel]), abs=1e-4)
        for step, name in zip(r["steps"][-(len(stage) - 1):] if len(stage) > 1 else [], stage[1:]):
            assert step["output"] == pytest.approx(float(real[name][row, col, channel]), abs=1e-4)
        assert r["value"] == pytest.approx(float(real[stage[-1]][row, col, channel]), abs=1e-4)
        assert f"{r['sum']:.4f}</b>" in panel.equation.value and "✓ the same" in panel.equation.value
    assert panel.state.status == ""


@pytest.mark.parametrize("layer, channel", [("conv1", 5), ("conv2", 31), ("conv4", 17)])
def test_every_step_equals_the_shipped_models_own_layers(animation, cifar_model, layer, channel):
    st = animation.state
    st.index = 21
    x = st.images[21].astype(np.float32) / 255.0
    h, w = cifar_model.get_layer(layer).output.shape[1:3]
    # The four corners ('same' padding reads zeros there), two edges and an inner position.
    positions = [0, w - 1, (h - 1) * w, h * w - 1, w // 2, (h // 2) * w, (h // 2) * w + w // 2 + 1]
    check_positions(animation, cifar_model, x, layer, [layer, f"{layer}_bn", f"{layer}_act"], channel, positions)
    assert animation.position.max == h * w - 1 and animation.play.max == h * w - 1
    # The corners of a stride-1 layer read padding; its window at (0, 0) starts one row and column out.
    animation.position.value = 0
    assert animation.result["padded"].any() == (layer == "conv1")


def test_a_stride_2_model_with_uneven_padding(cifar_test, stride2_model):
    images, labels, names = cifar_test
    state = ModelState(stride2_model, images[:20], labels[:20], names)
    state.index = 3
    panel = ConvolutionAnimation(state)
    try:
        assert panel.layer.options == ("a", "b")
        x = images[3].astype(np.float32) / 255.0
        # 16×16 outputs; the last row and column of "a" read the zero row and column after the image.
        check_positions(panel, stride2_model, x, "a", ["a", "a_bn", "a_act"], 4, [0, 15, 240, 17, 100, 255])
        padded = panel.result["padded"]
        assert padded[-1, :].all() and padded[:, -1].all() and not padded[:2, :2].any()
        panel.position.value = 0                 # nothing is padded before the image
        assert not panel.result["padded"].any()
        check_positions(panel, stride2_model, x, "b", ["b"], 2, [0, 7, 56, 63, 27])
        assert panel.result["pad"] == (1, 1)
    finally:
        panel.close()


def test_controls_step_play_and_speed(animation):
    a = animation
    a.layer.value = "conv2"
    assert a.layer.value == "conv2" and a.position.value == 0
    a.back.click()
    assert a.position.value == 0
    a.forward.click()
    a.forward.click()
    assert a.position.value == 2 and (a.result["row"], a.result["col"]) == (0, 2)
    a.position.value = a.position.max
    a.forward.click()
    assert a.position.value == a.position.max == 255
    a.back.click()
    assert (a.result["row"], a.result["col"]) == (15, 14)
    # The player drives the slider in the browser.
    assert (a.link.source, a.link.target) == ((a.play, "value"), (a.position, "value"))
    for _, ms in conv_animation.SPEEDS:
        a.speed.value = ms
        assert a.play.interval == ms
    # A new layer starts again at the first position with its own bounds.
    a.layer.value = "conv3"
    assert a.position.value == 0 and a.position.max == a.play.max == 255 and a.channel.max == 63
    assert len(a.view.options) == 33


def test_one_render_per_step_and_the_output_map_fills_in(animation, monkeypatch):
    a = animation
    calls = []
    real = compute.conv_arithmetic
    monkeypatch.setattr(compute, "conv_arithmetic", lambda *args, **kw: calls.append(args) or real(*args, **kw))
    a.forward.click()
    assert len(calls) == 1
    a.position.value = 40                     # conv1: 32 columns, so output row 1, column 8
    assert len(calls) == 2 and calls[-1][4:6] == (1, 8)
    assert "Position 40</b> of 0–1023: output row 1, column 8" in a.caption.value
    img = np.asarray(Image.open(io.BytesIO(a.output_image.value)).convert("RGB"))
    factor = img.shape[0] // 32
    cells = img[factor // 2::factor, factor // 2::factor][:32, :32]
    grey = (cells == conv_animation.TODO_GREY).all(axis=2)
    # Positions 0..40 are filled in, the 1024 − 41 after them are grey.
    assert grey.sum() == 1024 - 41
    assert not grey.reshape(-1)[:41].any() and grey.reshape(-1)[41:].all()
    # A new image: one render, the same position.
    a.state.index = 5
    assert len(calls) == 3 and a.position.value == 40
    assert a.state.status == ""


def test_input_channel_view_shows_that_channels_numbers(animation):
    a = animation
    a.layer.value = "conv3"
    a.position.value = 17
    a.view.value = 7
    r = a.result
    html = a.tables.value
    assert "input channel 7" in html
    for v in r["kernel"][:, :, 7].ravel():
        assert conv_animation.signed(v) in html
    a.view.value = -1
    assert "summed over all 32 input channels" in a.tables.value
