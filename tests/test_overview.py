"""The whole network at a glance: its columns against plain Keras sub-models, its pictures decoded,
its parameter counts against Keras, and a click selecting a layer."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import observers_of
from references import coloured_map, decode, keras_outputs

from cnnviz_widgets import Dashboard, NetworkOverview, compute, render


@pytest.fixture
def overview(st, opened):
    panel = NetworkOverview(st)
    opened(panel)
    return panel


def test_columns_hold_the_first_maps_of_every_layer_as_keras_computes_them(st, cifar_model):
    st.index = 17
    insp = st.inspection
    params = compute.layer_params(cifar_model)
    columns = compute.overview_columns(st.layers, insp.outputs, insp.image, params, maps=5)
    reference = keras_outputs(cifar_model, st.images[17])
    assert [c.name for c in columns] == ["input", *reference]
    assert np.array_equal(columns[0].values, st.images[17])
    for col in columns[1:]:
        expected = reference[col.name]
        if expected.ndim == 3:
            assert col.kind == "maps" and col.total == expected.shape[-1]
            np.testing.assert_allclose(col.values, expected[..., :5], rtol=1e-4, atol=1e-4, err_msg=col.name)
        else:
            assert col.kind == "bars" and col.total == expected.size
            np.testing.assert_allclose(col.values, expected[:compute.BARS_PER_COLUMN], rtol=1e-4, atol=1e-4,
                                       err_msg=col.name)
        assert col.shape == expected.shape


def test_parameter_counts_are_keras_counts_and_add_up_to_the_model(cifar_model):
    params = compute.layer_params(cifar_model)
    layers = [layer for layer in cifar_model.layers if type(layer).__name__ != "InputLayer"]
    assert list(params) == [layer.name for layer in layers]
    for layer in layers:
        assert params[layer.name] == layer.count_params()
    assert sum(params.values()) == cifar_model.count_params()
    # Worked out by hand: 3×3 kernels over 3 input channels, 32 filters, one bias each.
    assert params["conv1"] == 3 * 3 * 3 * 32 + 32


def test_overview_labels_show_name_shape_and_parameters(overview):
    label = overview.labels["conv2"].value
    assert "conv2" in label and "16×16×32" in label and "9,248 params" in label
    assert "no params" in overview.labels["conv2_act"].value
    assert "128 of 4,096 values" in overview.labels["flatten"].value


def test_a_column_picture_is_the_keras_maps_coloured(st, overview, cifar_model):
    st.index = 5
    expected = keras_outputs(cifar_model, st.images[5])["conv2_act"]
    picture = decode(overview.images["conv2_act"].value)
    h = expected.shape[0]
    factor = render.tile_factor(h, h, 48)
    assert picture.shape == (4 * h * factor + 3, h * factor, 3)
    for c in range(4):
        top = c * (h * factor + 1)
        got = picture[top: top + h * factor]
        want = coloured_map(expected[..., c], factor)
        diff = np.abs(got.astype(int) - want.astype(int)).max(axis=-1)
        assert diff.max() <= 8 and np.mean(diff > 0) < 0.02, (c, diff.max())


def test_bars_are_drawn_to_scale_on_either_side_of_zero():
    values = np.array([1.0, -0.5, 0.0, 0.25], np.float32)
    picture = decode(render.bars_png(values, width=41, row=3))
    assert picture.shape == (12, 41, 3)
    blue, orange = render.BAR_COLOURS["positive"], render.BAR_COLOURS["negative"]
    for i, v in enumerate(values):
        line = picture[3 * i]
        right = int(np.all(line == blue, axis=-1).sum())
        left = int(np.all(line == orange, axis=-1).sum())
        # The zero line sits at column 20; the largest value reaches the edge (20 pixels).
        assert (right, left) == (round(max(v, 0) * 20), round(max(-v, 0) * 20)), (i, right, left)


def test_clicking_a_map_selects_its_layer_and_channel(st, overview):
    h = 32 * render.tile_factor(32, 32, 48)
    # ipyevents' click message: the position in the picture's own pixels.
    overview._on_click("conv1_bn", {"type": "click", "dataX": 10, "dataY": 2 * (h + 1) + 5})
    assert st.layer == "conv1_bn" and overview.selection == ("conv1_bn", 2)
    # The colour language's "what you chose" (the legend's magenta).
    assert overview.boxes["conv1_bn"].layout.border == "3px solid #d81b60"
    assert overview.choices["conv1_bn"].value == 2
    overview._on_click("conv1", {"type": "click", "dataX": 10, "dataY": h + 0.5})  # a gap: nothing
    assert st.layer == "conv1_bn"
    overview._on_click("dense1", {"type": "click", "dataX": 3, "dataY": 40})
    assert st.layer == "dense1" and overview.selection == ("dense1", 0)
    assert overview.choices["conv1_bn"].value is None


def test_the_keyboard_list_of_a_column_selects_like_a_click(st, overview):
    overview.choices["conv3_act"].value = 3
    assert st.layer == "conv3_act" and overview.selection == ("conv3_act", 3)
    with pytest.raises(ValueError, match="out of range 0..63"):
        overview.select("conv3_act", 64)
    with pytest.raises(ValueError, match="layers are: conv1"):
        overview.select("nope")


def test_an_image_change_is_one_redraw_and_no_forward_pass_of_its_own(st, overview, monkeypatch):
    calls = []
    real_run = compute.Inspector.run
    monkeypatch.setattr(compute.Inspector, "run", lambda self, x: calls.append(1) or real_run(self, x))
    before = overview.renders
    st.index = 321
    assert len(calls) == 1 and overview.renders == before + 1
    st.layer = "conv4"
    assert len(calls) == 1 and overview.renders == before + 1


def test_close_unobserves_the_state(st):
    panel = NetworkOverview(st)
    assert observers_of(st, panel)
    panel.close()
    assert not observers_of(st, panel)


def test_a_pick_in_the_dashboard_shows_that_map_in_the_feature_grid(st):
    board = Dashboard(st)
    try:
        panel = board.open_tool("NetworkOverview")
        assert isinstance(panel, NetworkOverview), st.status
        board.panels["features"].channel.value = 9
        panel.choices["conv2_act"].value = 3
        assert st.layer == "conv2_act"
        assert board.panels["features"].channel.value == 3
        # The student moves the grid's channel, then clicks the same map again: it follows again.
        board.panels["features"].channel.value = 20
        h = 16 * render.tile_factor(16, 16, 48)
        panel._on_click("conv2_act", {"type": "click", "dataX": 5, "dataY": 3 * (h + 1) + 2})
        assert board.panels["features"].channel.value == 3
    finally:
        board.close()


def test_a_new_model_rebuilds_the_columns_once(cifar_model, cifar_test, tiny_model, opened):
    from cnnviz_widgets import ModelState

    images, labels, names = cifar_test
    state = ModelState(cifar_model, images[:20], labels[:20], names)
    panel = NetworkOverview(state)
    opened(panel)
    before = panel.renders
    state.set_model(tiny_model)
    assert panel.renders == before + 1
    assert [c.name for c in panel.columns] == ["input", "c1", "pool", "flat", "out"]
    assert [c.params for c in panel.columns] == [0, 3 * 3 * 3 * 4 + 4, 0, 0, 15 * 15 * 4 * 10 + 10]
    assert set(panel.images) == {"input", "c1", "pool", "flat", "out"}
    assert "c1" in panel.choices and "conv1" not in panel.choices
    expected = tiny_model.get_layer("c1")(images[state.index][None].astype("float32") / 255.0).numpy()[0]
    np.testing.assert_allclose(panel.columns[1].values, expected[..., :4], rtol=1e-4, atol=1e-5)
