"""Tests for cnnviz_widgets.widgets.panels: StatsTable and HeatmapOverlay on the trained model and real
CIFAR-10 images.

Expected numbers come from separately built Keras models and NumPy; Grad-CAM from a hand-written
GradientTape (``references.hand_grad_cam``), pictures from Matplotlib's colormap table and
TensorFlow's bilinear resize; the cost of Grad-CAM is counted with spies.
"""
from __future__ import annotations

import io
import re

import keras
import numpy as np
import pytest
from PIL import Image
from references import assert_close_colours, colour_table, hand_grad_cam

from cnnviz_widgets import compute
from cnnviz_widgets.widgets.panels import HIGHLIGHT, HeatmapOverlay, StatsTable

DEFAULT_ROWS = ["conv1_act", "conv2_act", "conv3_act", "conv4_act", "dense1_act"]


def _x(state, index: int) -> np.ndarray:
    return state.images[index].astype(np.float32) / 255.0


def _turbo(heat, size: int) -> np.ndarray:
    """A heatmap (H, W) in [0, 1] resized with TensorFlow's bilinear resize to ``size`` pixels and
    looked up in Matplotlib's turbo table: (size, size, 3) uint8."""
    import tensorflow as tf

    big = tf.image.resize(np.asarray(heat, np.float32)[None, :, :, None], (size, size), method="bilinear")
    t = np.clip(big.numpy()[0, :, :, 0], 0.0, 1.0)
    return colour_table("turbo", 256)[np.floor(t * 255 + 0.5).astype(int)]


def _decode(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


@pytest.fixture(scope="module")
def probe(cifar_model):
    """Every layer of the trained model as one separately built multi-output model."""
    names = [layer.name for layer in cifar_model.layers if not isinstance(layer, keras.layers.InputLayer)]
    model = keras.Model(cifar_model.input, [cifar_model.get_layer(n).output for n in names])

    def outputs(x):
        return {n: v.numpy()[0] for n, v in zip(names, model(x[None], training=False))}

    return outputs


@pytest.fixture
def cams(monkeypatch):
    """A list that grows by one for every Grad-CAM computed (``compute.grad_cam`` calls)."""
    calls = []
    original = compute.grad_cam

    def spy(*args, **kwargs):
        calls.append(args[2:])
        return original(*args, **kwargs)

    monkeypatch.setattr(compute, "grad_cam", spy)
    return calls


# =========================================================================== StatsTable

def _table_rows(html: str) -> list:
    """(row attributes, [cell texts]) of each body row of the table's HTML."""
    rows = re.findall(r"<tr([^>]*)>(.*?)</tr>", html)
    return [(attrs, re.findall(r"<td[^>]*>(.*?)</td>", body)) for attrs, body in rows[1:]]


def test_stats_rows_equal_numpy_on_the_layer_outputs(state, probe):
    table = StatsTable(state)
    try:
        state.index = 31
        expected = probe(_x(state, 31))
        rows = table.rows()
        assert [name for name, _ in rows] == DEFAULT_ROWS
        for name, stats in rows:
            a = expected[name]
            assert stats["shape"] == a.shape
            assert stats["mean"] == pytest.approx(float(a.mean()), rel=1e-4, abs=1e-5)
            assert stats["std"] == pytest.approx(float(a.std()), rel=1e-4, abs=1e-5)
            assert stats["min"] == pytest.approx(float(a.min()), abs=1e-5)
            assert stats["max"] == pytest.approx(float(a.max()), abs=1e-5)
            assert stats["sparsity"] == pytest.approx(float(np.mean(a <= 0.01)), abs=2 / a.size)
        # The HTML shows the same numbers, rounded, in the column order of the guide.
        shown = _table_rows(table.table.value)
        assert [cells[0] for _, cells in shown] == DEFAULT_ROWS
        for (_, cells), (name, stats) in zip(shown, rows):
            assert cells[1] == "×".join(str(d) for d in expected[name].shape)
            assert [float(c) for c in cells[2:6]] == pytest.approx(
                [stats["mean"], stats["std"], stats["min"], stats["max"]], abs=6e-4)
            assert float(cells[6]) == pytest.approx(100 * stats["sparsity"], abs=0.06)
        assert "0.01 or less" in table.note.value
    finally:
        table.close()


def test_stats_all_layers_and_highlight(state):
    table = StatsTable(state)
    try:
        highlighted = [cells[0] for attrs, cells in _table_rows(table.table.value) if HIGHLIGHT in attrs]
        assert highlighted == ["conv1_act"]  # the selected layer: the state opens on the first conv stage
        table.all_layers.value = True
        assert [name for name, _ in table.rows()] == [i.name for i in state.layers]
        assert len(_table_rows(table.table.value)) == 18
        state.layer = "conv2_bn"
        highlighted = [cells[0] for attrs, cells in _table_rows(table.table.value) if HIGHLIGHT in attrs]
        assert highlighted == ["conv2_bn"]
        table.all_layers.value = False
        assert [cells[0] for _, cells in _table_rows(table.table.value)] == DEFAULT_ROWS
        assert state.status == ""
    finally:
        table.close()


# =========================================================================== HeatmapOverlay

def test_heat_is_grad_cam_of_the_selected_layer(state, cifar_model):
    state.layer = "conv4_act"
    overlay = HeatmapOverlay(state)
    try:
        state.index = 40
        x = _x(state, 40)
        predicted = int(np.argmax(cifar_model(x[None], training=False).numpy()[0]))
        assert overlay.mode.value == "grad-cam"
        expected = hand_grad_cam(cifar_model, x, predicted, "conv4_act")[0]
        assert expected.std() > 0.05  # not a flat map that anything would match
        np.testing.assert_allclose(overlay.heat, expected, atol=1e-4)
        state.layer = "conv3_act"
        np.testing.assert_allclose(overlay.heat, hand_grad_cam(cifar_model, x, predicted, "conv3_act")[0], atol=1e-4)
        assert "conv3_act" in overlay.note.value
    finally:
        overlay.close()


def test_target_dropdown_writes_the_class_selection(state, cifar_model):
    state.layer = "conv4_act"
    overlay = HeatmapOverlay(state)
    try:
        x = _x(state, 0)
        overlay.target.value = 5
        assert state.class_index == 5
        np.testing.assert_allclose(overlay.heat, hand_grad_cam(cifar_model, x, 5, "conv4_act")[0], atol=1e-4)
        assert state.class_names[5] in overlay.note.value
        # "predicted class" is no class index at all.
        overlay.target.value = overlay.target.options[0][1]
        assert state.class_index is None
        # A selection made elsewhere shows in the dropdown.
        state.class_index = 2
        assert overlay.target.value == 2 and overlay.target.label == state.class_names[2]
        np.testing.assert_allclose(overlay.heat, hand_grad_cam(cifar_model, x, 2, "conv4_act")[0], atol=1e-4)
        assert [label for label, _ in overlay.target.options] == ["predicted class", *state.class_names]
    finally:
        overlay.close()


def test_heat_in_activation_mode_is_the_channel_mean(state, probe):
    overlay = HeatmapOverlay(state, mode="activation")
    try:
        state.index = 8
        state.layer = "conv2_act"
        a = probe(_x(state, 8))["conv2_act"]
        m = a.mean(axis=-1)
        expected = (m - m.min()) / (m.max() - m.min())
        assert overlay.heat.shape == (16, 16)
        np.testing.assert_allclose(overlay.heat, expected, atol=1e-5)
        assert overlay.target.disabled
    finally:
        overlay.close()


@pytest.mark.parametrize("mode", ["grad-cam", "activation"])
def test_a_layer_without_maps_falls_back_to_the_last_spatial_layer(state, mode):
    state.layer = "conv4_act"  # the heat the fallback must show again
    overlay = HeatmapOverlay(state, mode=mode)
    try:
        before = overlay.heat
        state.layer = "dense1_act"
        np.testing.assert_array_equal(overlay.heat, before)
        assert "dense1_act has no 2-D maps to show (its output is 128)" in overlay.note.value
        assert "shows conv4_act, the last layer with some" in overlay.note.value
        assert overlay.layer_shown == "conv4_act"
        assert state.status == ""
    finally:
        overlay.close()


def test_alpha_change_only_reblends(state, cams):
    overlay = HeatmapOverlay(state)
    try:
        cams.clear()
        state.index = 77
        assert len(cams) == 1
        heat, image_png = overlay.heat, overlay.image.value
        overlay.alpha.value = 0.0
        overlay.alpha.value = 1.0
        assert len(cams) == 1
        assert overlay.heat is heat and overlay.image.value != image_png
        # Going back to the image's mode and class is a cache hit in the state too.
        overlay.mode.value = "activation"
        overlay.mode.value = "grad-cam"
        assert len(cams) == 1
    finally:
        overlay.close()


def test_pngs_decode_to_the_expected_pictures(state):
    overlay = HeatmapOverlay(state, alpha=0.0, size=192, side_size=96)
    try:
        state.index = 12
        image = state.images[12]
        big = np.repeat(np.repeat(image, 6, axis=0), 6, axis=1)
        sizes = {"image": 192, "original": 96, "heatmap": 96}
        for name, size in sizes.items():
            picture = getattr(overlay, name)
            assert _decode(picture.value).shape == (size, size, 3)
            assert picture.layout.width == f"{size}px"
        np.testing.assert_array_equal(_decode(overlay.original.value), big[::2, ::2])
        # Opacity 0 shows the image itself; opacity 1 the coloured heatmap.
        np.testing.assert_array_equal(_decode(overlay.image.value), big)
        # Opacity 1: the heatmap resized smoothly (bilinear) and coloured with turbo.
        overlay.alpha.value = 1.0
        full = _decode(overlay.image.value)
        assert_close_colours(full, _turbo(overlay.heat, 192), "overlay")
        assert_close_colours(_decode(overlay.heatmap.value), _turbo(overlay.heat, 96), "heatmap")
        # Opacity 0.5: half the image plus half the colour, rounded.
        overlay.alpha.value = 0.5
        half = np.floor(0.5 * big.astype(float) + 0.5 * full.astype(float) + 0.5)
        assert np.abs(_decode(overlay.image.value).astype(float) - half).max() <= 1
    finally:
        overlay.close()


def test_a_new_model_with_other_classes_and_no_maps(state):
    # A model with image input but no convolution: no layer has 2-D maps, and 5 classes.
    keras.utils.set_random_seed(9)
    flat = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(name="flat"),
                             keras.layers.Dense(16, activation="relu", name="hidden"),
                             keras.layers.Dense(5, activation="softmax", name="out")])
    names = ["a", "b", "c", "d", "e"]
    overlay, table = HeatmapOverlay(state), StatsTable(state)
    try:
        state.class_index = 7
        state.set_model(flat, class_names=names, labels=state.labels % 5)
        assert state.status == ""
        assert state.class_index is None
        assert [label for label, _ in overlay.target.options] == ["predicted class", *names]
        assert overlay.target.value == overlay.target.options[0][1]
        assert overlay.heat is None and overlay.image.value == b""
        assert "no layer with 2-D maps" in overlay.note.value
        # No conv stage: the table shows the dense stage, from the new model's outputs.
        kernel, bias = flat.get_layer("hidden").get_weights()
        expected = np.maximum(_x(state, state.index).reshape(-1) @ kernel + bias, 0.0)
        assert [name for name, _ in table.rows()] == ["hidden"]
        assert table.rows()[0][1]["mean"] == pytest.approx(float(expected.mean()), rel=1e-4, abs=1e-6)
        # Choosing a class of the new model works.
        overlay.target.value = 4
        assert state.class_index == 4 and state.status == ""
    finally:
        overlay.close()
        table.close()
