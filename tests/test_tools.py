"""Tests of the teaching panels in cnnviz_widgets.widgets, on a ModelState of 500 real test images.

Expected values are computed independently with ``model.predict`` / Keras sub-models and NumPy.
Jobs run with ``blocking=True`` unless the test is about the background thread and Cancel.
"""
from __future__ import annotations

import time

import keras
import numpy as np
import pytest
from helpers import observer_count

from cnnviz_widgets import (
    ConfidenceAnalysis,
    ConvArithmetic,
    Download,
    FilterOptimizer,
    MisclassificationExplorer,
    TopImages,
    TrainPanel,
    compute,
    render,
    train,
)
from cnnviz_widgets.state import ModelState
from cnnviz_widgets.widgets import JobBar

PNG = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- fixtures and helpers

@pytest.fixture(scope="module")
def probabilities(cifar_model, cifar_test):
    """``model.predict`` of the first 500 test images: the independent reference."""
    images = cifar_test[0][:500]
    return cifar_model.predict(images.astype(np.float32) / 255.0, verbose=0)


@pytest.fixture
def small_state(cifar_model, cifar_test):
    """A fresh ModelState of the shipped model on the first 500 CIFAR-10 test images."""
    images, labels, names = cifar_test
    return ModelState(cifar_model, images[:500], labels[:500], names)


@pytest.fixture
def closes_cleanly(small_state):
    """Check, after the test, that every widget it made left no observer on the state."""
    before = observer_count(small_state)
    made = []
    yield made
    for widget in made:
        widget.close()
    assert observer_count(small_state) == before


def is_png(data) -> bool:
    return bytes(data[:8]) == PNG


# --------------------------------------------------------------------------- JobBar

def test_job_bar_runs_reports_and_cancels():
    errors, results = [], []
    bar = JobBar(errors.append, blocking=True)
    bar.start(lambda progress: [progress(i, 4) for i in range(1, 5)] and 42, results.append, "counting")
    assert results == [42] and bar.bar.value == 1.0 and bar.bar.bar_style == "success"
    bar.start(lambda progress: 1 / 0, results.append)
    assert isinstance(errors[0], ZeroDivisionError) and bar.message.value == "failed"

    steps = []

    def slow(progress):
        for i in range(1, 1000):
            progress(i, 1000)
            steps.append(i)
            time.sleep(0.002)
        return "finished"

    background = JobBar(errors.append)
    assert background.start(slow, results.append)
    assert not background.start(slow, results.append)  # one job at a time
    while len(steps) < 5:
        time.sleep(0.005)
    background.cancel_button.click()
    assert background.wait(10)
    assert len(steps) < 999 and results == [42] and background.message.value == "cancelled"
    bar.close()
    background.close()


def test_job_bar_applies_results_on_the_thread_of_its_event_loop():
    import asyncio
    import threading

    seen = {}

    async def kernel_like():
        # As in a kernel: the bar is made, and its job started, on a thread running an event loop.
        bar = JobBar(seen.setdefault)
        ended = asyncio.Event()

        def work(progress):
            seen["work"] = threading.get_ident()
            progress(1, 2)
            return 7

        bar.start(work, lambda result: seen.setdefault("done", (threading.get_ident(), result)), end=ended.set)
        await asyncio.wait_for(ended.wait(), 30)
        seen["bar"] = (bar.bar.value, bar.bar.bar_style)
        bar.close()

    asyncio.run(kernel_like())
    main = threading.get_ident()
    assert seen["work"] != main  # the work ran in the background
    assert seen["done"] == (main, 7) and seen["bar"] == (1.0, "success")


# --------------------------------------------------------------------------- exercise 1

def test_misclassification_explorer(small_state, probabilities, closes_cleanly):
    labels = small_state.labels
    predicted = probabilities.argmax(axis=1)
    expected = np.zeros((10, 10), np.int64)
    for t, p in zip(labels, predicted):
        expected[t, p] += 1

    explorer = MisclassificationExplorer(small_state, blocking=True)
    closes_cleanly.append(explorer)
    assert explorer.matrix is None
    explorer.compute_button.click()
    np.testing.assert_array_equal(explorer.matrix, expected)
    np.testing.assert_array_equal(explorer.heatmap.color, expected)
    # The default filter lists every misclassified image, most confident first.
    wrong = np.flatnonzero(predicted != labels)
    assert set(explorer.matching()) == set(wrong)
    conf = probabilities.max(axis=1)[explorer.matching()]
    assert np.all(np.diff(conf) <= 1e-6)
    # A click on a cell lists exactly that cell's images.
    off = expected.copy()
    np.fill_diagonal(off, 0)
    t, p = np.unravel_index(np.argmax(off), off.shape)
    explorer.heatmap.selected = [[int(t), int(p)]]
    cell = np.flatnonzero((labels == t) & (predicted == p))
    assert sorted(explorer.matching()) == sorted(cell) and len(cell) == expected[t, p]
    assert explorer.true_class.value == t and explorer.predicted_class.value == p
    assert [v for _, v in explorer.choices.options] == list(explorer.shown)
    assert is_png(explorer.montage.value)
    # A diagonal cell turns "misclassified only" off.
    explorer.heatmap.selected = [[2, 2]]
    assert not explorer.only_wrong.value
    assert len(explorer.matching()) == expected[2, 2]
    # In a browser the click arrives as bqplot's element_click message, not as `selected`.
    explorer.heatmap._handle_custom_msgs(
        explorer.heatmap, {"event": "element_click", "data": {"rowNum": int(t), "columnNum": int(p)}}, [])
    assert sorted(explorer.matching()) == sorted(cell)
    assert explorer.true_class.value == t and explorer.predicted_class.value == p
    # Choosing an image opens it.
    pick = explorer.choices.options[-1][1]
    explorer.choices.value = pick
    assert small_state.index == pick
    # The predictions are the state's, computed once and shared.
    again = []
    np.testing.assert_allclose(small_state.predictions(lambda d, t: again.append(d)), probabilities, atol=1e-5)
    assert again == []


def test_misclassification_explorer_draws_no_empty_grid_and_opens_a_clicked_picture(small_state, probabilities):
    import io

    from PIL import Image

    explorer = MisclassificationExplorer(small_state, blocking=True)
    try:
        # Before "compute": a line that says what the button does, and no chart.
        assert explorer.chart_box.children == ()
        assert "Press “compute confusion matrix”" in explorer.summary.value
        explorer.compute()
        assert explorer.chart_box.children == (explorer.figure,)
        shown = list(explorer.shown)
        assert len(shown) > 10
        # The pictures: 32-pixel images drawn at 64 pixels over a 16-pixel caption, 8 a row, 4-pixel
        # gaps. The 11th is in row 1, column 2: from (136, 84) to (200, 148).
        montage = np.asarray(Image.open(io.BytesIO(explorer.montage.value)).convert("RGB"))
        np.testing.assert_array_equal(montage[84:148:2, 136:200:2], small_state.images[shown[10]])
        before = small_state.index
        explorer._on_montage_click({"type": "click", "dataX": 202, "dataY": 90})  # the gap after it
        assert small_state.index == before
        explorer._on_montage_click({"type": "click", "dataX": 150, "dataY": 100})
        assert small_state.index == shown[10] and small_state.status == ""
        # A new model: back to the line, no chart.
        small_state.set_model(small_state.model)
        assert explorer.chart_box.children == ()
    finally:
        explorer.close()


def test_misclassification_explorer_leaves_out_images_of_unknown_class(cifar_model, cifar_test, probabilities):
    images, labels, names = cifar_test
    mixed = labels[:500].copy()
    mixed[::4] = -1  # as if a quarter of the images were a student's own pictures
    state = ModelState(cifar_model, images[:500], mixed, names)
    known = mixed >= 0
    predicted = probabilities.argmax(axis=1)
    expected = np.zeros((10, 10), np.int64)
    for t, p in zip(mixed[known], predicted[known]):
        expected[t, p] += 1
    explorer = MisclassificationExplorer(state, blocking=True)
    explorer.compute()
    np.testing.assert_array_equal(explorer.matrix, expected)
    assert expected.sum() == 375 and "on 375 images (125 of unknown class left out)" in explorer.summary.value
    accuracy = 100 * np.trace(expected) / 375
    assert f"accuracy <b>{accuracy:.1f} %</b>" in explorer.summary.value
    assert set(explorer.matching()) == set(np.flatnonzero((predicted != mixed) & known))
    explorer.only_wrong.value = False
    assert set(explorer.matching()) == set(np.flatnonzero(known))
    explorer.close()


def test_misclassification_explorer_without_labels_reports(cifar_model, cifar_test):
    state = ModelState(cifar_model, cifar_test[0][:20], None, cifar_test[2])
    explorer = MisclassificationExplorer(state, blocking=True)
    explorer.compute()
    assert "no labels" in state.status and explorer.matrix is None
    explorer.close()


# --------------------------------------------------------------------------- exercise 5

def test_confidence_analysis(small_state, probabilities, closes_cleanly):
    panel = ConfidenceAnalysis(small_state, blocking=True)
    closes_cleanly.append(panel)
    panel.find_button.click()
    # The three examples, by a plain loop over model.predict's probabilities.
    best_right = worst_right = best_wrong = None
    for i, (p, label) in enumerate(zip(probabilities, small_state.labels)):
        c, conf = int(np.argmax(p)), float(p.max())
        if c == label:
            if best_right is None or conf > best_right[1]:
                best_right = (i, conf)
            if worst_right is None or conf < worst_right[1]:
                worst_right = (i, conf)
        elif best_wrong is None or conf > best_wrong[1]:
            best_wrong = (i, conf)
    expected = {"confident_right": best_right[0], "unsure_right": worst_right[0],
                "confident_wrong": best_wrong[0]}
    assert set(panel.examples) == set(expected)
    conf = probabilities.max(axis=1)
    for kind, i in expected.items():
        # Two images may tie to float32 precision; then either is right.
        assert conf[panel.examples[kind]] == pytest.approx(conf[i], abs=1e-6), kind
    assert best_right[1] > 0.9 and worst_right[1] < 0.5 and best_wrong[1] > 0.9
    expected = panel.examples
    sub = keras.Model(small_state.model.inputs[0], small_state.model.get_layer("dense1_act").output)
    for col, (kind, _) in enumerate(panel.KINDS):
        i = expected[kind]
        if i is None:
            continue
        assert is_png(panel.images[col].value)
        assert f"#{i}" in panel.captions[col].value
        dense = np.asarray(sub(small_state.images[i:i + 1].astype(np.float32) / 255.0, training=False))[0]
        np.testing.assert_allclose(panel.bars[col].y, dense, atol=1e-4)
        panel.open_buttons[col].click()
        assert small_state.index == i
    assert small_state.status == ""


def test_confidence_analysis_charts_have_fixed_axes_before_and_after_find(small_state, closes_cleanly):
    panel = ConfidenceAnalysis(small_state, blocking=True)
    closes_cleanly.append(panel)
    # Before "find": no chart on screen, and no scale without a range (bqplot cannot format the
    # ticks of such a scale and leaves the chart empty).
    assert [box.children for box in panel.chart_boxes] == [()] * 3
    for x_axis, y_axis in panel.axes:
        for scale in (x_axis.scale, y_axis.scale):
            assert scale.min is not None and scale.max is not None
    panel.find()
    sub = keras.Model(small_state.model.inputs[0], small_state.model.get_layer("dense1_act").output)
    shown = [i for i in panel.examples.values() if i is not None]
    dense = np.asarray(sub(small_state.images[shown].astype(np.float32) / 255.0, training=False))
    for col, (x_axis, y_axis) in enumerate(panel.axes):
        assert panel.chart_boxes[col].children == (panel.figures[col],)
        # Every one of the 128 bars lies inside the x range, the last index is the last tick.
        assert (x_axis.scale.min, x_axis.scale.max) == (-0.5, 127.5)
        assert x_axis.tick_values[0] == 0 and x_axis.tick_values[-1] == 127
        # One shared value axis holds all three examples' activations and zero, with little waste.
        lo, hi = y_axis.scale.min, y_axis.scale.max
        assert lo <= min(dense.min(), 0.0) and hi >= dense.max()
        assert hi <= 2 * dense.max() and lo >= min(dense.min(), 0.0) - 0.25 * hi
        ticks = list(y_axis.tick_values)
        assert 0.0 in ticks and all(lo <= t <= hi for t in ticks)
        labels = [format(t, y_axis.tick_format) for t in ticks]
        assert len(set(labels)) == len(labels) and "-0" not in labels[ticks.index(0.0)]


# --------------------------------------------------------------------------- gradient ascent

def test_filter_optimizer_generates_caches_and_grids(small_state, closes_cleanly, monkeypatch):
    calls = []
    real = compute.maximize_activation

    def spy(*args, **kwargs):
        calls.append(args[1:3])
        return real(*args, **kwargs)

    monkeypatch.setattr(compute, "maximize_activation", spy)
    opt = FilterOptimizer(small_state, blocking=True)
    closes_cleanly.append(opt)
    assert opt.layer.options == ("conv1_act", "conv2_act", "conv3_act", "conv4_act")
    opt.layer.value = "conv2_act"
    assert opt.channel.max == 31
    opt.channel.value, opt.steps.value = 4, 16
    opt.generate_button.click()
    # The image made raises channel 4 far above the grey start: measured with a plain Keras
    # sub-model, against mid-grey, within the input range [0, 1].
    img = opt.result()
    assert img.shape == (32, 32, 3) and img.min() >= 0.0 and img.max() <= 1.0
    sub = keras.Model(small_state.model.inputs[0], small_state.model.get_layer("conv2_act").output)
    grey = np.full((1, 32, 32, 3), 0.5, np.float32)
    means = np.asarray(sub(np.concatenate([img[None], grey]), training=False)).mean(axis=(1, 2))[:, 4]
    assert means[0] > means[1] + 0.5, means
    assert is_png(opt.image.value) and "channel 4" in opt.caption.value
    assert f"mean activation: <b>{means[0]:.3f}</b>" in opt.caption.value
    opt.generate()
    assert calls == [("conv2_act", 4)]  # the second press is a cache hit
    opt.grid_count.value = 3
    opt.grid_button.click()
    assert calls == [("conv2_act", 4), ("conv2_act", 0), ("conv2_act", 1), ("conv2_act", 2)]
    assert is_png(opt.grid_image.value)
    # Another model version is computed afresh.
    small_state.set_model(small_state.model)
    opt.generate()
    assert len(calls) == 5


# --------------------------------------------------------------------------- convolution arithmetic

def test_conv_arithmetic_panel_ends_at_the_feature_map_value(small_state, closes_cleanly):
    small_state.index = 11
    panel = ConvArithmetic(small_state)
    closes_cleanly.append(panel)
    panel.stage.value = "conv2_act"
    assert (panel.row.max, panel.col.max, panel.channel.max) == (15, 15, 31)
    assert panel.in_channel.max == 31
    sub = keras.Model(small_state.model.inputs[0], small_state.model.get_layer("conv2_act").output)
    for row, col, ch in [(15, 15, 7), (0, 0, 0), (0, 15, 31)]:
        panel.row.value, panel.col.value, panel.channel.value = row, col, ch
        real = np.asarray(sub(small_state.images[11:12].astype(np.float32) / 255.0, training=False))[0]
        assert panel.result["value"] == pytest.approx(float(real[row, col, ch]), abs=1e-5)
        assert "✓ the same" in panel.equation.value
        assert is_png(panel.map_image.value) and is_png(panel.input_image.value)
    # The first stage reads the RGB image: one table per colour channel.
    panel.stage.value = "conv1_act"
    assert panel.row.max == 31 and panel.tables.value.count("input channel") == 3
    # A new image updates the numbers.
    before = panel.result["value"]
    small_state.index = 12
    sub1 = keras.Model(small_state.model.inputs[0], small_state.model.get_layer("conv1_act").output)
    real = np.asarray(sub1(small_state.images[12:13].astype(np.float32) / 255.0, training=False))[0]
    assert panel.result["value"] == pytest.approx(float(real[panel.row.value, panel.col.value,
                                                             panel.channel.value]), abs=1e-5)
    assert panel.result["value"] != before
    assert small_state.status == ""


def test_a_click_on_the_arithmetic_pictures_picks_the_position(small_state, closes_cleanly):
    panel = ConvArithmetic(small_state)
    closes_cleanly.append(panel)
    panel.stage.value = "conv2_act"  # 32×32 input maps → 16×16, stride 2, kernel 3×3
    # The map is 16 cells upscaled to 160 pixels: 10 per cell. Pixel (x 75, y 55) is row 5, column 7.
    panel._on_map_click({"dataX": 75, "dataY": 55})
    assert (panel.row.value, panel.col.value) == (5, 7)
    sub = keras.Model(small_state.model.inputs[0], small_state.model.get_layer("conv2_act").output)
    real = np.asarray(sub(small_state.images[:1].astype(np.float32) / 255.0, training=False))[0]
    assert panel.result["value"] == pytest.approx(float(real[5, 7, panel.channel.value]), abs=1e-5)
    # The input is 32 cells at 5 pixels each. Input pixels (row 20, column 9) and (21, 9) lie in
    # the windows of outputs (10, 4) (rows 20-22, columns 8-10) and, for row 21, (10, 4) as well.
    for (row_in, col_in), expected in (((20, 9), {(10, 4), (9, 4)}), ((21, 9), {(10, 4)}),
                                       ((0, 0), {(0, 0)}), ((31, 31), {(15, 15)})):
        panel._on_input_click({"dataX": 5 * col_in + 2, "dataY": 5 * row_in + 2})
        row, col = panel.row.value, panel.col.value
        assert (row, col) in expected, (row_in, col_in)
        top, left = panel.result["origin"]
        assert top <= row_in <= top + 2 and left <= col_in <= left + 2
    # Sliders remain the keyboard's way to the same positions.
    panel.row.value, panel.col.value = 3, 12
    assert panel.result["origin"] == (6, 24)
    assert small_state.status == ""


def test_panels_with_their_own_layer_menu_start_at_the_picked_layer(small_state, closes_cleanly):
    small_state.layer = "conv2_act"
    made = [TopImages(small_state, blocking=True), FilterOptimizer(small_state, blocking=True),
            ConvArithmetic(small_state)]
    closes_cleanly.extend(made)
    top, optimizer, arithmetic = made
    assert top.layer.value == optimizer.layer.value == arithmetic.stage.value == "conv2_act"
    # A layer a panel cannot show (a dense layer for gradient ascent on maps, a BatchNorm inside a
    # stage for the top images' menu) leaves it at its own default, the last conv stage.
    small_state.layer = "dense1"
    later = [TopImages(small_state, blocking=True), FilterOptimizer(small_state, blocking=True)]
    closes_cleanly.extend(later)
    assert [p.layer.value for p in later] == ["conv4_act", "conv4_act"]
    # Each says so in one line.
    for panel in made:
        assert "changes only this panel" in " ".join(
            w.value for w in panel.children[1].children if hasattr(w, "value") and isinstance(w.value, str))


# --------------------------------------------------------------------------- top images

def test_top_images_panel(small_state, closes_cleanly, monkeypatch):
    top = TopImages(small_state, blocking=True)
    closes_cleanly.append(top)
    top.layer.value = "conv3_act"
    top.channel.value = 9
    top.find_button.click()
    sub = keras.Model(small_state.model.inputs[0], small_state.model.get_layer("conv3_act").output)
    means = np.asarray(sub.predict(small_state.images.astype(np.float32) / 255.0, verbose=0)).mean(axis=(1, 2))
    np.testing.assert_array_equal(top.indices, np.argsort(-means[:, 9], kind="stable")[:9])
    assert is_png(top.montage.value)
    # Another channel is a look-up, not a new pass.
    passes = []
    real = compute.layer_channel_means
    monkeypatch.setattr(compute, "layer_channel_means", lambda *a, **k: passes.append(1) or real(*a, **k))
    top.channel.value = 20
    assert passes == []
    np.testing.assert_array_equal(top.indices, np.argsort(-means[:, 20], kind="stable")[:9])
    top.open_buttons[2].click()
    assert small_state.index == top.indices[2]
    assert top.open_buttons[2].description == f"open #{top.indices[2]}"
    # The montage is saved under a name that says what it shows (a regression: the name's helper
    # was once not imported, so the click showed an error instead of a link).
    save = next(child for child in top.children if isinstance(child, Download))
    save.button.click()
    assert 'download="cnnviz-top-images-conv3_act-channel20.png"' in save.link.value, save.link.value
    assert "data:image/png;base64," in save.link.value


def test_top_images_captions_name_only_known_classes(cifar_model, cifar_test, monkeypatch):
    images, labels, names = cifar_test
    mixed = labels[:40].copy()
    mixed[::2] = -1
    state = ModelState(cifar_model, images[:40], mixed, names)
    captions = []
    real = render.labelled_montage
    monkeypatch.setattr(render, "labelled_montage", lambda imgs, caps, **k: captions.append(caps) or real(imgs, caps, **k))
    top = TopImages(state, blocking=True)
    top.find_button.click()
    assert len(captions[-1]) == len(top.indices) == 9
    for i, caption in zip(top.indices, captions[-1]):
        first = caption.splitlines()[0]
        assert first == (f"#{i} " + (names[mixed[i]] if mixed[i] >= 0 else "")), first
    assert any(mixed[i] < 0 for i in top.indices) and any(mixed[i] >= 0 for i in top.indices)
    top.close()


# --------------------------------------------------------------------------- training

@pytest.mark.slow
def test_train_panel_tests_on_the_images_of_known_class_only(cifar_model, cifar_test, monkeypatch):
    images, labels, names = cifar_test
    mixed = labels[:100].copy()
    mixed[:30] = -1
    state = ModelState(cifar_model, images[:100], mixed, names)
    seen = []
    real = train.train_epochs
    monkeypatch.setattr(train, "train_epochs",
                        lambda *a, test=None, **k: seen.append(test) or real(*a, test=test, **k))
    panel = TrainPanel(state, train_data=(images[500:628], labels[500:628]))
    panel.epochs.value, panel.batch_size.value = 1, 64
    # Before training there is no chart to look at, only a line that says how to get one.
    assert panel.charts.children == ()
    assert "Press “train a new model” to draw the loss and accuracy" in panel.no_chart.value
    panel.run_sync()
    test_images, test_labels = seen[0]
    np.testing.assert_array_equal(test_images, images[30:100])
    np.testing.assert_array_equal(test_labels, labels[30:100])
    probs = panel.trained_model.predict(images[30:100].astype(np.float32) / 255.0, verbose=0)
    assert panel.history["val_accuracy"][0] == pytest.approx(
        float((probs.argmax(1) == labels[30:100]).mean()), abs=1e-6)
    panel.close()


@pytest.mark.slow
def test_train_panel_replaces_the_model_and_charts_each_epoch(small_state, cifar_test, closes_cleanly):
    images, labels, _ = cifar_test
    old_model, old_version = small_state.model, small_state.version
    panel = TrainPanel(small_state, train_data=(images[500:756], labels[500:756]))
    closes_cleanly.append(panel)
    assert not panel.continue_current.disabled  # the shipped model is the guide's CNN
    panel.epochs.value, panel.batch_size.value = 1, 64
    # Before training there is no chart to look at, only a line that says how to get one.
    assert panel.charts.children == ()
    assert "Press “train a new model” to draw the loss and accuracy" in panel.no_chart.value
    panel.run_sync()
    # Training worked on a copy: the model on screen stays until the student chooses the new one.
    assert small_state.status == ""
    assert small_state.model is old_model and small_state.version == old_version
    assert not panel.train_button.disabled and not panel.use_button.disabled
    trained = panel.trained_model
    probs_new = trained.predict(small_state.images.astype(np.float32) / 255.0, verbose=0)
    probs_old = old_model.predict(small_state.images.astype(np.float32) / 255.0, verbose=0)
    acc_new = float((probs_new.argmax(1) == small_state.labels).mean())
    acc_old = float((probs_old.argmax(1) == small_state.labels).mean())
    assert panel.accuracies["trained"] == pytest.approx(acc_new, abs=1e-6)
    assert panel.accuracies["current"] == pytest.approx(acc_old, abs=1e-6)
    assert f"{100 * acc_new:.1f} %" in panel.comparison.value and f"{100 * acc_old:.1f} %" in panel.comparison.value
    panel.use_button.click()
    assert small_state.model is trained and small_state.version > old_version
    assert panel.use_button.disabled and "shown in every panel" in panel.comparison.value
    assert len(panel.history["loss"]) == len(panel.history["val_accuracy"]) == 1
    for metric, mark in panel.lines.items():
        np.testing.assert_array_equal(mark.x, [1.0])
        np.testing.assert_allclose(mark.y, panel.history[metric])
    # One epoch set, one tick: the axes span the epochs set, on both charts.
    assert [list(f.axes[0].tick_values) for f in panel.figures] == [[1], [1]]
    assert (panel.x_scale.min, panel.x_scale.max) == (0.5, 1.5)
    # Loss and accuracy on charts of their own, no legend drawn over the lines.
    assert [[m.labels[0] for m in f.marks] for f in panel.figures] == [
        ["train loss", "test loss"], ["train accuracy", "test accuracy"]]
    assert not any(m.display_legend for f in panel.figures for m in f.marks)
    assert panel.charts.children and panel.no_chart.value == ""
    # The chart's test accuracy is the new model's accuracy on the state's images.
    probs = small_state.model.predict(small_state.images.astype(np.float32) / 255.0, verbose=0)
    assert panel.history["val_accuracy"][0] == pytest.approx(
        float((probs.argmax(1) == small_state.labels).mean()), abs=1e-6)
    data = panel.save()
    assert data[:2] == b"PK" and "base64," in panel.download.value


@pytest.mark.slow
def test_train_panel_cancel_keeps_the_old_model(small_state, cifar_test, closes_cleanly):
    images, labels, _ = cifar_test
    old_model, old_version = small_state.model, small_state.version
    panel = TrainPanel(small_state, train_data=(images[500:1012], labels[500:1012]))
    closes_cleanly.append(panel)
    panel.epochs.value, panel.batch_size.value = 5, 32
    panel.continue_current.value = True
    panel.train_button.click()  # in a background thread
    deadline = time.time() + 120
    while panel.job.bar.value <= 0.0 and time.time() < deadline:
        time.sleep(0.05)
    panel.job.cancel_button.click()
    assert panel.wait(120)
    assert panel.job.message.value == "cancelled"
    assert len(panel.history["loss"]) < 5
    assert small_state.model is old_model and small_state.version == old_version


def test_train_panel_without_training_data_reports(cifar_model, cifar_test):
    state = ModelState(cifar_model, cifar_test[0][:20], cifar_test[1][:20],
                       [f"thing {i}" for i in range(10)])
    panel = TrainPanel(state, blocking=True)
    panel.train()
    assert "no training images" in state.status and state.model is cifar_model
    panel.close()


@pytest.mark.slow
def test_train_panel_restores_the_shipped_model_and_disables_train_while_training(small_state, cifar_test,
                                                                                   untrained_cnn):
    images, labels, _ = cifar_test
    small_state.set_model(untrained_cnn)
    panel = TrainPanel(small_state, train_data=(images[500:1012], labels[500:1012]))
    panel.epochs.value, panel.batch_size.value = 5, 32
    seen = []
    panel.train_button.click()  # in a background thread
    seen.append(panel.train_button.disabled)
    panel.job.cancel_button.click()
    assert panel.wait(120)
    assert seen == [True] and not panel.train_button.disabled and panel.trained_model is None
    # One click brings back the trained model that ships with the package.
    panel.restore_button.click()
    from cnnviz_widgets.loading.shipped_model import DEFAULT_MODEL_PATH

    shipped = keras.saving.load_model(DEFAULT_MODEL_PATH, compile=False)
    x = small_state.images[:20].astype(np.float32) / 255.0
    np.testing.assert_allclose(small_state.model.predict(x, verbose=0), shipped.predict(x, verbose=0), atol=1e-5)
    assert "shipped" in small_state.status
    panel.close()
