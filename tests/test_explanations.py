"""The attribution methods, their faithfulness curves and the sanity check, against independent code:
tf-keras-vis (Saliency, SmoothGrad, Grad-CAM++, Score-CAM), plain Keras and NumPy loops, and the
shipped model on real CIFAR-10 test images; then the explanation lab and the heatmap's method choice.
"""
from __future__ import annotations

import numpy as np
import pytest

from cnnviz_widgets import ExplanationLab, HeatmapOverlay
from cnnviz_widgets.compute import (
    METHODS,
    deletion_curve,
    explain,
    grad_cam,
    grad_cam_plus_plus,
    insertion_curve,
    integrated_gradients,
    normalize_map,
    occlusion,
    randomization_check,
    resize_map,
    saliency,
    score_cam,
    smoothgrad,
    spearman,
)

#: Test images: a cat, a ship, a ship, a plane, a frog (the first five of the test set).
IMAGES = (0, 1, 2, 3, 4)


def _x(cifar_test, i):
    return cifar_test[0][i].astype(np.float32) / 255.0


_BEFORE_SOFTMAX: dict = {}


def _logits(model, batch):
    """Pre-softmax scores (N, 10) of the shipped model by hand: the sub-model up to the layer
    before ``predictions``, then that Dense layer's own kernel and bias (its softmax left out)."""
    import keras

    if model not in _BEFORE_SOFTMAX:
        _BEFORE_SOFTMAX[model] = keras.Model(model.inputs, model.get_layer("dense1_dropout").output)
    dense = model.get_layer("predictions")
    features = _BEFORE_SOFTMAX[model].predict_on_batch(np.asarray(batch, np.float32))
    return features @ dense.kernel.numpy() + dense.bias.numpy()


@pytest.fixture(scope="module")
def tkv(cifar_model):
    """tf-keras-vis's Saliency, GradcamPlusPlus and Scorecam on copies of the shipped model whose
    softmax is replaced by a linear activation: their score is the pre-softmax score too."""
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear

    return {cls.__name__: cls(cifar_model, model_modifier=ReplaceToLinear(), clone=True)
            for cls in (Saliency, GradcamPlusPlus, Scorecam)}


def _score(c):
    from tf_keras_vis.utils.scores import CategoricalScore

    return CategoricalScore(int(c))


# --------------------------------------------------------------------------- against tf-keras-vis

@pytest.mark.parametrize("i", IMAGES)
def test_saliency_equals_tf_keras_vis(cifar_model, cifar_test, tkv, i):
    x = _x(cifar_test, i)
    for c in (int(np.argmax(_logits(cifar_model, x[None]))), 7):
        theirs = tkv["Saliency"](_score(c), x[None], normalize_map=False)[0]
        # The same gradient of the same float32 graph: equal up to rounding.
        np.testing.assert_allclose(saliency(cifar_model, x, c), theirs, rtol=1e-4, atol=1e-6)


def test_smoothgrad_agrees_with_tf_keras_vis(cifar_model, cifar_test, tkv):
    # Both average |gradient| over Gaussian copies with sigma = noise × (max - min) of the image
    # (tf-keras-vis takes the channel maximum after the mean, we before, as Smilkov et al. do),
    # but draw different noise: two Monte-Carlo estimates of one expectation. With 64 copies each
    # they rank the pixels alike (rank correlation ≥ 0.9; two 100-copy runs of either tool with
    # different seeds agree about as well), and no worse than SmoothGrad agrees with plain saliency.
    for i in IMAGES[:1]:
        x = _x(cifar_test, i)
        c = int(np.argmax(_logits(cifar_model, x[None])))
        mine = smoothgrad(cifar_model, x, c, samples=64, noise=0.15, value_range=(x.min(), x.max()))
        theirs = tkv["Saliency"](_score(c), x[None], smooth_samples=64, smooth_noise=0.15,
                                 normalize_map=False)[0]
        assert spearman(mine, theirs) >= 0.9
        assert spearman(mine, theirs) > spearman(mine, saliency(cifar_model, x, c)) - 0.02


@pytest.mark.parametrize("i", IMAGES)
def test_grad_cam_plus_plus_equals_tf_keras_vis(cifar_model, cifar_test, tkv, i):
    x = _x(cifar_test, i)
    c = int(np.argmax(_logits(cifar_model, x[None])))
    # tf-keras-vis's own upsampling (scipy zoom) differs from ours at the border, so its map is
    # compared at the layer's 8×8 and brought to 32×32 by our resize: the weights and the sum
    # must then agree up to float rounding. Gradcam++'s weights divide by sums of squared and
    # cubed gradients in float32; on one 2-core machine a corner cell differed by 1.1e-4 of the
    # map's range (relative 1.4e-3) with summation order alone, so 1e-3 of the range is the bound.
    raw = tkv["GradcamPlusPlus"](_score(c), x[None], penultimate_layer="conv4_act",
                                 seek_penultimate_conv_layer=False, expand_cam=False, normalize_cam=False)[0]
    expected = normalize_map(resize_map(raw, (32, 32)))
    np.testing.assert_allclose(grad_cam_plus_plus(cifar_model, x, c, "conv4_act"), expected, atol=1e-3)


@pytest.mark.parametrize("i", IMAGES[:3])
def test_score_cam_agrees_with_tf_keras_vis_and_equals_a_plain_loop(cifar_model, cifar_test, tkv, i):
    import keras

    x = _x(cifar_test, i)
    c = int(np.argmax(_logits(cifar_model, x[None])))
    mine = score_cam(cifar_model, x, c, "conv4_act")
    # tf-keras-vis upsamples the 8×8 channels into masks with scipy's zoom (corners aligned), we
    # with PIL's bilinear resize (pixel centres aligned): the masked images and so each channel's
    # weight differ a little. The maps must still rank the pixels alike (≥ 0.95; Grad-CAM and
    # Score-CAM of these images correlate 0.0 to 0.8).
    theirs = tkv["Scorecam"](_score(c), x[None], penultimate_layer="conv4_act",
                             seek_penultimate_conv_layer=False, expand_cam=False, normalize_cam=False)[0]
    assert spearman(mine, normalize_map(resize_map(theirs, (32, 32)))) >= 0.95
    # With our upsampling, a plain loop over the channels, one model call each, gives the same map.
    a = keras.Model(cifar_model.inputs, cifar_model.get_layer("conv4_act").output)(x[None]).numpy()[0]
    masked = []
    for k in range(a.shape[-1]):
        mask = resize_map(a[:, :, k], (32, 32))
        mask = (mask - mask.min()) / (mask.max() - mask.min()) if mask.max() > mask.min() else 0 * mask
        masked.append(x * mask[:, :, None])
    cam = np.zeros((8, 8))
    for k, scores in enumerate(_logits(cifar_model, np.stack(masked)).astype(np.float64)):
        cam += (np.exp(scores[c]) / np.exp(scores).sum()) * a[:, :, k]
    np.testing.assert_allclose(mine, normalize_map(resize_map(np.maximum(cam, 0), (32, 32))), atol=1e-4)


# --------------------------------------------------------------------------- against hand-written code

def test_integrated_gradients_are_complete_within_two_percent_on_20_test_images(cifar_model, cifar_test):
    for i in range(20):
        x = _x(cifar_test, i)
        scores = _logits(cifar_model, np.stack([x, np.zeros_like(x)]))
        c = int(np.argmax(scores[0]))
        attributions = integrated_gradients(cifar_model, x, c, steps=64)
        assert attributions.shape == (32, 32, 3) and attributions.dtype == np.float32
        gap = scores[0, c] - scores[1, c]
        assert abs(attributions.sum() - gap) <= 0.02 * abs(gap), i


@pytest.mark.parametrize("patch, stride", [(4, 2), (6, 4)])
def test_occlusion_equals_a_plain_loop(cifar_model, cifar_test, patch, stride):
    x = _x(cifar_test, 3)
    p0 = cifar_model(x[None], training=False).numpy()[0]
    c = int(np.argmax(p0))
    total, count = np.zeros((32, 32)), np.zeros((32, 32))
    starts = sorted(set(range(0, 32 - patch + 1, stride)) | {32 - patch})
    corners = [(top, left) for top in starts for left in starts]
    hidden = np.repeat(x[None], len(corners), axis=0)
    for k, (top, left) in enumerate(corners):
        hidden[k, top:top + patch, left:left + patch] = 0.5
    probs = cifar_model.predict_on_batch(hidden)
    for k, (top, left) in enumerate(corners):
        total[top:top + patch, left:left + patch] += p0[c] - probs[k, c]
        count[top:top + patch, left:left + patch] += 1
    np.testing.assert_allclose(occlusion(cifar_model, x, None, patch, stride), total / count, atol=2e-5)


def test_every_method_with_its_curves_takes_two_forward_batches_and_one_gradient_batch(cifar_model, cifar_test,
                                                                                      monkeypatch):
    from cnnviz_widgets.compute import Inspector, compare_methods

    inspector = Inspector.for_model(cifar_model)
    sizes = {"scores": [], "input_gradients": []}
    for name in sizes:
        real = getattr(inspector, name)
        monkeypatch.setattr(inspector, name, lambda b, *a, real=real, name=name: sizes[name].append(len(b)) or real(b, *a))
    x = _x(cifar_test, 2)
    results = compare_methods(cifar_model, x, value_range=(0.0, 1.0))
    # By hand: the image, its 15 × 15 occluded copies and the 64 masks of conv4_act's channels;
    # then black and the 15 inner points of each of 7 methods' two curves; one gradient batch of the
    # image, 25 noisy copies and 32 path points.
    assert sizes == {"scores": [1 + 15 * 15 + 64, 1 + 7 * 2 * 15], "input_gradients": [1 + 25 + 32]}
    probs = cifar_model(np.stack([x, np.zeros_like(x)]), training=False).numpy()
    c = int(np.argmax(probs[0]))
    for r in results.values():
        np.testing.assert_allclose(r.deletion.probabilities[[0, -1]], probs[[0, 1], c], atol=1e-5)
        np.testing.assert_allclose(r.insertion.probabilities[[0, -1]], probs[[1, 0], c], atol=1e-5)


def test_curves_start_at_the_image_and_end_at_black(cifar_model, cifar_test):
    x = _x(cifar_test, 0)
    probs = cifar_model(np.stack([x, np.zeros_like(x)]), training=False).numpy()
    c = int(np.argmax(probs[0]))
    heat = grad_cam(cifar_model, x, c)
    deletion = deletion_curve(cifar_model, x, heat, c, steps=16)
    insertion = insertion_curve(cifar_model, x, heat, c, steps=16)
    np.testing.assert_allclose(deletion.fractions, np.arange(17) / 16)
    np.testing.assert_allclose(deletion.probabilities[[0, -1]], probs[[0, 1], c], atol=1e-5)
    np.testing.assert_allclose(insertion.probabilities[[0, -1]], probs[[1, 0], c], atol=1e-5)
    # Half of the pixels blacked out, the top-ranked half, by hand.
    order = np.argsort(-heat.reshape(-1), kind="stable")
    if len(np.unique(heat.reshape(-1)[order[:512]])) == 512:  # no ties at the cut
        half = x.reshape(-1, 3).copy()
        half[order[:512]] = 0.0
        expected = cifar_model(half.reshape(1, 32, 32, 3), training=False).numpy()[0, c]
        assert deletion.probabilities[8] == pytest.approx(expected, abs=1e-5)
    trapezoid = float(np.sum((deletion.probabilities[1:] + deletion.probabilities[:-1]) / 2) / 16)
    assert deletion.area == pytest.approx(trapezoid, abs=1e-6)


def test_grad_cam_deletes_faster_than_a_random_ranking_on_20_test_images(cifar_model, cifar_test):
    rng = np.random.default_rng(0)
    cam, pixels, regions = [], [], []
    for i in range(20):
        x = _x(cifar_test, i)
        cam.append(deletion_curve(cifar_model, x, grad_cam(cifar_model, x)).area)
        pixels.append(deletion_curve(cifar_model, x, rng.random((32, 32))).area)
        regions.append(deletion_curve(cifar_model, x, resize_map(rng.random((8, 8)), (32, 32))).area)
    # On average below a random ranking of pixels. That baseline is harsh: black pixels scattered
    # over a 32×32 image destroy most predictions within a few steps, whatever their order (its
    # median area is about half Grad-CAM's), so the fair one ranks random regions of Grad-CAM's
    # own 8×8 grain, and Grad-CAM must beat it on average and on most images.
    assert np.mean(cam) < np.mean(pixels)
    assert np.mean(cam) < np.mean(regions) - 0.03
    assert np.mean(np.array(cam) < np.array(regions)) >= 0.6


def test_spearman_equals_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(1)
    a = rng.random((8, 8))
    b = np.round(a + rng.normal(0, 0.3, a.shape), 1)  # many ties
    b[:3] = 0.0
    assert spearman(a, b) == pytest.approx(spearmanr(a.reshape(-1), b.reshape(-1)).statistic, abs=1e-12)


def test_a_stopped_sanity_check_leaves_the_model_as_it_was(cifar_model, cifar_test):
    weights = [w.copy() for w in cifar_model.get_weights()]
    seen = []

    def progress(done, total):
        seen.append((done, total))
        if done == 3:
            raise KeyboardInterrupt  # what the job bar's Cancel does, by another exception

    with pytest.raises(KeyboardInterrupt):
        randomization_check(cifar_model, _x(cifar_test, 1), "saliency", progress=progress)
    assert seen == [(1, 7), (2, 7), (3, 7)]
    for before, after in zip(weights, cifar_model.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_sanity_check_sees_saliency_change_once_the_top_layer_is_random(cifar_model, cifar_test):
    weights = [w.copy() for w in cifar_model.get_weights()]
    x = _x(cifar_test, 0)
    check = randomization_check(cifar_model, x, "saliency")
    assert check.layers == ("predictions", "dense1", "conv4", "conv3", "conv2", "conv1")
    # Independently: the map of the trained model, and a rank correlation by scipy.
    from scipy.stats import spearmanr

    np.testing.assert_allclose(check.original, saliency(cifar_model, x), rtol=1e-5)
    rho = spearmanr(check.original.reshape(-1), check.maps[0].reshape(-1)).statistic
    assert check.correlations[0] == pytest.approx(rho, abs=1e-5)
    assert rho < 0.5
    # The model itself was never touched.
    for before, after in zip(weights, cifar_model.get_weights()):
        np.testing.assert_array_equal(before, after)


# --------------------------------------------------------------------------- other kinds of model

@pytest.fixture(scope="module")
def gray_nested_logits():
    """A grayscale 28×28×1 model ending in logits, whose convolutions are a Functional backbone
    nested in a Sequential."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(5)
    inp = keras.Input((28, 28, 1))
    y = layers.Conv2D(6, 3, padding="same", activation="relu", name="b_conv1")(inp)
    y = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="b_conv2")(y)
    backbone = keras.Model(inp, y, name="backbone")
    return keras.Sequential([keras.Input((28, 28, 1)), backbone, layers.GlobalAveragePooling2D(name="gap"),
                             layers.Dense(4, name="logits")])


def test_every_method_works_on_a_gray_nested_logits_model(gray_nested_logits):
    import tensorflow as tf

    model = gray_nested_logits
    x = np.random.default_rng(0).random((28, 28, 1)).astype(np.float32)
    with tf.GradientTape() as tape:
        t = tf.constant(x[None])
        tape.watch(t)
        score = model(t, training=False)[0, 2]
    expected = np.abs(tape.gradient(score, t).numpy()[0]).max(axis=-1)
    np.testing.assert_allclose(saliency(model, x, 2), expected, rtol=1e-5, atol=1e-8)
    gap = (model(x[None]).numpy() - model(np.zeros((1, 28, 28, 1), np.float32)).numpy())[0, 2]
    assert abs(integrated_gradients(model, x, 2, steps=64).sum() - gap) <= 0.02 * abs(gap)
    for name in METHODS:
        heat = explain(model, x, name, 2)
        assert heat.shape == (28, 28) and np.isfinite(heat).all(), name
    assert grad_cam_plus_plus(model, x, 2, "backbone/b_conv1").shape == (28, 28)


# --------------------------------------------------------------------------- bad input

def test_bad_input_is_refused_with_the_valid_choices(cifar_model, cifar_test, gray_nested_logits):
    import keras

    x = _x(cifar_test, 0)
    for fn in (saliency, smoothgrad, integrated_gradients, occlusion, grad_cam_plus_plus, score_cam):
        with pytest.raises(ValueError, match=r"class index 10 is out of range 0\.\.9"):
            fn(cifar_model, x, 10)
    for fn in (grad_cam_plus_plus, score_cam):
        with pytest.raises(ValueError, match=r"'dense1_act' not found; layers are: .*conv4_act"):
            fn(cifar_model, x, None, "dense1_act")
    with pytest.raises(ValueError, match="methods are: grad_cam, "):
        randomization_check(cifar_model, x, "lime")
    inp = keras.Input((8, 8, 1), dtype="int32")
    y = keras.layers.Rescaling(1 / 255)(inp)
    y = keras.layers.Conv2D(2, 3, name="c")(y)
    integer = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Flatten()(y)))
    xi = np.zeros((8, 8, 1), np.float32)
    for fn in (saliency, smoothgrad, integrated_gradients, grad_cam_plus_plus):
        with pytest.raises(ValueError, match="int32 input.*without gradients: occlusion, score_cam"):
            fn(integer, xi)
    assert occlusion(integer, xi, 0).shape == (8, 8)


# --------------------------------------------------------------------------- the widgets

def test_the_lab_follows_the_image_and_the_class(st, opened, cifar_model):
    lab = ExplanationLab(st)
    opened(lab)
    for index, c in ((0, None), (7, None), (7, 3)):
        st.index = index
        st.class_index = c
        insp = st.inspection
        expected_c = insp.predicted if c is None else c
        assert lab.class_index() == expected_c
        np.testing.assert_allclose(lab.results["saliency"].heat, saliency(cifar_model, insp.x, expected_c), rtol=1e-5)
        np.testing.assert_allclose(lab.results["grad_cam"].heat, st.grad_cam(class_index=expected_c), atol=1e-6)
        # The charts draw every method's curve, in the methods' order.
        np.testing.assert_allclose(lab.deletion_lines.x, np.arange(17) / 16)
        np.testing.assert_allclose(lab.deletion_lines.y[0], lab.results["grad_cam"].deletion.probabilities)
        np.testing.assert_allclose(lab.insertion_lines.y[3], lab.results["saliency"].insertion.probabilities)
        assert lab.target.value == (-1 if c is None else c)
        assert st.class_names[expected_c] in lab.title.value
    # The dropdown writes the selection.
    lab.target.value = 5
    assert st.class_index == 5 and lab.class_index() == 5


def test_the_lab_computes_once_per_change_the_student_makes(st, opened, monkeypatch, cifar_model):
    from cnnviz_widgets import compute

    real, calls = compute.compare_methods, []

    def spy(model, x, class_index=None, **kwargs):
        calls.append((np.asarray(x).copy(), class_index))
        return real(model, x, class_index, **kwargs)

    monkeypatch.setattr(compute, "compare_methods", spy)
    xs = [st.images[i].astype(np.float32) / 255.0 for i in (0, 9)]
    first, second = np.argmax(cifar_model(np.stack(xs), training=False).numpy(), axis=1)
    other = [(int(first) + 1) % 10, (int(second) + 1) % 10]
    lab = ExplanationLab(st)
    opened(lab)
    # Three changes by hand: another class, then a new image (which also sets the class back to
    # the prediction: two notifications), then another class; with the first render, four
    # computations, each of the image and class on screen.
    st.class_index = other[0]
    st.index = 9
    st.class_index = other[1]
    assert [c for _, c in calls] == [first, other[0], second, other[1]]
    for (x, _), expected in zip(calls, [xs[0], xs[0], xs[1], xs[1]]):
        np.testing.assert_array_equal(x, expected)


def test_the_lab_sanity_check_runs_every_method(st, opened):
    lab = ExplanationLab(st, blocking=True)
    opened(lab)
    lab.run_check()
    assert list(lab.check) == list(METHODS)
    assert lab.check["saliency"].correlations[0] < 0.5
    assert lab.check_image.layout.display is None and lab.check_image.value[:4] == b"\x89PNG"
    assert "Saliency</b>: r = " in lab.check_note.value
    assert lab.job.bar.bar_style == "success"


def test_the_lab_reports_a_model_without_maps_and_keeps_the_state(cifar_test, opened):
    import keras

    from cnnviz_widgets.state import ModelState

    flat = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")])
    images, labels, names = cifar_test
    state = ModelState(flat, images[:20], labels[:20], names)
    state.index = 4
    before = (state.index, state.class_index, state.layer, state.version, state.inspection)
    opened(ExplanationLab(state))
    assert "no layer with a spatial output" in state.status
    assert (state.index, state.class_index, state.layer, state.version, state.inspection) == before


def test_the_heatmap_shows_the_method_picked(st, opened, cifar_model):
    overlay = HeatmapOverlay(st)
    opened(overlay)
    assert overlay.mode.value == "grad-cam" and overlay.method.layout.display == "none"
    overlay.mode.value = "method"
    overlay.method.value = "saliency"
    x = st.inspection.x
    np.testing.assert_allclose(overlay.heat, normalize_map(saliency(cifar_model, x, st.inspection.predicted)),
                               rtol=1e-5, atol=1e-7)
    assert "Saliency</b> of the input pixels" in overlay.note.value
    overlay.method.value = "score_cam"
    np.testing.assert_allclose(overlay.heat, score_cam(cifar_model, x, None, st.layer), atol=1e-6)
    assert overlay.method.layout.display is None
