"""Nearest images in the penultimate features: against plain Keras sub-models and brute-force loops
over distances on the real CIFAR-10 test images."""
from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import observers_of
from references import keras_layer

from cnnviz_widgets import SimilarImages, compute


@pytest.fixture(scope="module")
def real(shared):
    """The penultimate features and predictions of the module's 1,000 real test images."""
    return shared.similarity_features()


def brute_force_distances(features, i):
    return [math.sqrt(sum((float(a) - float(b)) ** 2 for a, b in zip(row, features[i]))) for row in features]


def test_penultimate_features_are_the_keras_sub_model_output(cifar_model, cifar_test):
    images = cifar_test[0][:300]
    got = compute.penultimate_features(cifar_model, images, batch_size=128)
    expected = keras_layer(cifar_model, "dense1_act", images).reshape(300, -1)
    assert got.shape == (300, 128) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_penultimate_features_report_progress_per_batch(tiny_model, cifar_test):
    seen = []
    # The tiny model's layer before its last Dense is its Flatten (15·15·4 values after the pool).
    got = compute.penultimate_features(tiny_model, cifar_test[0][:50], batch_size=20, progress=lambda d, n: seen.append(d))
    assert got.shape == (50, 15 * 15 * 4) and seen == [20, 40, 50]


@pytest.mark.parametrize("index", [0, 7, 512, 999])
def test_nearest_examples_match_a_brute_force_loop(real, index):
    features, _ = real
    dist = brute_force_distances(features, index)
    expected = sorted((d, j) for j, d in enumerate(dist) if j != index)[:8]
    got = compute.nearest_examples(features, index, k=8)
    assert index not in got
    assert got.tolist() == [j for _, j in expected]


@pytest.mark.parametrize("index", [3, 250, 998])
def test_nearest_counterfactual_matches_a_brute_force_loop(real, index):
    features, predicted = real
    dist = brute_force_distances(features, index)
    expected = min((d, j) for j, d in enumerate(dist) if predicted[j] != predicted[index])[1]
    got = compute.nearest_counterfactual(features, predicted, index)
    assert got == expected and predicted[got] != predicted[index]


def test_ties_and_small_sets():
    f = np.array([[0.0], [1.0], [-1.0], [1.0]], np.float32)
    assert compute.nearest_examples(f, 0, k=3).tolist() == [1, 2, 3]
    assert compute.nearest_examples(f, 0, k=10).tolist() == [1, 2, 3]
    assert compute.nearest_counterfactual(f, np.zeros(4, int), 0) is None
    assert compute.nearest_counterfactual(f, np.array([0, 0, 0, 1]), 0) == 3


def test_bad_input_is_refused_with_the_reason():
    f = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match="out of range 0..4"):
        compute.nearest_examples(f, 5)
    with pytest.raises(ValueError, match="at least 1"):
        compute.nearest_examples(f, 0, k=0)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        compute.nearest_examples(np.zeros(5), 0)
    with pytest.raises(ValueError, match="4 predictions for 5"):
        compute.nearest_counterfactual(f, np.zeros(4), 0)


def test_features_are_kept_on_disk_and_a_bad_file_is_computed_again(cifar_model, cifar_test, tmp_path,
                                                                    monkeypatch):
    images = cifar_test[0][:120]
    cache = compute.MapCache(tmp_path)
    first = compute.similarity_features(cifar_model, images, cache=cache)
    files = list(tmp_path.glob("features-*.npz"))
    assert len(files) == 1
    # From the file: no batch goes through the model.
    real_batch = compute.Inspector.batch_outputs
    monkeypatch.setattr(compute.Inspector, "batch_outputs", lambda *a: pytest.fail("the model ran"))
    again = compute.similarity_features(cifar_model, images, cache=cache)
    np.testing.assert_array_equal(again[0], first[0])
    np.testing.assert_array_equal(again[1], first[1])
    monkeypatch.setattr(compute.Inspector, "batch_outputs", real_batch)
    files[0].write_bytes(b"not a zip file")
    notes = []
    fresh = compute.similarity_features(cifar_model, images, cache=cache, on_note=notes.append)
    np.testing.assert_array_equal(fresh[0], first[0])
    assert notes and "unreadable" in notes[0]
    # Other images, other key: a file of its own.
    compute.similarity_features(cifar_model, images[:60], cache=cache)
    assert len(list(tmp_path.glob("features-*.npz"))) == 2


def test_similar_images_panel_shows_and_opens_neighbours(st, opened, real, monkeypatch, tmp_path):
    panel = SimilarImages(st, cache=compute.MapCache(tmp_path), blocking=True)
    opened(panel)
    panel.compute()
    features, predicted = real
    assert panel.nearest.tolist() == compute.nearest_examples(features, 0).tolist()
    assert panel.counterfactual == compute.nearest_counterfactual(features, predicted, 0)
    assert st.class_names[predicted[panel.counterfactual]] in panel.pair_caption.value
    # A new image is one query on the features already computed, and one forward pass for the state.
    calls = []
    real_run = compute.Inspector.run
    monkeypatch.setattr(compute.Inspector, "run", lambda self, x: calls.append(1) or real_run(self, x))
    st.index = 42
    assert len(calls) == 1 and panel.nearest.tolist() == compute.nearest_examples(features, 42).tolist()
    # An ipyevents click on the second picture of the first row opens that image.
    second = int(panel.nearest[1])
    panel._on_montage_click({"type": "click", "dataX": 96 + 4 + 10, "dataY": 10})
    assert st.index == second
    # The counterfactual, the second picture of the pair, opens with a click too.
    counterfactual = panel.counterfactual
    panel._on_pair_click({"type": "click", "dataX": 10, "dataY": 10})  # the image itself: nothing
    assert st.index == second
    panel._on_pair_click({"type": "click", "dataX": 128 + 4 + 10, "dataY": 10})
    assert st.index == counterfactual
    # And with the keyboard: the list.
    target = int(panel.nearest[3])
    panel.choices.value = target
    assert st.index == target


def test_similar_images_close_unobserves_the_state(st, tmp_path):
    panel = SimilarImages(st, cache=compute.MapCache(tmp_path))
    assert observers_of(st, panel)
    panel.close()
    assert not observers_of(st, panel)


def test_a_new_model_computes_its_own_features(cifar_model, cifar_test, tiny_model, opened, tmp_path):
    from cnnviz_widgets import ModelState

    images, labels, names = cifar_test
    state = ModelState(cifar_model, images[:40], labels[:40], names)
    panel = SimilarImages(state, cache=compute.MapCache(tmp_path), blocking=True)
    opened(panel)
    panel.compute()
    assert panel.features.shape == (40, 128)
    state.set_model(tiny_model)
    # Shown before: computed again for the new model at once, from its own features.
    assert panel.features.shape == (40, 15 * 15 * 4)
    expected = compute.penultimate_features(tiny_model, images[:40])
    np.testing.assert_allclose(panel.features, expected, rtol=1e-5, atol=1e-6)
    assert panel.nearest.tolist() == compute.nearest_examples(expected, state.index).tolist()
