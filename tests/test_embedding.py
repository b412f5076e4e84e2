"""Tests of the dataset map's computation (cnnviz_widgets.compute: features, PCA, t-SNE, disk cache).

Expected values come from elsewhere: a plain Keras sub-model and ``model.predict`` for the features
and predictions, NumPy's SVD for PCA, scikit-learn's nearest neighbours for what t-SNE keeps.
"""
from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from cnnviz_widgets.compute import (
    MapCache,
    dataset_map,
    features_and_predictions,
    map_key,
    pca,
    penultimate_layer,
    tsne,
)


@pytest.fixture(scope="module")
def features(cifar_model, cifar_test):
    """Penultimate features and predictions of the first 1,500 real test images."""
    images = cifar_test[0][:1500]
    return features_and_predictions(cifar_model, images)


def test_features_are_the_penultimate_layers_and_predictions_the_models(cifar_model, cifar_test, features):
    layer = penultimate_layer(cifar_model)
    # The layer feeding the last Dense layer (Dropout aside: it changes nothing at inference).
    last = cifar_model.layers[-1]
    assert type(last).__name__ == "Dense"
    before = [lyr for lyr in cifar_model.layers[:-1] if type(lyr).__name__ != "Dropout"][-1]
    assert layer == before.name
    images = cifar_test[0][:1500].astype(np.float32) / 255.0
    sub = keras.Model(cifar_model.inputs, cifar_model.get_layer(layer).output)
    np.testing.assert_allclose(features[0], sub.predict(images, verbose=0), atol=1e-4)
    np.testing.assert_array_equal(features[1], cifar_model.predict(images, verbose=0).argmax(axis=1))


def test_pca_matches_numpys_svd(features):
    x = features[0].astype(np.float64)
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ vt[:10].T
    got = pca(x, n_components=10)
    assert got.shape == (1500, 10)
    # A principal axis has no sign of its own: align each column with the reference's.
    signs = np.sign((got * expected).sum(axis=0))
    np.testing.assert_allclose(got * signs, expected, atol=2e-3 * np.abs(expected).max())


@pytest.mark.slow
def test_tsne_keeps_neighbourhoods_of_the_features(features):
    x, _ = features
    pcs = pca(x)
    coords = tsne(pcs, seed=0)
    assert coords.shape == (1500, 2) and np.isfinite(coords).all()
    k = 10
    near_features = NearestNeighbors(n_neighbors=k + 1).fit(pcs).kneighbors(pcs, return_distance=False)[:, 1:]
    near_map = NearestNeighbors(n_neighbors=k + 1).fit(coords).kneighbors(coords, return_distance=False)[:, 1:]
    agreement = np.mean([len(set(a) & set(b)) / k for a, b in zip(near_features, near_map)])
    chance = k / (len(x) - 1)
    # Chance is 0.7 %; a map that kept nothing of the features would be near it.
    assert agreement > 30 * chance, agreement


def test_progress_reaches_the_end_and_cancel_stops_tsne(features):
    pcs = pca(features[0][:300])
    seen = []
    tsne(pcs, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] and len(seen) >= 10

    class Stop(Exception):
        pass

    def stop_early(done, total):
        if done >= 100:
            raise Stop()

    with pytest.raises(Stop):
        tsne(pcs, progress=stop_early)


def test_cache_hit_truncated_file_and_other_model(cifar_model, untrained_cnn, cifar_test, tmp_path):
    images = cifar_test[0][:200]
    cache = MapCache(tmp_path)
    notes = []
    first = dataset_map(cifar_model, images, cache=cache, on_note=notes.append)
    assert not first.from_cache and notes == []
    path = cache.path(first.key)
    assert path.exists()
    again = dataset_map(cifar_model, images, cache=cache, on_note=notes.append)
    assert again.from_cache and notes == []
    np.testing.assert_array_equal(again.coords, first.coords)
    np.testing.assert_array_equal(again.predicted, first.predicted)

    # A truncated file is not trusted: computed again, said why, and written whole again.
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    redone = dataset_map(cifar_model, images, cache=cache, on_note=notes.append)
    assert not redone.from_cache
    assert len(notes) == 1 and "unreadable" in notes[0]
    assert cache.load(first.key, 200) is not None

    # Other weights, other key; a file of the first model put under the other model's name is
    # foreign and computed again.
    other = map_key(untrained_cnn, images)
    assert other != first.key
    cache.path(other).write_bytes(path.read_bytes())
    notes.clear()
    foreign = dataset_map(untrained_cnn, images, cache=cache, on_note=notes.append)
    assert not foreign.from_cache
    assert "another model or image set" in notes[0]
    expected = untrained_cnn.predict(images.astype(np.float32) / 255.0, verbose=0).argmax(axis=1)
    np.testing.assert_array_equal(foreign.predicted, expected)

    # Other images (one pixel changed): another key too.
    changed = images.copy()
    changed[0, 0, 0, 0] ^= 1
    assert map_key(cifar_model, changed) != first.key


def test_a_cache_file_that_needs_pickle_is_refused(cifar_model, cifar_test, tmp_path):
    images = cifar_test[0][:200]
    cache = MapCache(tmp_path)
    key = map_key(cifar_model, images)
    np.savez(cache.path(key), key=np.array(key), format=np.array(1),
             coords=np.array([object()] * 400, dtype=object), predicted=np.zeros(200), layer=np.array("x"))
    notes = []
    result = dataset_map(cifar_model, images, cache=cache, on_note=notes.append)
    assert not result.from_cache and "unreadable" in notes[0]
    assert result.coords.shape == (200, 2)
