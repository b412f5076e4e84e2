"""The exercises' answers: the measures on small hand-made arrays, then each answer of the path on
the shipped model and the 10,000 CIFAR-10 test images against a plain computation of its own
(Keras sub-models, loops over the predictions), and the list's done marks and costs."""
from __future__ import annotations

import re

import numpy as np
import pytest
from references import hand_grad_cam

from cnnviz_widgets import compute
from cnnviz_widgets.widgets.exercises import EXERCISES, ExercisePath

STAGES = ["conv1_act", "conv2_act", "conv3_act", "conv4_act"]


# =========================================================================== the measures, by hand

def test_filter_picks_of_a_hand_made_kernel():
    k = np.zeros((3, 3, 3, 4), np.float32)
    k[..., 2, 0] = 1.0                           # filter 0: all blue
    k[..., 0, 1] = 0.5                           # filter 1: red, weaker
    k[0, :, :, 2], k[2, :, :, 2] = 1.0, -1.0     # filter 2: bright above dark, a horizontal edge
    k[:, 0, :, 3], k[:, 2, :, 3] = -1.0, 1.0     # filter 3: dark left of bright, a vertical edge
    picks = compute.filter_picks(k)
    assert (picks.blue, picks.red, picks.horizontal, picks.vertical) == (0, 1, 2, 3)
    # Filter 0's blue mean (1) less its red and green means (0); filter 2's rows: |9 - (-9)| / 18.
    assert picks.scores["blue"] == pytest.approx(1.0)
    assert picks.scores["horizontal"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="RGB kernel"):
        compute.filter_picks(np.zeros((3, 3, 32, 8)))


def test_stage_similarity_by_hand():
    assert compute.stage_similarity(np.array([[1.0, 0.0], [0.0, 2.0]])) == pytest.approx(0.0)
    assert compute.stage_similarity(np.array([[1.0, 1.0], [3.0, 3.0]])) == pytest.approx(1.0)
    # Pairs: (a, b) cos 45° = 0.7071, (a, c) 0, (b, c) 0.7071: mean 0.4714.
    three = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    assert compute.stage_similarity(three) == pytest.approx((2 * 0.5 ** 0.5) / 3)
    with pytest.raises(ValueError, match="two images"):
        compute.stage_similarity(np.ones((1, 4)))


def test_heat_place_by_hand():
    cam = np.full((9, 9), 0.1)
    cam[7, 1] = 1.0  # in the lower-left ninth
    place, share = compute.heat_place(cam)
    assert place == "lower left"
    # That ninth holds 8 × 0.1 + 1 of the map's 80 × 0.1 + 1.
    assert share == pytest.approx(1.8 / 9.0)


def test_class_and_sure_mistakes_by_hand():
    # Class 0: 3 images, 2 right; class 1: 2 images, 0 right (both taken for 2); class 2: 1 image,
    # right; one image of unknown class (-1), left out.
    labels = np.array([0, 0, 0, 1, 1, 2, -1])
    predicted = np.array([0, 0, 1, 2, 2, 2, 0])
    confidence = np.array([0.9, 0.8, 0.95, 0.6, 0.99, 0.7, 1.0])
    probs = np.full((7, 3), 0.0)
    probs[np.arange(7), predicted] = confidence
    probs[np.arange(7), (predicted + 1) % 3] = 1 - confidence
    found = compute.class_mistakes(probs, labels)
    assert found.accuracy == pytest.approx(3 / 6)
    assert (found.weakest, found.weakest_accuracy, found.confused_with, found.confused_count) == (1, 0.0, 2, 2)
    assert (found.worst_pair, found.worst_count) == ((1, 2), 2)
    sure = compute.sure_mistakes(probs, labels, threshold=0.9)
    # Wrong: image 2 (0.95), 3 (0.6), 4 (0.99); image 6 is of unknown class.
    assert (sure.count, sure.wrong, sure.most) == (2, 3, 4)
    assert sure.most_confidence == pytest.approx(0.99)


# =========================================================================== the answers, on the real model

@pytest.fixture(scope="module")
def answers(cifar_model, cifar_test):
    """Every answer of the path, worked out by the list on a state of the 10,000 test images."""
    from cnnviz_widgets.state import ModelState

    images, labels, names = cifar_test
    state = ModelState(cifar_model, images, labels, names)
    path = ExercisePath(state, blocking=True)
    for ex in EXERCISES:
        path.show_answer(ex.number)
    assert state.status == ""
    yield state, {n: re.sub(r"<[^>]+>", "", text) for n, text in path.answers.items()}
    path.close()


@pytest.fixture(scope="module")
def keras_predictions(cifar_model, cifar_test):
    images, labels, _ = cifar_test
    return cifar_model.predict(images.astype(np.float32) / 255.0, batch_size=500, verbose=0)


def test_exercise_1_names_the_conv1_filters_of_each_kind(answers, cifar_model):
    _, text = answers
    kernel = cifar_model.get_layer("conv1").get_weights()[0]  # (3, 3, 3, 32)
    best = {}
    for f in range(kernel.shape[3]):
        w = kernel[..., f].astype(np.float64)
        r, g, b = (w[:, :, c].mean() for c in range(3))
        grey = w.sum(axis=2)
        size = np.abs(grey).sum()
        scores = {"blue": b - (r + g) / 2, "red": r - (g + b) / 2,
                  "horizontal": abs(grey[0].sum() - grey[2].sum()) / size,
                  "vertical": abs(grey[:, 0].sum() - grey[:, 2].sum()) / size}
        for kind, score in scores.items():
            if kind not in best or score > best[kind][1]:
                best[kind] = (f, score)
    assert len({f for f, _ in best.values()}) == 4  # four different filters: the question has four answers
    assert f"filter {best['blue'][0]} leans most to blue" in text[1]
    assert f"filter {best['red'][0]} most to red" in text[1]
    assert f"filter {best['horizontal'][0]} is the clearest horizontal edge" in text[1]
    assert f"filter {best['vertical'][0]} the clearest vertical edge" in text[1]


def test_exercise_2_says_how_alike_the_five_images_are_at_each_stage(answers, cifar_model, cifar_test):
    import keras

    state, text = answers
    images, labels, names = cifar_test
    # The guide's five: the first cat, dog, ship, plane and truck of the test set.
    five = [int(np.flatnonzero(labels == names.index(n))[0]) for n in ("cat", "dog", "ship", "airplane", "truck")]
    assert list(state.compare) == five
    x = images[five].astype(np.float32) / 255.0
    alike = {}
    for stage in STAGES:
        out = keras.Model(cifar_model.inputs[0], cifar_model.get_layer(stage).output)(x, training=False)
        flat = np.asarray(out, np.float64).reshape(5, -1)
        pairs = [flat[a] @ flat[b] / np.linalg.norm(flat[a]) / np.linalg.norm(flat[b])
                 for a in range(5) for b in range(5) if a != b]
        alike[stage] = float(np.mean(pairs))
        assert f"{stage} {alike[stage]:.2f}" in text[2]
    assert f"They differ most at {min(alike, key=alike.get)}" in text[2]


def test_exercise_3_says_where_grad_cam_is_strongest(answers, cifar_model, cifar_test):
    _, text = answers
    images, labels, names = cifar_test
    places = (("upper left", "top", "upper right"), ("left", "centre", "right"),
              ("lower left", "bottom", "lower right"))
    for name in ("airplane", "cat", "ship"):
        i = int(np.flatnonzero(labels == names.index(name))[0])
        x = images[i].astype(np.float32) / 255.0
        predicted = int(np.argmax(cifar_model(x[None], training=False)))
        cam, _ = hand_grad_cam(cifar_model, x, predicted, "conv4_act")
        row, col = np.unravel_index(int(np.argmax(cam)), cam.shape)
        # 32 cells split into thirds: rows (and columns) 0-10, 11-21 and 22-31.
        band_r, band_c = (0 if v < 11 else 1 if v < 22 else 2 for v in (row, col))
        rows = [range(0, 11), range(11, 22), range(22, 32)][band_r]
        cols = [range(0, 11), range(11, 22), range(22, 32)][band_c]
        share = cam[np.ix_(list(rows), list(cols))].sum() / cam.sum()
        assert f"image #{i} (True: {name} · Predicted: {names[predicted]}" in text[3]
        after = text[3].split(f"image #{i} ")[1]
        assert (f"strongest in the {places[band_r][band_c]}, with {100 * share:.0f} % of the map"
                in after.split("; ")[0]), after


def test_exercise_4_names_the_weakest_class_and_its_confusion(answers, keras_predictions, cifar_test):
    _, text = answers
    _, labels, names = cifar_test
    predicted = keras_predictions.argmax(axis=1)
    rate = {c: np.mean([predicted[i] == c for i in np.flatnonzero(labels == c)]) for c in range(10)}
    weakest = min(rate, key=rate.get)
    taken_for = {c: int(np.sum((labels == weakest) & (predicted == c))) for c in range(10) if c != weakest}
    confused = max(taken_for, key=taken_for.get)
    assert f"gets {100 * np.mean(predicted == labels):.1f} % of the 10,000 images right" in text[4]
    assert f"Its weakest class is {names[weakest]}: {100 * rate[weakest]:.1f} % of them right" in text[4]
    assert f"takes one for is {names[confused]} ({taken_for[confused]:,} images)" in text[4]
    mistakes = {(t, p): int(np.sum((labels == t) & (predicted == p))) for t in range(10) for p in range(10) if t != p}
    t, p = max(mistakes, key=mistakes.get)
    assert f"most common mistake of all is {names[t]} → {names[p]} ({mistakes[t, p]:,} images)" in text[4]


def test_exercise_5_counts_the_sure_mistakes(answers, keras_predictions, cifar_test):
    _, text = answers
    _, labels, names = cifar_test
    sure, wrong, surest = 0, 0, None
    for i, p in enumerate(keras_predictions):
        if p.argmax() != labels[i]:
            wrong += 1
            sure += p.max() > 0.9
            if surest is None or p.max() > keras_predictions[surest].max():
                surest = i
    assert sure > 0
    assert f"Yes: {sure:,} of its {wrong:,} wrong answers come with more than 90 % confidence" in text[5]
    assert (f"The surest mistake is image #{surest} (the third example of “find”): true class "
            f"{names[labels[surest]]}, predicted {names[keras_predictions[surest].argmax()]}") in text[5]


# =========================================================================== the list itself

def test_the_list_computes_nothing_until_an_answer_is_asked(st):
    before = len(st.cache)
    path = ExercisePath(st, blocking=True)
    try:
        assert len(st.cache) == before and path.answers == {}
        assert all(not b.value for b in path.buttons.values())
        assert "Answer" not in path.texts[1].value
        path.buttons[1].value = True  # what the student's click (or Space on the button) does
        assert "filter" in path.answers[1] and "Answer:" in path.texts[1].value
        # The progress bar was shown for the work and goes with it: no "done in 0.0 s" stays.
        assert path.job in path.children and path.job.layout.display == "none"
        path.buttons[1].value = False
        assert "Answer" not in path.texts[1].value
    finally:
        path.close()


def test_done_marks_are_kept_and_answers_follow_the_model(cifar_model, cifar_test, tiny_model):
    from cnnviz_widgets.state import ModelState

    images, labels, names = cifar_test
    st = ModelState(cifar_model, images[:20], labels[:20], names)
    path = ExercisePath(st, blocking=True)
    try:
        path.checks[2].value = True
        path.checks[5].value = True
        assert path.done == (2, 5)
        path.done = (1,)
        assert [c.value for c in path.checks.values()] == [True, False, False, False, False]
        path.show_answer(1)
        assert "Measured on conv1's weights" in path.answers[1]
        st.set_model(tiny_model)
        # A new model: no answer of the old one stays, the done marks do.
        assert path.answers == {} and not path.buttons[1].value and path.done == (1,)
        path.show_answer(1)
        assert "Measured on c1's weights" in path.answers[1]
        # Pictures of unknown class: nothing is right or wrong, and the list says so.
        st.set_images(images[:20])
        path.show_answer(4)
        assert 4 not in path.answers and "No answer" in path.texts[4].value
        # A failed answer keeps its bar in view, with what happened.
        assert path.job.layout.display is None and path.job.message.value == "failed"
        assert "these images have no true classes" in st.status
    finally:
        path.close()
