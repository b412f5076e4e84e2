"""Tests for cnnviz_widgets.widgets.charts: the bars show the model's own numbers, coloured by the
prediction, and one image change sends few messages to the browser.

Expected values come from the model itself (``model(x)``) and from a separately built
single-output Keras model of ``dense1_act``. Messages are counted with a recording comm, the
``DummyComm`` approach of ipywidgets' own ``widgets/tests/utils.py``.
"""
from __future__ import annotations

import uuid

import comm
import keras
import numpy as np
import pytest

from cnnviz_widgets.widgets.charts import GREEN, GREY, RED, DenseBars, SoftmaxChart


def _x(state, index: int) -> np.ndarray:
    return state.images[index].astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def first_predictions(cifar_model, cifar_test):
    """The model's predicted class of the first 300 real test images, with ``predict``."""
    images = cifar_test[0][:300].astype(np.float32) / 255.0
    return cifar_model.predict(images, batch_size=300, verbose=0).argmax(axis=1)


@pytest.fixture(scope="module")
def dense1_act_model(cifar_model):
    """``dense1_act`` of the trained model as its own single-output model."""
    return keras.Model(cifar_model.input, cifar_model.get_layer("dense1_act").output)


# =========================================================================== SoftmaxChart

def test_softmax_bars_are_the_models_probabilities(state, cifar_model):
    chart = SoftmaxChart(state)
    try:
        for index in (0, 17):
            state.index = index
            expected = cifar_model(_x(state, index)[None], training=False).numpy()[0]
            np.testing.assert_allclose(chart.bars.y, expected, atol=1e-5)
            assert list(chart.bars.x) == list(state.class_names)
            assert chart.labels.text[int(np.argmax(expected))] == f"{100 * expected.max():.1f}%"
            # Each percentage sits beside its own bar: the class on the bars' ordinal axis, the
            # probability on the value axis (horizontal bars put the classes vertically).
            assert chart.labels.scales["y"] is chart.bars.scales["x"]
            assert chart.labels.scales["x"] is chart.bars.scales["y"]
            assert list(chart.labels.y) == list(state.class_names)
            np.testing.assert_allclose(chart.labels.x, expected, atol=1e-5)
    finally:
        chart.close()


def test_softmax_colours_right_and_wrong(state, cifar_test, first_predictions):
    labels = cifar_test[1][:300]
    wrong = int(np.flatnonzero(first_predictions != labels)[0])
    right = int(np.flatnonzero(first_predictions == labels)[0])
    chart = SoftmaxChart(state)
    try:
        state.index = wrong
        predicted, label = int(first_predictions[wrong]), int(labels[wrong])
        expected = [GREY] * 10
        # The wrong guess in red, the class it missed in green.
        expected[label], expected[predicted] = GREEN, RED
        assert list(chart.bars.colors) == expected
        state.index = right
        expected = [GREY] * 10
        expected[int(labels[right])] = GREEN
        assert list(chart.bars.colors) == expected
    finally:
        chart.close()


# =========================================================================== DenseBars

def test_dense_bars_are_dense1_act(state, dense1_act_model):
    bars = DenseBars(state)
    try:
        for index in (3, 250):
            state.index = index
            expected = dense1_act_model(_x(state, index)[None], training=False).numpy()[0]
            assert len(bars.bars.y) == 128
            np.testing.assert_allclose(bars.bars.y, expected, atol=1e-5)
            np.testing.assert_array_equal(bars.bars.x, np.arange(128))
            sparsity = 100 * np.mean(expected <= 0.01)
            assert f"sparsity {sparsity:.1f} %" in bars.summary.value
        assert "dense1_act" in bars.title.value
    finally:
        bars.close()


def test_dense_bars_follow_a_selected_dense_layer(state, cifar_model):
    bars = DenseBars(state)
    try:
        state.layer = "dense1"
        probe = keras.Model(cifar_model.input, cifar_model.get_layer("dense1").output)
        expected = probe(_x(state, 0)[None], training=False).numpy()[0]
        np.testing.assert_allclose(bars.bars.y, expected, atol=1e-5)
        assert "128 neurons" in bars.title.value and "you picked" not in bars.title.value
        # A spatial layer is no dense layer: the bars go back to the dense stage, and say why.
        state.layer = "conv3_act"
        assert "dense1_act" in bars.title.value
        assert "the layer you picked, conv3_act, has maps" in bars.title.value
    finally:
        bars.close()


def test_dense_bars_of_the_output_layer_are_the_named_classes(state, cifar_model):
    bars = DenseBars(state)
    try:
        state.index = 42
        state.layer = "predictions"
        expected = cifar_model(_x(state, 42)[None], training=False).numpy()[0]
        assert expected.shape == (10,)
        np.testing.assert_allclose(bars.bars.y, expected, atol=1e-5)
        # The bars are named by class on the axis, not numbered 0-9, and the title says what they are.
        assert bars.x_axis.tick_values.tolist() == list(range(10))
        assert bars.x_axis.tick_labels == {i: n for i, n in enumerate(state.class_names)}
        assert bars.x_axis.tick_labels[3] == "cat"
        assert "the output layer, one bar per class" in bars.title.value and "neurons" not in bars.title.value
        # Back on a hidden dense layer, the axis numbers the neurons again.
        state.layer = "dense1_act"
        assert bars.x_axis.tick_labels is None and bars.x_axis.label == "neuron index"
    finally:
        bars.close()


# =========================================================================== messages

class RecordingComm:
    """A comm that keeps what it is asked to send (ipywidgets' tests' ``DummyComm``), with its own
    id so that widgets stay distinct."""

    kernel = "Truthy"

    def __init__(self, *args, **kwargs):
        self.comm_id = uuid.uuid4().hex
        self.messages = []

    def open(self, *args, **kwargs):
        pass

    def on_msg(self, *args, **kwargs):
        pass

    def send(self, *args, **kwargs):
        self.messages.append(kwargs.get("data", args[0] if args else None))

    def close(self, *args, **kwargs):
        pass


@pytest.fixture
def comms(monkeypatch):
    """Every comm opened while the fixture is active; widgets made inside record their messages."""
    created = []

    def create_comm(*args, **kwargs):
        c = RecordingComm(*args, **kwargs)
        created.append(c)
        return c

    monkeypatch.setattr(comm, "create_comm", create_comm)
    return created


def test_one_index_change_sends_one_update_per_mark(state, comms):
    charts = [SoftmaxChart(state), DenseBars(state)]
    try:
        for c in comms:
            c.messages.clear()
        state.index = 123
        sent = [(c, m) for c in comms for m in c.messages]
        updates = [m for _, m in sent if m["method"] == "update"]
        assert len(updates) == len(sent)
        # hold_sync: every widget model gets at most one message with all its changes.
        per_comm = [len(c.messages) for c in comms]
        assert max(per_comm) == 1
        # SoftmaxChart: bars (y and colours together), labels, summary; DenseBars: bars and
        # summary. Unchanged x values (class names, neuron numbers) are not sent again.
        keys = sorted(sorted(m["state"]) for m in updates)
        assert keys == [["colors", "y"], ["text", "x"], ["value"], ["value"], ["y"]]
    finally:
        for c in charts:
            c.close()


# --------------------------------------------------------------------------- no toolbar on a chart

def test_every_chart_is_made_without_bqplots_toolbar():
    """bqplot's pan-and-zoom toolbar covered the curves of charts this small: every panel makes its
    charts through ``figures.figure``, which leaves it out (the browser test hovers one)."""
    import ast
    from pathlib import Path

    from cnnviz_widgets.widgets import figures

    folder = Path(figures.__file__).parent
    direct, through = [], []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                if name.endswith("Figure") and path.name != "figures.py":
                    direct.append(f"{path.name}:{node.lineno}")
                elif name == "figure":
                    through.append(path.name)
    assert direct == []
    assert len(set(through)) >= 7, through
    assert figures.figure().display_toolbar is False
