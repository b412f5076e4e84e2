"""Tests for cnnviz_widgets.render: PNG bytes decoded with Pillow and compared pixel by pixel with
colours taken straight from Matplotlib's colormaps and layouts computed by hand."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from references import colour_table

from cnnviz_widgets import render

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _decode(data: bytes) -> np.ndarray:
    """PNG bytes to a uint8 array (H, W, 3), checking the signature first."""
    assert data[:8] == PNG_SIGNATURE
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB"))


def _colour(cmap: str, level: int, n: int = 256) -> np.ndarray:
    """Entry ``level`` (0..n-1) of Matplotlib's n-colour table of ``cmap`` as stored with the package,
    read without the package's loader, as uint8 RGB (the tables themselves are checked against the
    published colours below)."""
    return colour_table(cmap, n)[int(level)]


def _map_colour(level: int) -> np.ndarray:
    """Entry ``level`` (0..254) of the 255-colour viridis palette that feature-map PNGs use."""
    return _colour("viridis", level, render.PALETTE_COLOURS)


# =========================================================================== colormap tables

#: Colours published with each colormap (viridis: van der Walt & Smith; turbo: Mikhailov;
#: RdBu: ColorBrewer's 11-class scheme, reversed), as hex at 0, the middle entry and 1.
PUBLISHED = {
    "viridis": ("#440154", "#21918c", "#fde725"),
    "turbo": ("#30123b", None, "#7a0403"),
    "RdBu_r": ("#053061", "#f7f7f7", "#67001f"),
}


def _rgb(hex_colour: str) -> list:
    return [int(hex_colour[k:k + 2], 16) for k in (1, 3, 5)]


@pytest.mark.parametrize("n", [256, 255])
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_colormap_tables_hold_the_published_colours(name, n):
    lut = render.colormap_lut(name, n)
    assert lut.shape == (n, 3) and lut.dtype == np.uint8
    first, middle, last = PUBLISHED[name]
    assert lut[0].tolist() == _rgb(first)
    assert lut[-1].tolist() == _rgb(last)
    if middle is not None and n == 255:  # 255 colours have an exact middle entry, 127
        assert lut[127].tolist() == _rgb(middle)
    if middle is not None and n == 256:  # entry 128 is the first at or above one half
        assert np.abs(lut[128].astype(int) - _rgb(middle)).max() <= 1
    # A smooth ramp: neighbouring entries differ by a few levels, never jump.
    assert np.abs(np.diff(lut.astype(int), axis=0)).max() <= 8


def test_unknown_colormap_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="viridis"):
        render.colormap_lut("jet")
    with pytest.raises(ValueError, match="colours"):
        render.colormap_lut("viridis", 10)


# =========================================================================== sizes

def test_montage_size():
    # 5 maps of 8×8 at tile_size 32: 4× upscale, 3 per row, two rows, 1-pixel gaps.
    data = render.montage_png(np.random.default_rng(0).random((8, 8, 5)), cols=3, tile_size=32)
    assert _decode(data).shape == (2 * 32 + 1, 3 * 32 + 2, 3)


def test_filter_grid_size():
    # 10 filters of 3×3 at tile_size 24: 8× upscale, 4 per row, three rows, 2-pixel gaps.
    kernel = np.random.default_rng(1).normal(size=(3, 3, 3, 10))
    assert _decode(render.filter_grid_png(kernel, "rgb", cols=4, tile_size=24)).shape == (3 * 24 + 4, 4 * 24 + 6, 3)
    assert _decode(render.filter_grid_png(kernel, "mean", cols=5, tile_size=24)).shape == (2 * 24 + 2, 5 * 24 + 8, 3)


def test_overlay_size():
    image = np.zeros((32, 32, 3), np.uint8)
    assert _decode(render.overlay_png(image, np.zeros((8, 8)), 0.5, size=192)).shape == (192, 192, 3)
    assert _decode(render.overlay_png(image[:, :, :1], np.zeros((8, 8)), 0.5, size=64)).shape == (64, 64, 3)


def test_strip_size():
    panels = [np.zeros((32, 32, 3), np.uint8), np.random.default_rng(2).random((8, 8)),
              np.random.default_rng(3).random((16, 16))]
    # Every panel becomes 64 px; three of them with 4-pixel gaps.
    assert _decode(render.strip_png(panels, tile_size=64)).shape == (64, 3 * 64 + 8, 3)


def test_image_and_map_sizes():
    assert _decode(render.image_png(np.zeros((32, 32, 3), np.uint8), size=128)).shape == (128, 128, 3)
    assert _decode(render.map_png(np.random.default_rng(4).random((8, 8)), size=256)).shape == (256, 256, 3)


# =========================================================================== pixel values

def test_montage_pixels_follow_the_viridis_table():
    # Four maps of 4×4 whose values take four levels; each map is normalised by its own range,
    # so the levels land on 0, 1/3, 2/3 and 1 of the 255-colour palette: entries 0, 85, 169 and 254.
    base = np.array([[0, 1, 2, 3]] * 4, dtype=np.float32)
    maps = np.stack([base, base.T, 10 * base - 5, np.flipud(base.T)], axis=-1)
    f, cols, gap = 8, 2, 1
    out = _decode(render.montage_png(maps, cols=cols, tile_size=32))
    assert out.shape == (2 * 4 * f + gap, 2 * 4 * f + gap, 3)
    levels = {0: 0, 1: 85, 2: 169, 3: 254}
    for k in range(4):
        r, c = divmod(k, cols)
        lo, hi = maps[..., k].min(), maps[..., k].max()
        for i in range(4):
            for j in range(4):
                level = levels[int(round(3 * (maps[i, j, k] - lo) / (hi - lo)))]
                y, x = r * (4 * f + gap) + i * f, c * (4 * f + gap) + j * f
                block = out[y:y + f, x:x + f]
                assert (block == _map_colour(level)).all(), (k, i, j)
    # The gap between tiles is white.
    assert (out[:, 4 * f] == 255).all() and (out[4 * f, :] == 255).all()


def test_flat_map_is_the_lowest_colour():
    out = _decode(render.montage_png(np.full((4, 4, 1), 7.0), cols=1, tile_size=4))
    assert (out == _map_colour(0)).all()


def test_overlay_alpha_zero_is_the_upscaled_image():
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    out = _decode(render.overlay_png(image, rng.random((8, 8)), alpha=0.0, size=192))
    expected = np.repeat(np.repeat(image, 6, axis=0), 6, axis=1)
    np.testing.assert_array_equal(out, expected)


def test_overlay_alpha_one_is_the_coloured_heatmap():
    rng = np.random.default_rng(6)
    image = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    # A heatmap already at the output size (no resampling) whose values are table entries k/255.
    levels = rng.integers(0, 256, size=(192, 192))
    out = _decode(render.overlay_png(image, levels / 255.0, alpha=1.0, size=192))
    table = np.stack([_colour("turbo", k) for k in range(256)])
    np.testing.assert_array_equal(out, table[levels])


def test_overlay_half_alpha_blends():
    image = np.full((32, 32, 3), 200, np.uint8)
    out = render.overlay(image, np.full((32, 32), 1.0), alpha=0.5, size=32)
    expected = np.floor(0.5 * 200 + 0.5 * _colour("turbo", 255).astype(np.float64) + 0.5)
    np.testing.assert_array_equal(out[0, 0], expected.astype(np.uint8))
    with pytest.raises(ValueError, match="alpha must be between 0 and 1"):
        render.overlay(image, np.zeros((8, 8)), alpha=1.5)


def test_rgb_filter_tiles_match_the_normalised_kernel():
    kernel = np.random.default_rng(7).normal(size=(3, 3, 3, 6)).astype(np.float32)
    tiles = render.filter_tiles(kernel, "rgb")
    assert tiles.shape == (6, 3, 3, 3) and tiles.dtype == np.uint8
    for o in range(6):
        w = kernel[..., o]
        expected = np.round((w - w.min()) / (w.max() - w.min()) * 255).astype(np.uint8)
        np.testing.assert_array_equal(tiles[o], expected)
    # The PNG shows the same tiles, 8× upscaled, 3 per row with 2-pixel gaps.
    out = _decode(render.filter_grid_png(kernel, "rgb", cols=3, tile_size=24))
    for o in range(6):
        r, c = divmod(o, 3)
        for i in range(3):
            for j in range(3):
                y, x = r * 26 + i * 8, c * 26 + j * 8
                assert (out[y:y + 8, x:x + 8] == tiles[o, i, j]).all()


def test_single_channel_filter_tiles_are_centred_on_zero():
    kernel = np.zeros((3, 3, 2, 1), np.float32)
    kernel[0, 0, 1, 0], kernel[2, 2, 1, 0], kernel[1, 1, 1, 0] = -2.0, 1.0, 0.0
    tiles = render.filter_tiles(kernel, 1)
    # -2 is the largest magnitude: the bluest end; 0 the centre; +1 half way to red.
    assert (tiles[0, 0, 0] == _colour("RdBu_r", 0)).all()
    assert (tiles[0, 1, 1] == _colour("RdBu_r", 128)).all()
    assert (tiles[0, 2, 2] == _colour("RdBu_r", 191)).all()
    with pytest.raises(ValueError, match="input channel 2 is out of range 0..1"):
        render.filter_tiles(kernel, 2)
    with pytest.raises(ValueError, match="an RGB view needs 3 input channels"):
        render.filter_tiles(kernel, "rgb")


def test_strip_panels_are_image_then_coloured_map():
    image = np.full((4, 4, 3), 40, np.uint8)
    heat = np.array([[0.0, 3.0], [3.0, 0.0]])
    out = _decode(render.strip_png([image, heat], tile_size=4))
    assert out.shape == (4, 4 + 4 + 4, 3)
    assert (out[:, :4] == 40).all()
    assert (out[:, 4:8] == 255).all()
    assert (out[0, 8] == _colour("viridis", 0)).all() and (out[0, 10] == _colour("viridis", 255)).all()


def test_montage_refuses_a_non_stack():
    with pytest.raises(ValueError, match=r"expected feature maps \(h, w, N\)"):
        render.montage_png(np.zeros((8, 8)))


def test_numbered_montage_writes_each_channel_number_above_its_map():
    rng = np.random.default_rng(0)
    maps = rng.random((8, 8, 12))
    plain = _decode(render.montage_png(maps, cols=6, tile_size=32))
    numbered = _decode(render.montage_png(maps, cols=6, tile_size=32, numbered=True))
    band = render.NUMBER_BAND
    # Two rows of six 32-pixel maps, each now under a band for its number.
    assert numbered.shape == (2 * (32 + band) + 1, plain.shape[1], 3)
    white = np.array([255, 255, 255])
    ink_widths = []
    for k in range(12):
        r, c = divmod(k, 6)
        top, left = r * (32 + band + 1), c * 33
        # The map itself is drawn exactly as without numbers.
        np.testing.assert_array_equal(numbered[top + band: top + band + 32, left: left + 32],
                                      plain[r * 33: r * 33 + 32, left: left + 32])
        ink = np.any(numbered[top: top + band, left: left + 32] != white, axis=2)
        assert ink.any(), k  # every map has its number
        ink_widths.append(np.flatnonzero(ink.any(axis=0)).max() + 1)
    # Two-digit numbers take more room than one-digit ones.
    assert min(ink_widths[10:]) > max(ink_widths[:10])


def test_numbered_filter_grid_keeps_the_filters():
    kernel = np.random.default_rng(1).normal(size=(3, 3, 3, 4))
    plain = _decode(render.filter_grid_png(kernel, "rgb", cols=4, tile_size=24))
    numbered = _decode(render.filter_grid_png(kernel, "rgb", cols=4, tile_size=24, numbered=True))
    band = render.NUMBER_BAND
    np.testing.assert_array_equal(numbered[band:], plain)
    assert np.any(numbered[:band] != 255)
