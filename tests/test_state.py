"""Tests for cnnviz_widgets.state.ModelState: what one change costs with the widgets alive,
validation that refuses bad input and leaves everything as it was, and clean ``close()``.

Forward passes are counted with a spy on ``compute.Inspector.run`` (the one call that runs the
model on an image); the widgets are the real ones of ``cnnviz_widgets.widgets.charts`` and
``cnnviz_widgets.widgets.panels``.
"""
from __future__ import annotations

import keras
import numpy as np
import pytest
import traitlets

from cnnviz_widgets import compute
from cnnviz_widgets.state import ModelState
from cnnviz_widgets.widgets.charts import DenseBars, SoftmaxChart
from cnnviz_widgets.widgets.panels import HeatmapOverlay, StatsTable

WIDGETS = (SoftmaxChart, DenseBars, StatsTable, HeatmapOverlay)
SOURCES = ("model", "images", "labels", "class_names", "preprocess_name")
SELECTIONS = ("index", "layer", "class_index", "compare")
DERIVED = ("version", "layers", "inspection")
CIFAR_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@pytest.fixture
def runs(monkeypatch):
    """A list that grows by one for every forward pass of any model on one image."""
    calls = []
    original = compute.Inspector.run

    def spy(self, x):
        calls.append(self.model.name)
        return original(self, x)

    monkeypatch.setattr(compute.Inspector, "run", spy)
    return calls


@pytest.fixture
def cams(monkeypatch):
    """A list that grows by one for every Grad-CAM gradient computation."""
    calls = []
    original = compute.Inspector.gradcam_parts

    def spy(self, x, layer_name, class_index):
        calls.append((layer_name, class_index))
        return original(self, x, layer_name, class_index)

    monkeypatch.setattr(compute.Inspector, "gradcam_parts", spy)
    return calls


@pytest.fixture
def alive(state):
    """One of every widget, observing ``state``; closed afterwards."""
    widgets = [cls(state) for cls in WIDGETS]
    yield widgets
    for w in widgets:
        w.close()


def _handlers(state):
    """Every observer registered on the state, as a flat list."""
    return [h for by_type in state._trait_notifiers.values() for hs in by_type.values() for h in hs]


# =========================================================================== cost of a change

def test_one_index_change_is_one_forward_pass(state, alive, runs, cams):
    state.index = 42
    assert len(runs) == 1
    # The heatmap (Grad-CAM mode) adds one gradient pass for the new image, no more.
    assert len(cams) == 1
    assert state.inspection.index == 42
    assert state.status == ""


def test_a_layer_change_is_no_forward_pass(state, alive, runs, cams):
    state.layer = "conv2_act"
    state.layer = "dense1_act"
    state.layer = "conv1"
    assert runs == []
    # Grad-CAM of a layer not shown before needs its gradients once: conv2_act, conv4_act (where
    # dense1_act, which has no maps, falls back) and conv1; the state opened on conv1_act.
    assert [layer for layer, _ in cams] == ["conv2_act", "conv4_act", "conv1"]
    state.layer = "conv2_act"
    assert runs == [] and len(cams) == 3
    assert state.status == ""


def test_going_back_to_a_visited_image_is_free(state, alive, runs, cams):
    for i in (10, 11, 12):
        state.index = i
    assert len(runs) == 3
    state.index = 10
    state.index = 11
    assert len(runs) == 3 and len(cams) == 3
    assert state.inspection.index == 11


def test_inspection_matches_the_model(state, cifar_model, cifar_test):
    state.index = 9
    x = cifar_test[0][9].astype(np.float32) / 255.0
    probs = cifar_model(x[None], training=False).numpy()[0]
    insp = state.inspection
    np.testing.assert_allclose(insp.probabilities, probs, atol=1e-5)
    assert insp.predicted == int(np.argmax(probs))
    assert insp.label == int(cifar_test[1][9])
    assert insp.correct == (insp.predicted == insp.label)
    np.testing.assert_array_equal(insp.image, cifar_test[0][9])


# =========================================================================== refusing bad input

def _snapshot(state) -> dict:
    return {name: getattr(state, name) for name in SOURCES + SELECTIONS + DERIVED}


def _assert_unchanged(state, before: dict):
    for name, value in before.items():
        now = getattr(state, name)
        if isinstance(value, (np.ndarray, keras.Model)) or name == "inspection":
            assert now is value, name
        else:
            assert now == value, name


@pytest.fixture
def moved(state):
    """``state`` with non-default selections, so that any reset would show."""
    state.index = 5
    state.layer = "conv2_act"
    state.class_index = 3
    state.compare = (1, 2)
    return state


@pytest.fixture
def events(moved):
    """Every trait change notification the state sends after the fixture is made."""
    seen = []
    moved.observe(seen.append, names=traitlets.All)
    yield seen
    moved.unobserve(seen.append, names=traitlets.All)


def _mnist_like_model():
    keras.utils.set_random_seed(8)
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(2, 3, name="c"),
                             keras.layers.Flatten(name="f"), keras.layers.Dense(10, name="d")])


def _two_input_model():
    a, b = keras.Input((32, 32, 3)), keras.Input((32, 32, 3))
    y = keras.layers.Add()([a, b])
    return keras.Model([a, b], keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(y)))


@pytest.mark.parametrize("make, kwargs, message", [
    (_mnist_like_model, {}, "the model expects 28×28×1 images but these are 32×32×3"),
    (_two_input_model, {}, "the model has 2 inputs"),
    (None, {"class_names": ["cat", "dog", "ship"]}, "the model has 10 classes but 3 class names"),
])
def test_bad_set_model_changes_nothing(moved, events, untrained_cnn, make, kwargs, message):
    before = _snapshot(moved)
    model = make() if make else untrained_cnn
    with pytest.raises(ValueError, match=message):
        moved.set_model(model, **kwargs)
    _assert_unchanged(moved, before)
    assert events == []


@pytest.mark.parametrize("images, labels, message", [
    (np.zeros((4, 28, 28, 3), np.uint8), None, "the model expects 32×32×3 images but these are 28×28×3"),
    (np.zeros((4, 32, 32), np.uint8), None, r"images must be a non-empty array \(N, H, W, C\)"),
    (np.zeros((4, 32, 32, 3), np.uint8), [0, 1], "2 labels for 4 images"),
    (np.zeros((4, 32, 32, 3), np.uint8), [0, 1, 2, 10], r"labels must be class indices 0\.\.9"),
])
def test_bad_set_images_changes_nothing(moved, events, images, labels, message):
    before = _snapshot(moved)
    with pytest.raises(ValueError, match=message):
        moved.set_images(images, labels)
    _assert_unchanged(moved, before)
    assert events == []


def test_unknown_labels_are_kept_and_never_called_right_or_wrong(cifar_model, cifar_test):
    images, labels, names = cifar_test
    mixed = labels[:6].copy()
    mixed[[1, 4]] = -1
    st = ModelState(cifar_model, images[:6], mixed, names)
    np.testing.assert_array_equal(st.labels, mixed)
    st.index = 1
    assert st.inspection.label is None and st.inspection.correct is None
    assert st.caption().startswith("Predicted: ")
    st.index = 2
    assert st.inspection.label == labels[2]
    assert st.caption().startswith(f"True: {names[labels[2]]} · Predicted: ")
    # No known class at all is the same as no labels; below -1 is not a label.
    st.set_images(images[:3], [-1, -1, -1])
    assert st.labels is None
    with pytest.raises(ValueError, match=r"\(or -1 for an image of unknown class\); found -2\.\.1"):
        st.set_images(images[:3], [-2, 0, 1])


def test_good_set_model_replaces_the_model(moved, untrained_cnn):
    version = moved.version
    moved.set_model(untrained_cnn)
    assert moved.model is untrained_cnn and moved.version == version + 1
    assert moved.class_names == CIFAR_NAMES and moved.layer == "conv2_act"
    x = moved.images[5].astype(np.float32) / 255.0
    np.testing.assert_allclose(moved.inspection.probabilities,
                               untrained_cnn(x[None], training=False).numpy()[0], atol=1e-5)


def test_selection_errors_list_the_valid_choices(state):
    with pytest.raises(traitlets.TraitError, match=r"image index 10000 is out of range 0\.\.9999"):
        state.index = 10000
    with pytest.raises(traitlets.TraitError) as err:
        state.layer = "conv9"
    assert "layer 'conv9' not found; layers are: conv1, conv1_bn, conv1_act" in str(err.value)
    assert str(err.value).endswith("dense1_dropout, predictions")
    with pytest.raises(traitlets.TraitError, match=r"class index 10 is out of range 0\.\.9"):
        state.class_index = 10
    assert (state.index, state.layer, state.class_index) == (0, "conv1_act", None)


def test_from_default(cifar_dir):
    state = ModelState.from_default()
    assert state.images.shape == (10000, 32, 32, 3) and state.images.dtype == np.uint8
    assert state.class_names == CIFAR_NAMES
    # The first conv stage, where the first exercise starts.
    assert state.layer == "conv1_act" and state.index == 0
    assert [i.name for i in state.layers][-1] == "predictions"
    assert state.inspection.probabilities.shape == (10,)
    assert state.inspection.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    # The guide's five comparison images: a cat, a dog, a ship, a plane and a truck.
    assert [CIFAR_NAMES[state.labels[i]] for i in state.compare] == ["cat", "dog", "ship", "airplane", "truck"]


# =========================================================================== closing

@pytest.mark.parametrize("cls", WIDGETS, ids=lambda c: c.__name__)
def test_close_leaves_no_observer(state, cls):
    widget = cls(state)
    assert any(getattr(h, "__self__", None) is widget for h in _handlers(state))
    widget.close()
    assert not any(getattr(h, "__self__", None) is widget for h in _handlers(state))
    # The state still works without it.
    state.index = 1
    assert state.status == ""


def test_set_model_with_every_widget_alive(moved, untrained_cnn, runs):
    widgets = [cls(moved) for cls in WIDGETS]
    try:
        moved.set_model(untrained_cnn)
        # One pass to check the new model, one to inspect the selected image; no widget error.
        assert len(runs) == 2
        assert moved.status == ""
        x = moved.images[moved.index].astype(np.float32) / 255.0
        np.testing.assert_allclose(widgets[0].bars.y, untrained_cnn(x[None], training=False).numpy()[0],
                                   atol=1e-5)
    finally:
        for w in widgets:
            w.close()


def test_restore_shipped_model_brings_back_the_cifar_model_and_its_names(moved, untrained_cnn, cifar_model):
    moved.set_model(untrained_cnn, class_names=[f"class {i}" for i in range(10)], preprocess="[-1, 1]")
    message = moved.restore_shipped_model()
    assert isinstance(message, str)
    assert moved.model is not untrained_cnn and moved.model.name == cifar_model.name
    assert moved.class_names == CIFAR_NAMES and moved.preprocess_name == "[0, 1]"
    # The model on screen answers as the shipped one, loaded apart by the test session.
    x = moved.images[moved.index].astype(np.float32) / 255.0
    np.testing.assert_allclose(moved.inspection.probabilities,
                               cifar_model(x[None], training=False).numpy()[0], atol=1e-5)


def test_input_range_is_what_the_preprocessing_makes_of_black_and_white(moved, untrained_cnn):
    assert moved.input_range() == (0.0, 1.0)  # x / 255
    moved.set_model(untrained_cnn, preprocess="[-1, 1]")
    assert moved.input_range() == (-1.0, 1.0)  # x / 127.5 - 1
