"""The state's one cache: bounded by entries and bytes, cleared when the model or the images change,
never storing a result computed for a model that was replaced meanwhile.

Expected values are hand-counted (entries, bytes of arrays of known shapes) or come from plain Keras
sub-models; passes over the image set are counted with ``progress`` callbacks.
"""
from __future__ import annotations

import threading

import keras
import numpy as np

from cnnviz_widgets import ModelState
from cnnviz_widgets.cache import Cache


def test_least_recently_used_entries_go_first():
    cache = Cache(max_entries=3)
    made = []
    for k in "abc":
        cache.get((k,), lambda k=k: made.append(k) or k.upper())
    assert cache.get(("a",), lambda: "new") == "A"  # a hit, and now the most recent
    cache.get(("d",), lambda: "D")
    assert cache.keys() == [("c",), ("a",), ("d",)]  # "b" was the least recently used
    assert made == ["a", "b", "c"] and len(cache) == 3


def test_bounded_by_the_bytes_of_its_arrays():
    cache = Cache(max_entries=100, max_bytes=10_000)
    for i in range(5):
        cache.get(("block", i), lambda: np.zeros(1000, np.float32))  # 4,000 bytes each
    assert cache.keys() == [("block", 3), ("block", 4)] and cache.nbytes == 8_000
    # A value larger than the whole cache is returned but not kept.
    big = cache.get(("big",), lambda: np.zeros(3000, np.float32))
    assert big.nbytes == 12_000 and ("big",) not in cache and cache.nbytes == 8_000
    # Arrays inside dicts and tuples count too.
    cache.get(("pair",), lambda: {"a": np.zeros(500, np.float64), "b": (np.zeros(250, np.uint8), "text")})
    assert cache.nbytes == 4_000 + 4_000 + 250


def test_a_value_computed_across_a_clear_is_not_stored():
    cache = Cache()
    generation = cache.generation
    cache.clear()  # the model changed while a job was computing
    assert cache.get(("predictions",), lambda: "old model's", generation) == "old model's"
    assert ("predictions",) not in cache
    # Cleared while ``make`` runs.
    assert cache.get(("k",), lambda: cache.clear() or 1) == 1 and ("k",) not in cache


def test_state_channel_means_once_per_version_and_cleared_on_change(cifar_model, cifar_test):
    images, labels, names = cifar_test
    state = ModelState(cifar_model, images[:300], labels[:300], names)
    passes = []
    means = state.channel_means("conv3_act", progress=lambda done, total: passes.append(done))
    sub = keras.Model(cifar_model.inputs[0], cifar_model.get_layer("conv3_act").output)
    expected = np.asarray(sub(images[:300].astype(np.float32) / 255.0, training=False)).mean(axis=(1, 2))
    np.testing.assert_allclose(means, expected, rtol=1e-4, atol=1e-5)
    assert passes == [300]
    assert state.channel_means("conv3_act", progress=lambda d, t: passes.append(d)) is means
    assert passes == [300]
    # New images, even equal in content: computed afresh, and nothing of the old set is kept.
    state.set_images(images[:300].copy(), labels[:300])
    assert state.cache.keys("channel_means") == []
    state.channel_means("conv3_act", progress=lambda d, t: passes.append(d))
    assert passes == [300, 300]


def test_a_job_that_outlives_its_model_stores_nothing(cifar_model, untrained_cnn, cifar_test):
    """A background pass reads the model, the student replaces it, the pass ends: its result
    must not become the new model's predictions."""
    images, labels, names = cifar_test
    state = ModelState(cifar_model, images[:200], labels[:200], names)
    started, release = threading.Event(), threading.Event()
    out = {}

    def progress(done, total):
        started.set()
        release.wait(30)

    job = threading.Thread(target=lambda: out.setdefault("probs", state.predictions(progress)))
    job.start()
    assert started.wait(30)
    state.set_model(untrained_cnn)
    release.set()
    job.join(60)
    old = np.asarray(cifar_model(images[:200].astype(np.float32) / 255.0, training=False))
    new = np.asarray(untrained_cnn(images[:200].astype(np.float32) / 255.0, training=False))
    np.testing.assert_allclose(out["probs"], old, atol=1e-5)  # the job got what it asked for
    assert state.cache.keys("predictions") == []
    np.testing.assert_allclose(state.predictions(), new, atol=1e-5)  # the state: the new model's
