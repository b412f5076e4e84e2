"""Tests for cnnviz_widgets.widgets.grids: FeatureGrid, FilterGrid, LayerStrip and ComparisonGrid.

Integration tests use the shipped model on the first 1,000 real CIFAR-10 test images (one state for
the module). Expected PNG sizes are computed from the layout rules (tiles of the upscaled map size
plus 1-pixel gaps for montages, 2 for filters, 4 for strips); expected pixels are written out here
tile by tile (each map scaled by its own range and looked up in Matplotlib's colormap table,
``references.coloured_map``) from layer outputs of plain Keras sub-models and kernels read from the
Keras layers, without the package's render or compute code.
"""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image
from references import assert_close_colours, colour_table, coloured_map, keras_layer, keras_probabilities, tile_at

from cnnviz_widgets.state import ModelState
from cnnviz_widgets.widgets.base import png_size
from cnnviz_widgets.widgets.comparison import ComparisonGrid
from cnnviz_widgets.widgets.grids import FeatureGrid, FilterGrid, LayerStrip

N_IMAGES = 1000  # the images of the `shared` state in conftest.py
STAGES = ["conv1_act", "conv2_act", "conv3_act", "conv4_act"]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def fresh(cifar_model, cifar_test):
    """A state of its own (30 images) for tests that change the model or the preprocessing."""
    images, labels, names = cifar_test
    return ModelState(cifar_model, images[:30], labels[:30], names)


def layer_of(model, name: str, image) -> np.ndarray:
    """One layer's output for one uint8 image, from a plain Keras sub-model (not the state)."""
    return keras_layer(model, name, np.asarray(image)[None])[0]


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


#: The frame of the chosen map: magenta, the colour of "your choice" in the legend.
FRAME = (0xd8, 0x1b, 0x60)


def assert_montage(png: bytes, maps, cols: int, factor: int, framed: int | None = 0):
    """The montage shows map i of ``maps`` (h, w, N) in tile i, scaled by its own range and
    coloured with viridis (255 colours), each value a ``factor``-pixel block; tiles 1 pixel apart
    under an 11-pixel band for their number. Tile ``framed`` (the chosen channel) has a 2-pixel
    magenta frame round it and its band, and only it: inside the frame its map is as drawn."""
    picture = decode(png)
    tile = maps.shape[0] * factor
    for i in range(maps.shape[-1]):
        got = tile_at(picture, i, cols, tile, gap=1, band=11)
        expected = coloured_map(maps[..., i], factor)
        r, c = divmod(i, cols)
        whole = picture[r * (tile + 12): r * (tile + 12) + tile + 11, c * (tile + 1): c * (tile + 1) + tile]
        edge = np.concatenate([whole[:2].reshape(-1, 3), whole[-2:].reshape(-1, 3),
                               whole[:, :2].reshape(-1, 3), whole[:, -2:].reshape(-1, 3)])
        if i == framed:
            assert (edge == FRAME).all(), f"map {i} is not framed"
            got, expected = got[:-2, 2:-2], expected[:-2, 2:-2]
        else:
            assert not (edge == FRAME).all(axis=1).any(), f"map {i} is framed"
        assert_close_colours(got, expected, f"map {i}")


def filter_tile(kernel, i: int, view) -> np.ndarray:
    """Filter i of a kernel (kh, kw, in, out) as the grid must draw it, before upscaling: "rgb"
    its three input channels scaled by its own min and max; "mean" or an input channel number a
    single map divided by its largest absolute weight, in RdBu_r (blue negative, red positive)."""
    k = np.asarray(kernel, dtype=np.float64)[..., i]
    if view == "rgb":
        return np.floor((k - k.min()) / (k.max() - k.min()) * 255 + 0.5).astype(np.uint8)
    single = k.mean(axis=-1) if view == "mean" else k[:, :, view]
    t = single / np.abs(single).max() * 0.5 + 0.5
    return colour_table("RdBu_r", 256)[np.clip(np.floor(t * 255 + 0.5), 0, 255).astype(int)]


def assert_filter_grid(png: bytes, kernel, view, cols: int = 8, factor: int = 11):
    picture = decode(png)
    kh = kernel.shape[0]
    for i in range(kernel.shape[-1]):
        expected = np.kron(filter_tile(kernel, i, view), np.ones((factor, factor, 1), np.uint8))
        assert_close_colours(tile_at(picture, i, cols, kh * factor, gap=2, band=11), expected, f"filter {i}")


def text_of(html_value: str) -> str:
    """The visible text of an HTML value, tags dropped and spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html_value).replace("&#x27;", "'").split())


def grid_size(n: int, cols: int, tile: int, gap: int, band: int = 11) -> tuple:
    """(width, height) of n numbered tiles (each under a ``band`` of pixels for its number) laid
    out ``cols`` per row with ``gap`` pixels between them."""
    cols = min(cols, n)
    rows = -(-n // cols)
    return cols * (tile + gap) - gap, rows * (tile + band + gap) - gap


def count_values(image) -> list:
    """A list that grows by one for each new value sent to an ipywidgets.Image."""
    sent = []
    image.observe(lambda change: sent.append(change["new"]), names="value")
    return sent


# =========================================================================== FeatureGrid

class TestFeatureGrid:
    def test_conv1_act_montage_size_and_pixels(self, st, opened):
        grid = FeatureGrid(st)
        opened(grid)
        st.layer = "conv1_act"
        # 32 maps of 32×32 (tile 32, no upscale) under an 11-pixel band for their number, 8 per row,
        # 1-pixel gaps: 4 rows.
        assert png_size(grid.image.value) == (8 * 33 - 1, 4 * 44 - 1) == (263, 175)
        maps = layer_of(st.model, "conv1_act", st.images[0])
        assert maps.shape == (32, 32, 32)
        assert_montage(grid.image.value, maps, cols=8, factor=1)
        assert (grid.n_features.value, grid.n_features.max, grid.cols.value) == (32, 32, 8)
        assert grid.channel.max == 31

    def test_a_click_on_a_map_chooses_it_frames_it_and_shows_its_filter(self, st, opened):
        grid = FeatureGrid(st)
        opened(grid)
        st.layer = "conv1_act"
        st.index = 4
        # Tiles of 32×32 under an 11-pixel band, 1 pixel apart, 8 per row: map 11 is row 1,
        # column 3, at x 99 … 130 and y 44 … 86.
        grid._on_click({"dataX": 3 * 33 + 16, "dataY": 44 + 25})
        assert grid.channel.value == 11
        maps = layer_of(st.model, "conv1_act", st.images[4])
        assert_montage(grid.image.value, maps, cols=8, factor=1, framed=11)
        assert_close_colours(decode(grid.channel_image.value), coloured_map(maps[..., 11], 6))
        # Beside it, filter 11 of conv1 in colour: its weights on red, green and blue scaled by
        # its own range, 3×3 cells of 21 pixels (64 / 3, rounded).
        kernel = st.model.get_layer("conv1").kernel.numpy()
        expected = np.kron(filter_tile(kernel, 11, "rgb"), np.ones((21, 21, 1), np.uint8))
        assert_close_colours(decode(grid.filter_image.value), expected, "filter 11")
        assert "conv1 #11" in text_of(grid.filter_note.value)
        # A click in the gap between two maps, or below the last one, chooses nothing.
        grid._on_click({"dataX": 2 * 33 - 1, "dataY": 50})
        grid._on_click({"dataX": 10, "dataY": 4 * 44 + 5})
        assert grid.channel.value == 11
        # The slider does the same without a mouse.
        grid.channel.value = 30
        assert_montage(grid.image.value, maps, cols=8, factor=1, framed=30)
        expected = np.kron(filter_tile(kernel, 30, "rgb"), np.ones((21, 21, 1), np.uint8))
        assert_close_colours(decode(grid.filter_image.value), expected, "filter 30")

    def test_a_deeper_maps_filter_is_the_mean_of_its_weights(self, st, opened):
        grid = FeatureGrid(st)
        opened(grid)
        st.layer = "conv3_act"
        grid._on_click({"dataX": 5 * 33 + 10, "dataY": 2 * 44 + 30})
        assert grid.channel.value == 21
        kernel = st.model.get_layer("conv3").kernel.numpy()
        expected = np.kron(filter_tile(kernel, 21, "mean"), np.ones((21, 21, 1), np.uint8))
        assert_close_colours(decode(grid.filter_image.value), expected, "filter 21")

    def test_sizes_of_deeper_layers(self, st, opened):
        grid = FeatureGrid(st)
        opened(grid)
        st.layer = "conv2_act"  # 16×16 maps upscaled ×2 to 32
        assert png_size(grid.image.value) == grid_size(32, 8, 32, 1)
        st.layer = "conv3_act"  # 64 maps: 8 rows
        assert png_size(grid.image.value) == grid_size(64, 8, 32, 1) == (263, 351)
        assert grid.n_features.max == 64 and grid.n_features.value == 64

    def test_note_has_name_shape_and_stats(self, st, opened):
        grid = FeatureGrid(st)
        opened(grid)
        st.index = 9
        st.layer = "conv2_act"
        a = layer_of(st.model, "conv2_act", st.images[9])
        note = text_of(grid.note.value)
        assert "conv2_act" in note and "16×16×32" in note
        assert f"mean {a.mean():.3f}" in note
        assert f"max {a.max():.3f}" in note
        assert f"sparsity {100 * np.mean(a <= 0.01):.1f} %" in note

    def test_one_render_per_index_or_layer_change(self, st, opened):
        grid = FeatureGrid(st)
        opened(grid)
        sent = count_values(grid.image)
        before = grid.renders
        st.index = 5
        assert len(sent) == 1 and grid.renders == before + 1
        maps = layer_of(st.model, "conv1_act", st.images[5])  # the state opens on the first conv stage
        assert_montage(grid.image.value, maps, cols=8, factor=1)
        st.layer = "conv4_act"
        assert len(sent) == 2 and grid.renders == before + 2
        assert_montage(grid.image.value, layer_of(st.model, "conv4_act", st.images[5]), cols=8, factor=4)
        st.layer = "conv4_act"
        st.class_index = 3
        st.compare = (1, 2)
        assert len(sent) == 2 and grid.renders == before + 2

    def test_big_channel_is_map_png_of_that_channel(self, st, opened):
        grid = FeatureGrid(st)
        opened(grid)
        st.layer = "conv1_act"
        st.index = 4
        grid.channel.value = 13
        maps = layer_of(st.model, "conv1_act", st.images[4])
        assert_close_colours(decode(grid.channel_image.value), coloured_map(maps[..., 13], 6))
        assert png_size(grid.channel_image.value) == (192, 192)
        st.layer = "conv4_act"  # 8×8 maps upscaled ×24
        assert png_size(grid.channel_image.value) == (192, 192)
        assert grid.channel.max == 63

    def test_n_features_and_cols_change_the_size(self, st, opened):
        grid = FeatureGrid(st)
        opened(grid)
        st.layer = "conv1_act"
        grid.n_features.value = 10
        assert png_size(grid.image.value) == grid_size(10, 8, 32, 1) == (263, 87)
        grid.cols.value = 4
        assert png_size(grid.image.value) == grid_size(10, 4, 32, 1) == (131, 131)
        maps = layer_of(st.model, "conv1_act", st.images[0])
        assert_montage(grid.image.value, maps[..., :10], cols=4, factor=1)
        # A chosen count survives a layer change; "all" follows the new layer's channel count.
        st.layer = "conv3_act"
        assert grid.n_features.value == 10 and grid.n_features.max == 64
        grid.n_features.value = 64
        st.layer = "conv2_act"
        assert grid.n_features.value == 32

    @pytest.mark.parametrize("layer", ["dense1_act", "flatten", "predictions"])
    def test_non_spatial_layer_shows_a_note(self, st, opened, layer):
        grid = FeatureGrid(st)
        opened(grid)
        st.layer = layer
        assert grid.body.layout.display == "none"
        if layer == "dense1_act":
            assert text_of(grid.note.value) == "dense1_act has no spatial maps: see the dense bars."
        assert f"{layer} has no spatial maps" in text_of(grid.note.value)
        st.index = 3
        st.layer = "conv1_act"
        assert grid.body.layout.display is None
        assert png_size(grid.image.value) == (263, 175)
        assert st.status == ""


# =========================================================================== FilterGrid

class TestFilterGrid:
    def test_conv1_in_rgb(self, st, opened):
        grid = FilterGrid(st)
        opened(grid)
        st.layer = "conv1_act"
        assert grid.conv_layer == "conv1"
        assert grid.mode.value == "rgb"
        kernel = np.asarray(st.model.get_layer("conv1").kernel)
        assert kernel.shape == (3, 3, 3, 32)
        assert_filter_grid(grid.image.value, kernel, "rgb")
        # 3×3 filters upscaled ×11 = 33 px, 2-pixel gaps, 32 filters in 4 rows.
        assert png_size(grid.image.value) == grid_size(32, 8, 33, 2) == (278, 182)
        note = text_of(grid.note.value)
        assert note.startswith("conv1 (the convolution that starts the stage of conv1_act): 32 filters of 3×3×3")
        assert "red, green and blue" in note

    def test_conv3_mean_and_input_channel(self, st, opened):
        grid = FilterGrid(st)
        opened(grid)
        st.layer = "conv3"
        assert grid.conv_layer == "conv3"
        assert grid.mode.value == "mean"
        assert "rgb" not in [v for _, v in grid.mode.options]
        kernel = np.asarray(st.model.get_layer("conv3").kernel)
        assert kernel.shape == (3, 3, 32, 64)
        assert_filter_grid(grid.image.value, kernel, "mean")
        assert png_size(grid.image.value) == grid_size(64, 8, 33, 2) == (278, 366)
        assert grid.input_channel.layout.display == "none"
        grid.mode.value = "channel"
        grid.input_channel.value = 5
        assert grid.input_channel.max == 31
        assert grid.input_channel.layout.display is None
        assert_filter_grid(grid.image.value, kernel, 5)
        assert "input channel 5" in text_of(grid.note.value)
        # Back to an RGB layer: its natural view again.
        st.layer = "conv1"
        assert grid.mode.value == "rgb"

    def test_no_render_on_index_change_nor_within_a_stage(self, st, opened):
        grid = FilterGrid(st)
        opened(grid)
        st.layer = "conv2"
        sent = count_values(grid.image)
        before = grid.renders
        for i in (1, 2, 3):
            st.index = i
        st.layer = "conv2_bn"
        st.layer = "conv2_act"
        assert grid.conv_layer == "conv2"
        assert sent == [] and grid.renders == before
        assert "starts the stage of conv2_act" in text_of(grid.note.value)
        st.layer = "conv4_act"
        assert len(sent) == 1 and grid.renders == before + 1

    @pytest.mark.parametrize("layer", ["flatten", "dense1_act"])
    def test_layer_outside_a_conv_stage_shows_a_note(self, st, opened, layer):
        grid = FilterGrid(st)
        opened(grid)
        st.layer = layer
        assert grid.conv_layer is None
        assert grid.body.layout.display == "none"
        assert f"{layer} is not part of a convolution stage" in text_of(grid.note.value)
        assert st.status == ""
        st.layer = "conv2_act"
        assert grid.conv_layer == "conv2" and grid.body.layout.display is None


# =========================================================================== LayerStrip

class TestLayerStrip:
    def test_stages_pixels_and_captions(self, st, opened):
        strip = LayerStrip(st)
        opened(strip)
        st.index = 21
        assert strip.stages == STAGES
        # The input upscaled ×3, then each stage's channel mean scaled to its own range in
        # viridis, upscaled to 96 pixels; 4-pixel gaps.
        picture = decode(strip.image.value)
        assert np.array_equal(tile_at(picture, 0, 5, 96, gap=4), np.kron(st.images[21], np.ones((3, 3, 1), np.uint8)))
        for k, stage in enumerate(STAGES, start=1):
            mean = layer_of(st.model, stage, st.images[21]).mean(axis=-1)
            expected = coloured_map(mean, 96 // mean.shape[0], n=256)
            assert_close_colours(tile_at(picture, k, 5, 96, gap=4), expected, stage)
        # Five panels of 96 px (32 ×3, 16 ×6, 8 ×12) with 4-pixel gaps.
        assert png_size(strip.image.value) == (5 * 96 + 4 * 4, 96)
        captions = text_of(strip.captions.value)
        for caption in ["Input 32×32×3", "conv1_act 32×32×32", "conv2_act 16×16×32",
                        "conv3_act 16×16×64", "conv4_act 8×8×64"]:
            assert caption in captions
        assert captions.index("Input") < captions.index("conv1_act") < captions.index("conv4_act")

    def test_renders_once_per_image_not_per_layer(self, st, opened):
        strip = LayerStrip(st)
        opened(strip)
        sent = count_values(strip.image)
        st.layer = "conv1_act"
        assert sent == []
        st.index = 2
        assert len(sent) == 1
        st.index = 3
        assert len(sent) == 2


# =========================================================================== ComparisonGrid

class TestComparisonGrid:
    def test_one_row_per_compared_image(self, st, opened):
        grid = ComparisonGrid(st)
        opened(grid)
        compare = st.compare
        assert len(compare) == 5
        rows = len(compare)
        # 1 + 4 columns of 64 px, 4-pixel gaps.
        assert png_size(grid.image.value) == (5 * 64 + 4 * 4, rows * 64 + (rows - 1) * 4)
        pixels = decode(grid.image.value)
        for r, i in enumerate(compare):
            top = r * 68
            assert np.array_equal(pixels[top: top + 64: 2, 0:64:2], st.images[i])
            conv4 = layer_of(st.model, "conv4_act", st.images[i]).mean(axis=-1)
            assert_close_colours(pixels[top: top + 64: 8, 4 * 68: 4 * 68 + 64: 8], coloured_map(conv4, 1, n=256))
        labels = re.findall(r"#(\d+): ([a-z]+) → ([a-z]+) \((\d+) %\)", text_of(grid.labels.value))
        assert [int(i) for i, *_ in labels] == list(compare)
        names = st.class_names
        for (i, true, pred, pct) in labels:
            probs, p = keras_probabilities(st.model, st.images[int(i)])
            assert (true, pred, int(pct)) == (names[st.labels[int(i)]], names[p], round(100 * probs[p]))
        assert grid.indices.value == ", ".join(str(i) for i in compare)

    def test_edit_indices(self, st, opened):
        grid = ComparisonGrid(st)
        opened(grid)
        grid.indices.value = "3, 12,99"
        assert st.compare == (3, 12, 99)
        assert grid.indices.value == "3, 12, 99"
        assert png_size(grid.image.value) == (336, 3 * 64 + 2 * 4)
        assert grid.message.value == ""

    @pytest.mark.parametrize("bad, words", [
        ("3, x", "'x' is not an image index"),
        ("5, 20000", "out of range 0..999"),
        (" , ", "at least one image"),
        (",".join(["1"] * 11), "at most 10"),
    ])
    def test_bad_indices_keep_the_set(self, st, opened, bad, words):
        grid = ComparisonGrid(st)
        opened(grid)
        before, png, renders = st.compare, grid.image.value, grid.renders
        grid.indices.value = bad
        assert words in text_of(grid.message.value)
        assert st.compare == before
        assert grid.image.value == png and grid.renders == renders
        assert st.status == ""
        grid.indices.value = "7"
        assert st.compare == (7,) and grid.message.value == ""

    def test_use_current_image_replaces_the_first(self, st, opened):
        grid = ComparisonGrid(st)
        opened(grid)
        before = st.compare
        st.index = 42
        grid.use_current.click()
        assert st.compare == (42,) + before[1:]
        assert grid.indices.value.startswith("42, ")
        assert "#42:" in text_of(grid.labels.value)
        grid.use_current.click()
        assert st.compare == (42,) + before[1:]
        assert "already" in text_of(grid.message.value)

    def test_empty_set_hides_the_grid(self, st, opened):
        grid = ComparisonGrid(st)
        opened(grid)
        st.compare = ()
        assert grid.rows.layout.display == "none"
        assert "No images to compare" in text_of(grid.message.value)
        st.compare = (4, 5)
        assert grid.rows.layout.display is None
        assert png_size(grid.image.value) == (336, 2 * 64 + 4)
        assert grid.message.value == ""

    def test_renders_on_compare_and_version_not_index(self, fresh, opened):
        grid = ComparisonGrid(fresh)
        opened(grid)
        sent = count_values(grid.image)
        fresh.index = 4
        fresh.layer = "conv1_act"
        assert sent == []
        fresh.compare = (1, 2)
        assert len(sent) == 1
        # A preprocessing change is a new version (and resets the set): one render, not two.
        fresh.set_preprocess("[-1, 1]")
        assert len(sent) == 2
        assert fresh.compare == fresh.default_compare()
        assert fresh.status == ""


# =========================================================================== all grids

def test_grids_follow_a_model_change(fresh, tiny_model, opened):
    grids = [FeatureGrid(fresh), FilterGrid(fresh), LayerStrip(fresh), ComparisonGrid(fresh)]
    for g in grids:
        opened(g)
    feature, filters, strip, comparison = grids
    sent = [count_values(g.image) for g in grids]
    fresh.set_model(tiny_model)
    assert fresh.status == ""
    # The state announces the new layer, version, comparison set and inspection: one render each.
    assert [len(s) for s in sent] == [1, 1, 1, 1]
    assert fresh.layer == "c1"
    # c1: 4 maps of 30×30 (tile factor round(32/30) = 1), all on one row.
    assert png_size(feature.image.value) == grid_size(4, 8, 30, 1) == (123, 41)
    c1 = layer_of(tiny_model, "c1", fresh.images[fresh.index])
    assert_montage(feature.image.value, c1, cols=8, factor=1)
    assert filters.conv_layer == "c1" and filters.mode.value == "rgb"
    assert png_size(filters.image.value) == grid_size(4, 8, 33, 2)
    assert strip.stages == ["c1"]
    assert "c1 30×30×4" in text_of(strip.captions.value)
    assert png_size(comparison.image.value)[0] == 2 * 64 + 4
