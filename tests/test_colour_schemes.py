"""The colour-vision-safe scheme stays readable for red–green colour blindness.

Colours are passed through the published simulation matrices of Machado, Oliveira and Fernandes
(2009, severity 1.0) in linear RGB; a magnitude map must then still grow steadily lighter and a
signed map must still tell negative from positive along the blue–yellow axis those eyes keep.
"""
from __future__ import annotations

import numpy as np
import pytest

from cnnviz_widgets.render import COLOUR_SCHEMES, colormap_lut, filter_tiles, scheme_colormap

#: Machado et al. 2009, Table 1, severity 1.0 (linear RGB).
SIMULATIONS = {
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968],
                              [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868],
                            [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
}


def linear(lut) -> np.ndarray:
    """sRGB uint8 (n, 3) to linear RGB in [0, 1] (the sRGB transfer function)."""
    c = np.asarray(lut, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def seen(lut, deficiency: str) -> np.ndarray:
    return np.clip(linear(lut) @ SIMULATIONS[deficiency].T, 0, 1)


def steadily_lighter(rgb_linear) -> bool:
    """Relative luminance (WCAG's weights) never falls from one colour to the next, and rises by
    more than half of the scale overall."""
    y = rgb_linear @ np.array([0.2126, 0.7152, 0.0722])
    return bool(np.all(np.diff(y) >= -1e-3) and y[-1] - y[0] > 0.5)


@pytest.mark.parametrize("deficiency", sorted(SIMULATIONS))
@pytest.mark.parametrize("role", ["maps", "heat"])
def test_safe_magnitude_maps_grow_steadily_lighter_for_colour_blind_eyes(role, deficiency):
    name = scheme_colormap("colour-vision safe", role)
    assert steadily_lighter(seen(colormap_lut(name), deficiency)), name


def test_the_check_would_catch_the_standard_heatmap():
    # turbo runs dark → bright → dark: its two ends look alike without hue.
    assert not steadily_lighter(seen(colormap_lut(scheme_colormap("standard", "heat")), "deuteranopia"))


@pytest.mark.parametrize("deficiency", sorted(SIMULATIONS))
def test_safe_signed_map_tells_the_sign_on_the_blue_yellow_axis(deficiency):
    lut = seen(colormap_lut(scheme_colormap("colour-vision safe", "signed")), deficiency)
    blue_minus_yellow = lut[:, 2] - (lut[:, 0] + lut[:, 1]) / 2
    # Weights from -1 to -0.2 (indices 0..102) look blue, from +0.2 to +1 (153..255) yellow-orange.
    assert np.all(blue_minus_yellow[:103] > 0.02)
    assert np.all(blue_minus_yellow[153:] < -0.02)
    # And the centre (zero) is the lightest: a weight's size is its distance from white.
    y = lut @ np.array([0.2126, 0.7152, 0.0722])
    assert 120 <= int(np.argmax(y)) <= 135


def test_filter_tiles_draw_signed_weights_with_the_schemes_map():
    kernel = np.zeros((1, 2, 1, 1), np.float32)
    kernel[0, 0, 0, 0], kernel[0, 1, 0, 0] = -1.0, 1.0   # scaled to 0 and 1 of the map
    buor = colormap_lut("BuOr")
    tiles = filter_tiles(kernel, mode=0, cmap="BuOr")
    assert tiles[0, 0, 0].tolist() == buor[0].tolist()
    assert tiles[0, 0, 1].tolist() == buor[255].tolist()
    assert set(COLOUR_SCHEMES) == {"standard", "colour-vision safe"}
    with pytest.raises(ValueError, match="choose one of standard, colour-vision safe"):
        scheme_colormap("pastel", "maps")
