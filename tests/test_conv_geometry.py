"""Tests of cnnviz_widgets.compute.conv_geometry against real Keras layers and hand-computed cases.

The expected output sizes are the shapes real ``keras.layers.Conv2D`` layers produce (after
``keras.layers.ZeroPadding2D`` for an int padding), the expected parameter counts their
``count_params()``; the padding amounts are checked against a brute-force NumPy convolution.
"""
from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from cnnviz_widgets.compute import conv_output_size, conv_padding, conv_param_count

SIZES = (1, 2, 5, 7, 8, 16, 32)
KERNELS = (1, 2, 3, 4, 5)
STRIDES = (1, 2, 3)
DILATIONS = (1, 2)
PADDINGS = ("valid", "same", 0, 1, 2)


def keras_output_length(size, kernel, stride, padding, dilation):
    """The rows of a real Conv2D's output on a (size × 3) input, or None when Keras refuses."""
    shape = (1, size, 3, 1)
    if not isinstance(padding, str):
        shape = keras.layers.ZeroPadding2D(padding).compute_output_shape(shape)
        padding = "valid"
    try:
        layer = keras.layers.Conv2D(1, (kernel, 1), strides=(stride, 1), padding=padding,
                                    dilation_rate=(dilation, 1))
        rows = layer.compute_output_shape(shape)[1]
    except ValueError:
        return None
    return rows if rows and rows > 0 else None


GRID = list(itertools.product(SIZES, KERNELS, STRIDES, PADDINGS, DILATIONS))


def test_output_size_matches_real_keras_conv2d_over_a_grid():
    checked = refused = 0
    for size, kernel, stride, padding, dilation in GRID:
        expected = keras_output_length(size, kernel, stride, padding, dilation)
        if expected is None:
            with pytest.raises(ValueError, match="wider than|does not allow a stride"):
                conv_output_size(size, kernel, stride, padding, dilation)
            refused += 1
        else:
            assert conv_output_size(size, kernel, stride, padding, dilation) == expected, \
                (size, kernel, stride, padding, dilation)
            checked += 1
    # The grid holds both kinds of setting, so neither branch is vacuous.
    assert checked > 300 and refused > 100


def brute_force_same_conv(x, kernel, stride, dilation, before):
    """A 1-D convolution read off the input with explicit index arithmetic: window ``i`` starts at
    ``i * stride - before``; outside the input reads zero."""
    out = []
    for i in range(-(-len(x) // stride)):
        total = 0.0
        for t in range(len(kernel)):
            j = i * stride - before + t * dilation
            total += (x[j] if 0 <= j < len(x) else 0.0) * kernel[t]
        out.append(total)
    return np.array(out)


@pytest.mark.parametrize("size, kernel, stride, dilation", [
    (5, 4, 1, 1), (32, 3, 2, 1), (7, 2, 1, 2), (8, 5, 3, 1), (6, 4, 2, 1), (1, 3, 1, 1)])
def test_same_padding_puts_the_odd_zero_after(size, kernel, stride, dilation):
    rng = np.random.default_rng(size * 10 + kernel)
    x, k = rng.normal(size=size).astype(np.float32), rng.normal(size=kernel).astype(np.float32)
    before, after = conv_padding(size, kernel, stride, "same", dilation)
    assert after - before in (0, 1)
    layer = keras.layers.Conv2D(1, (kernel, 1), strides=(stride, 1), padding="same",
                                dilation_rate=(dilation, 1), use_bias=False)
    layer.build((1, size, 1, 1))
    layer.set_weights([k.reshape(kernel, 1, 1, 1)])
    real = np.asarray(layer(x.reshape(1, size, 1, 1)))[0, :, 0, 0]
    np.testing.assert_allclose(real, brute_force_same_conv(x, k, stride, dilation, before), atol=1e-5)


def test_hand_computed_cases():
    assert conv_output_size(32, 3, padding="same") == 32
    assert conv_output_size(32, 3, stride=2, padding="same") == 16
    assert conv_output_size(32, 3) == 30
    assert conv_output_size(32, 3, stride=2) == 15          # (32 − 3) // 2 + 1
    assert conv_output_size(32, 5, padding=2) == 32         # 36 − 5 + 1
    assert conv_output_size(7, 3, dilation=2) == 3          # the kernel spans 5 cells
    assert conv_output_size(5, 5) == 1
    assert conv_output_size(1, 1) == 1
    assert conv_padding(32, 3, 1, "same") == (1, 1)
    assert conv_padding(32, 3, 2, "same") == (0, 1)         # 15 · 2 + 3 − 32 = 1 zero, after
    assert conv_padding(32, 3, 2, 2) == (2, 2)
    assert conv_padding(32, 3, 2, "valid") == (0, 0)


@pytest.mark.parametrize("args, message", [
    ((3, 5), "kernel 5 spans 5 cells, wider than the 3-cell input"),
    ((3, 5, 1, 0), "wider than the 3-cell input"),
    ((3, 6, 1, 1), r"wider than the padded input \(3 \+ 2 × 1 = 5 cells\)"),
    ((5, 3, 1, "valid", 3), "kernel 3 with dilation 3 spans 7 cells"),
    ((8, 0), "kernel size must be at least 1"),
    ((8, 3, 0), "stride must be at least 1"),
    ((8, 3, 1, "valid", 0), "dilation must be at least 1"),
    ((0, 3), "input size must be at least 1"),
    ((8, 3, 1, -1), "padding must be at least 0"),
    ((8, 3, 1, "full"), "padding must be 'valid', 'same' or a number of zeros"),
    ((8, 2.5), "kernel size must be a whole number"),
    ((8, 3, 2, "same", 2), "Keras does not allow a stride above 1 .* together with a dilation above 1"),
])
def test_impossible_settings_say_why(args, message):
    with pytest.raises(ValueError, match=message):
        conv_output_size(*args)


@pytest.mark.parametrize("kernel, in_channels, filters, use_bias", [
    (3, 3, 32, True), (3, 32, 64, True), (1, 7, 5, True), (5, 2, 3, False), (7, 64, 1, True)])
def test_parameter_count_matches_keras(kernel, in_channels, filters, use_bias):
    layer = keras.layers.Conv2D(filters, kernel, use_bias=use_bias)
    layer.build((None, 16, 16, in_channels))
    assert conv_param_count(kernel, in_channels, filters, use_bias) == layer.count_params()
