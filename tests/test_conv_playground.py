"""Tests of ConvPlayground: its numbers against real Keras layers, its picture read back pixel by pixel."""
from __future__ import annotations

import io
import re

import keras
import numpy as np
import pytest
from helpers import observer_count
from PIL import Image

from cnnviz_widgets import ConvPlayground
from cnnviz_widgets.widgets import conv_playground


@pytest.fixture
def playground(st):
    before = observer_count(st)
    panel = ConvPlayground(st)
    yield panel
    panel.close()
    assert observer_count(st) == before


def shown_params(panel) -> int:
    return int(re.search(r"<b>([\d,]+)</b> weights", panel.summary.value).group(1).replace(",", ""))


def shown_output(panel) -> tuple:
    return tuple(int(v) for v in re.search(r"Output <b>(\d+) × (\d+) × (\d+)</b>", panel.summary.value).groups())


def test_starts_on_the_models_first_convolution(playground, cifar_model):
    layer = next(la for la in cifar_model.layers if isinstance(la, keras.layers.Conv2D))
    config = layer.get_config()
    assert (playground.kernel.value, playground.kernel.value) == tuple(config["kernel_size"])
    assert (playground.stride.value, playground.stride.value) == tuple(config["strides"])
    assert playground.padding.value == config["padding"]
    assert playground.dilation.value == config["dilation_rate"][0]
    assert playground.filters.value == config["filters"]
    assert playground.size.value == layer.input.shape[1]
    assert playground.in_channels.value == layer.input.shape[-1]
    assert shown_params(playground) == layer.count_params()
    assert shown_output(playground) == tuple(layer.output.shape[1:])


@pytest.mark.parametrize("size, channels, kernel, stride, padding, dilation, filters", [
    (32, 3, 5, 2, "valid", 1, 16), (17, 8, 4, 3, "same", 1, 7), (9, 1, 3, 1, 2, 2, 1),
    (64, 64, 1, 1, "valid", 1, 128), (10, 5, 7, 1, "same", 1, 3)])
def test_numbers_match_a_real_keras_layer(playground, size, channels, kernel, stride, padding, dilation,
                                          filters):
    p = playground
    p.size.value, p.in_channels.value, p.kernel.value, p.stride.value = size, channels, kernel, stride
    p.padding.value = "zeros" if isinstance(padding, int) else padding
    if isinstance(padding, int):
        p.zeros.value = padding
    p.dilation.value, p.filters.value = dilation, filters
    layers = [keras.Input((size, size, channels))]
    if isinstance(padding, int):
        layers.append(keras.layers.ZeroPadding2D(padding))
    conv = keras.layers.Conv2D(filters, kernel, strides=stride, dilation_rate=dilation,
                               padding="valid" if isinstance(padding, int) else padding)
    model = keras.Sequential([*layers, conv])
    assert shown_params(p) == conv.count_params()
    assert shown_output(p) == tuple(model.output_shape[1:])
    assert p.picture.layout.display is None and p.state.status == ""


def test_an_impossible_setting_is_explained_not_drawn(playground):
    p = playground
    p.padding.value = "valid"
    p.size.value, p.kernel.value = 4, 7
    assert p.picture.layout.display == "none"
    assert "Not possible" in p.summary.value and "kernel 7 spans 7 cells, wider than the 4-cell input" \
        in p.summary.value
    # The weights of such a layer are still counted.
    assert shown_params(p) == 7 * 7 * p.in_channels.value * p.filters.value + p.filters.value
    p.stride.value, p.dilation.value = 2, 2
    assert "Keras does not allow a stride above 1" in p.summary.value
    p.dilation.value = 1
    p.padding.value = "same"
    assert p.picture.layout.display is None and "Not possible" not in p.summary.value
    assert p.state.status == ""


def test_the_picture_shows_padding_the_window_and_the_output_cell(playground):
    """Read the picture's cells back: grey padding, orange taps at the window the position names
    (dilated taps skip cells), the green output cell."""
    p = playground
    p.size.value, p.kernel.value, p.stride.value, p.dilation.value = 6, 2, 1, 2
    p.padding.value = "zeros"
    p.zeros.value = 1
    out = 6 + 2 - 3 + 1  # 8 padded cells, a kernel spanning 3
    p.position.value = 1 * out + 2                      # output row 1, column 2
    img = np.asarray(Image.open(io.BytesIO(p.picture.value)).convert("RGB"))
    padded = 8
    cell = int(np.clip(220 // padded, 3, 24))

    def colour(y, x, left=0):
        return tuple(img[y * cell + cell // 2, left + x * cell + cell // 2])

    taps = {(1 + 2 * i, 2 + 2 * j) for i in range(2) for j in range(2)}  # rows 1, 3; columns 2, 4
    for y in range(padded):
        for x in range(padded):
            inside = 1 <= y < 7 and 1 <= x < 7
            expected = conv_playground.TAP if (y, x) in taps else \
                conv_playground.INPUT if inside else conv_playground.PAD
            assert colour(y, x) == expected, (y, x)
    left = padded * cell + 3 * cell
    for y in range(out):
        for x in range(out):
            assert colour(y, x, left) == (conv_playground.CURRENT if (y, x) == (1, 2) else conv_playground.OUTPUT)
    assert img.shape[1] == padded * cell + 3 * cell + out * cell + 1


def test_renders_once_per_change_and_follows_a_new_model(playground, tiny_model, cifar_model, monkeypatch):
    p = playground
    pictures = []
    draw = conv_playground.geometry_png
    monkeypatch.setattr(conv_playground, "geometry_png", lambda *a, **k: pictures.append(a) or draw(*a, **k))
    p.kernel.value = 5
    assert len(pictures) == 1
    p.position.value = 7
    assert len(pictures) == 2 and pictures[-1][-2:] == (0, 7)
    p.stride.value = 2          # a new setting puts the window back at the start, in the same render
    assert len(pictures) == 3 and pictures[-1][-2:] == (0, 0)
    # A new model: the playground starts again on its first convolution (3×3, valid, 4 filters).
    try:
        p.state.use_model(tiny_model)
        assert len(pictures) == 4
        assert (p.kernel.value, p.padding.value, p.filters.value) == (3, "valid", 4)
        assert shown_output(p) == (30, 30, 4)
        assert shown_params(p) == tiny_model.get_layer("c1").count_params()
    finally:
        p.state.use_model(cifar_model)
    assert p.padding.value == "same" and p.state.status == ""
