"""Watching the network learn: the shipped training checkpoints, ``TrainingTimeline`` and
``ModelComparison``, on real CIFAR-10 test images.

References are independent of the code under test: accuracies and predictions come from plain
Keras (``model.predict``) and NumPy; the checkpoint files are read with ``np.load`` into a model
built by ``build_cifar_cnn``.
"""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from helpers import observer_count

from cnnviz_widgets import ModelComparison, TrainingTimeline, build_cifar_cnn
from cnnviz_widgets.loading import checkpoint_accuracies, shipped_checkpoints
from cnnviz_widgets.loading.checkpoints import DEFAULT_CHECKPOINT_DIR, MANIFEST_NAME, checkpoint_model
from cnnviz_widgets.state import ModelState

SUBSET = 2000


def plain_model(epoch):
    """The checkpoint of ``epoch`` read with NumPy into a fresh ``build_cifar_cnn`` (no cnnviz
    loading code), or the shipped ``.keras`` file through Keras for the final epoch."""
    manifest = json.loads((DEFAULT_CHECKPOINT_DIR / MANIFEST_NAME).read_text())
    entry = manifest["checkpoints"].get(str(epoch))
    if entry is None:
        return keras.saving.load_model(DEFAULT_CHECKPOINT_DIR.parent / "cifar_cnn.keras", compile=False)
    model = build_cifar_cnn(dropout=0.25)
    with np.load(DEFAULT_CHECKPOINT_DIR / entry["file"]) as data:
        for variable in model.weights:
            variable.assign(data[variable.path].astype(np.float32))
    return model


def plain_probabilities(model, images):
    return model.predict(np.asarray(images, dtype=np.float32) / 255.0, verbose=0, batch_size=500)


@pytest.fixture(scope="module")
def small_state(cifar_model, cifar_test):
    images, labels, names = cifar_test
    return ModelState(cifar_model, images[:300], labels[:300], names)


# --------------------------------------------------------------------------- the checkpoints

def test_checkpoints_span_training_from_untrained_to_shipped():
    loaders = shipped_checkpoints()
    epochs = list(loaders)
    assert len(epochs) >= 6 and epochs[0] == 0 and epochs == sorted(epochs)
    card = json.loads((DEFAULT_CHECKPOINT_DIR.parent / "cifar_cnn.card.json").read_text())
    assert epochs[-1] == card["epochs"]
    final = loaders[epochs[-1]]()
    shipped = plain_model(epochs[-1])
    assert all(np.array_equal(a, b) for a, b in zip(final.get_weights(), shipped.get_weights()))


@pytest.mark.slow
def test_accuracy_rises_along_the_checkpoints_and_matches_the_manifest(cifar_test):
    images, labels, _ = cifar_test
    images, labels = images[:SUBSET], labels[:SUBSET]
    recorded = checkpoint_accuracies()
    measured = {}
    for epoch, loader in shipped_checkpoints().items():
        model = loader()
        predicted = np.argmax(plain_probabilities(model, images), axis=1)
        measured[epoch] = float(np.mean(predicted == labels))
        # The loader's weights are the file's, read independently.
        reference = plain_model(epoch)
        assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), reference.get_weights()))
    values = [measured[e] for e in sorted(measured)]
    assert all(b > a for a, b in zip(values, values[1:])), measured
    assert values[0] < 0.2 and values[-1] > 0.8
    # The manifest's value is on all 10,000 test images; 2,000 of them are within a few points.
    for epoch, accuracy in measured.items():
        assert abs(accuracy - recorded[epoch]) < 0.03, (epoch, accuracy, recorded[epoch])


def test_float16_weights_cost_almost_no_accuracy():
    manifest = json.loads((DEFAULT_CHECKPOINT_DIR / MANIFEST_NAME).read_text())
    for entry in manifest["checkpoints"].values():
        assert abs(entry["test_accuracy"] - entry["test_accuracy_float32"]) <= 0.003


def test_a_checkpoint_is_loaded_once(cifar_model):
    assert checkpoint_model(1) is checkpoint_model(1)
    with pytest.raises(ValueError, match="the epochs are: 0, 1"):
        checkpoint_model(7)


# --------------------------------------------------------------------------- TrainingTimeline

def test_timeline_puts_the_checkpoint_on_screen(small_state, opened):
    state = small_state
    state.index = 3
    timeline = TrainingTimeline(state)
    opened(timeline)
    final = timeline.final_epoch
    assert timeline.epoch == final and timeline.slider.value == final
    accuracies = checkpoint_accuracies()
    x = state.images[3:4]

    timeline.slider.value = 0
    assert timeline.epoch == 0
    expected = plain_probabilities(plain_model(0), x)[0]
    np.testing.assert_allclose(state.inspection.probabilities, expected, atol=1e-4)
    assert f"{100 * accuracies[0]:.1f} %" in timeline.accuracy.value
    # The maps follow too: the first conv layer's kernels are the checkpoint's.
    np.testing.assert_array_equal(state.model.get_layer("conv1").kernel.numpy(),
                                  plain_model(0).get_layer("conv1").kernel.numpy())

    timeline.final_button.click()
    assert timeline.slider.value == final and timeline.epoch == final
    expected = plain_probabilities(plain_model(final), x)[0]
    np.testing.assert_allclose(state.inspection.probabilities, expected, atol=1e-4)
    assert f"{100 * accuracies[final]:.1f} %" in timeline.accuracy.value


def test_timeline_switch_sends_one_inspection_and_reuses_models(small_state, opened):
    state = small_state
    timeline = TrainingTimeline(state)
    opened(timeline)
    seen = []
    state.observe(lambda change: seen.append(change["new"]), names="inspection")
    timeline.show_epoch(1)
    first = state.model
    timeline.show_epoch(timeline.final_epoch)
    timeline.show_epoch(1)
    assert state.model is first
    assert len(seen) == 3
    timeline.show_epoch(timeline.final_epoch)


def test_timeline_refuses_an_unknown_epoch_and_keeps_the_model(small_state, opened):
    state = small_state
    timeline = TrainingTimeline(state)
    opened(timeline)
    before, version = state.model, state.version
    timeline.show_epoch(4)
    assert state.model is before and state.version == version
    assert "no checkpoint after epoch 4" in state.status and "0, 1, 2, 3" in state.status
    state.status = ""


def test_timeline_says_when_the_model_is_not_a_checkpoint(small_state, untrained_cnn, opened):
    state = small_state
    timeline = TrainingTimeline(state)
    opened(timeline)
    state.set_model(untrained_cnn)
    assert timeline.epoch is None and "not one of these checkpoints" in timeline.accuracy.value
    timeline.final_button.click()
    assert timeline.epoch == timeline.final_epoch


def test_timeline_close_leaves_no_observers(small_state):
    before = observer_count(small_state)
    TrainingTimeline(small_state).close()
    assert observer_count(small_state) == before


# --------------------------------------------------------------------------- ModelComparison

def test_comparison_shows_both_models_against_plain_keras(small_state, opened):
    state = small_state
    state.index = 5
    panel = ModelComparison(state, blocking=True)
    opened(panel)
    assert panel.pair == (3, max(checkpoint_accuracies()))
    x = state.images[5:6]
    names = state.class_names
    for side, epoch in zip(("left", "right"), panel.pair):
        expected = plain_probabilities(plain_model(epoch), x)[0]
        np.testing.assert_allclose(panel.results[side]["probabilities"], expected, atol=1e-4)
        assert panel.results[side]["predicted"] == int(np.argmax(expected))
        top = names[int(np.argmax(expected))]
        assert f"<li>{top} {100 * expected.max():.1f} %</li>" in panel.tops[side].value
        assert bytes(panel.pictures[side].value)[:4] == bytes(panel.maps[side].value)[:4] == b"\x89PNG"
    state.index = 6
    expected = plain_probabilities(plain_model(3), state.images[6:7])[0]
    np.testing.assert_allclose(panel.results["left"]["probabilities"], expected, atol=1e-4)


def test_comparison_counts_disagreements_like_numpy(small_state, opened):
    state = small_state
    panel = ModelComparison(state, left=0, blocking=True)
    opened(panel)
    panel.find()
    a = np.argmax(plain_probabilities(plain_model(0), state.images), axis=1)
    b = np.argmax(plain_probabilities(plain_model(panel.pair[1]), state.images), axis=1)
    expected = np.flatnonzero(a != b)
    result = panel.disagreements[(*panel.pair, state.version)]
    np.testing.assert_array_equal(result["disagree"], expected)
    assert f"<b>{len(expected):,}</b> of {len(state.images):,}" in panel.disagree_text.value
    assert bytes(panel.disagree_image.value)[:4] == b"\x89PNG"
    # Once per pair: a second press starts no job.
    started = []
    panel.job.start = lambda *args, **kwargs: started.append(args)
    panel.find()
    assert started == []
    panel.choosers["left"].value = 1
    assert "Press the button" in panel.disagree_text.value


def test_comparison_close_leaves_no_observers(small_state):
    before = observer_count(small_state)
    ModelComparison(small_state).close()
    assert observer_count(small_state) == before


# --------------------------------------------------------------------------- links

def test_a_link_opens_a_checkpoint_and_a_bad_epoch_changes_nothing(small_state):
    from cnnviz_widgets import Dashboard

    state = small_state
    board = Dashboard(state)
    try:
        final = max(checkpoint_accuracies())
        board.open_view("epoch=4")
        assert "epoch '4' has no checkpoint; epochs are: 0, 1, 2, 3, 5, 10" in state.status
        assert board.tools.selected_index is None
        board.open_view("image=7&epoch=3")
        assert state.index == 7
        np.testing.assert_allclose(state.inspection.probabilities,
                                   plain_probabilities(plain_model(3), state.images[7:8])[0], atol=1e-4)
        assert "epoch=3" in board.view_query() and "panel=TrainingTimeline" in board.view_query()
        board.open_tool("TrainingTimeline").show_epoch(final)
        assert "epoch=" not in board.view_query()
    finally:
        board.close()
        state.status = ""


def test_comparison_costs_two_passes_per_new_image_and_none_on_a_layer_change(small_state, opened, monkeypatch):
    from cnnviz_widgets import compute

    state = small_state
    panel = ModelComparison(state, blocking=True)
    opened(panel)
    calls = []
    real_run = compute.Inspector.run
    monkeypatch.setattr(compute.Inspector, "run", lambda self, x: calls.append(1) or real_run(self, x))
    # The state's own pass, then one per side, except for a side showing the state's own model.
    per_image = 1 + sum(checkpoint_model(e) is not state.model for e in panel.pair)
    state.index = 11
    assert len(calls) == per_image
    state.layer = "conv3_act"
    assert len(calls) == per_image
    state.index = 12
    state.index = 11  # seen before: the state's cache and the panel's kept results
    assert len(calls) == 2 * per_image
    panel.choosers["right"].value = 5
    assert len(calls) == 2 * per_image + 1


# --------------------------------------------------------------------------- the trainer's flag

@pytest.mark.slow
def test_the_trainer_writes_checkpoints_whose_manifest_plain_keras_confirms(tmp_path, cifar_test):
    from cnnviz_widgets import train

    output = tmp_path / "never_written.keras"
    manifest = train.main(["--limit", "256", "--batch-size", "128", "--epochs", "3", "--checkpoints", "0,1",
                           "--stop-after", "1", "--checkpoint-dir", str(tmp_path), "--output", str(output)])
    assert not output.exists()  # stopped early: no model and no card
    assert json.loads((tmp_path / MANIFEST_NAME).read_text()) == manifest
    assert sorted(manifest["checkpoints"]) == ["0", "1"]
    images, labels, _ = cifar_test
    weights = []
    for epoch in ("0", "1"):
        model = build_cifar_cnn(dropout=0.25)
        with np.load(tmp_path / manifest["checkpoints"][epoch]["file"]) as data:
            assert all(data[v.path].dtype == np.float16 for v in model.weights)
            for variable in model.weights:
                variable.assign(data[variable.path].astype(np.float32))
        weights.append(model.get_weights())
        accuracy = float(np.mean(np.argmax(plain_probabilities(model, images), axis=1) == labels))
        assert accuracy == pytest.approx(manifest["checkpoints"][epoch]["test_accuracy"], abs=1e-4)
    assert not all(np.array_equal(a, b) for a, b in zip(*weights))  # a step of training happened


# --------------------------------------------------------------------------- a run of one's own

@pytest.mark.slow
def test_a_run_trained_in_the_dashboard_can_be_replayed_epoch_by_epoch(cifar_model, cifar_test, opened):
    from cnnviz_widgets import TrainPanel

    images, labels, names = cifar_test
    state = ModelState(cifar_model, images[:200], labels[:200], names)
    timeline = TrainingTimeline(state, preload=False)
    opened(timeline)
    assert [value for _, value in timeline.choice.options] == ["shipped"]
    panel = TrainPanel(state, train_data=(images[1000:1256], labels[1000:1256]))
    opened(panel)
    panel.epochs.value, panel.batch_size.value = 2, 64
    panel.run_sync()
    # The run is recorded epoch by epoch, each with the test accuracy Keras measured after it.
    assert sorted(state.training_run) == [1, 2]
    assert [acc for _, acc in (state.training_run[e] for e in (1, 2))] == pytest.approx(
        panel.history["val_accuracy"], abs=1e-9)
    assert [value for _, value in timeline.choice.options] == ["shipped", "run"]

    timeline.choice.value = "run"
    assert list(timeline.slider.options) == [("1", 1), ("2", 2)]
    x = state.images.astype(np.float32) / 255.0
    for epoch in (2, 1):
        timeline.show_epoch(epoch)
        assert timeline.epoch == epoch
        # The weights are that epoch's: Keras's own test accuracy after it, measured again on the
        # state's images with a plain predict of the model on screen.
        predicted = np.argmax(state.model.predict(x, verbose=0), axis=1)
        assert float(np.mean(predicted == state.labels)) == pytest.approx(panel.history["val_accuracy"][epoch - 1],
                                                                          abs=1e-6)
        assert f"{100 * panel.history['val_accuracy'][epoch - 1]:.1f} %" in timeline.accuracy.value
    # The last epoch of the run is the model the panel trained.
    timeline.final_button.click()
    assert all(np.array_equal(a, b) for a, b in zip(state.model.get_weights(), panel.trained_model.get_weights()))
    timeline.choice.value = "shipped"
    assert list(timeline.slider.options)[-1][1] == timeline.final_epoch == max(checkpoint_accuracies())


def test_the_page_says_when_it_shows_a_network_other_than_the_trained_one(small_state, opened):
    state = small_state
    timeline = TrainingTimeline(state, preload=False)
    opened(timeline)
    timeline.show_epoch(0)
    assert "untrained network" in state.status and "last epoch" in state.status
    timeline.show_epoch(3)
    assert "after 3 epoch(s)" in state.status and not state.status.startswith("⚠")
    timeline.final_button.click()
    assert state.status == "Every panel shows the fully trained network again."
    state.status = ""
