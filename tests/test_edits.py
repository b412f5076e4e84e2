"""Tests of the what-if edits and the fast gradient sign attack (cnnviz_widgets.compute).

Each edit is checked against an independent computation: a plain loop over the pixels, NumPy's
own array functions or Pillow. ``fgsm`` is checked on a two-class linear model whose loss gradient
has a sign that can be worked out by hand.
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from cnnviz_widgets.compute import (
    Edits,
    apply_edits,
    blur,
    brightness,
    contrast,
    fgsm,
    flip,
    noise,
    occlude,
    rotate,
    shift,
    to_uint8,
)


@pytest.fixture(scope="module")
def picture():
    """A real CIFAR-10-sized picture with structure in every direction: float32 (32, 32, 3) in [0, 1]."""
    rng = np.random.default_rng(5)
    r, c = np.mgrid[0:32, 0:32]
    base = np.stack([r / 31.0, c / 31.0, ((r + 2 * c) % 7) / 6.0], axis=-1)
    return np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1).astype(np.float32)


# --------------------------------------------------------------------------- edits

def test_brightness_adds_and_clips(picture):
    out = brightness(picture, 0.3)
    expected = np.empty_like(picture)
    for idx, v in np.ndenumerate(picture):
        expected[idx] = min(max(v + 0.3, 0.0), 1.0)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_contrast_matches_pillow(picture):
    u8 = (picture * 255 + 0.5).astype(np.uint8)
    for factor in (0.4, 1.6):
        pil = np.asarray(ImageEnhance.Contrast(Image.fromarray(u8)).enhance(factor), dtype=np.float32) / 255
        ours = contrast(u8.astype(np.float32) / 255, factor)
        # Pillow rounds its mean grey to a whole level and works in uint8: within 2 levels.
        np.testing.assert_allclose(ours, pil, atol=2.01 / 255)


def test_blur_matches_a_convolution_loop(picture):
    sigma = 1.0
    radius = int(4.0 * sigma + 0.5)
    t = np.arange(-radius, radius + 1)
    g = np.exp(-t ** 2 / (2 * sigma ** 2))
    kernel = np.outer(g, g) / g.sum() ** 2
    # scipy's "reflect" border repeats the edge pixel: NumPy's "symmetric" padding.
    padded = np.pad(picture, ((radius, radius), (radius, radius), (0, 0)), mode="symmetric")
    expected = np.zeros_like(picture)
    for r in range(32):
        for c in range(32):
            window = padded[r:r + 2 * radius + 1, c:c + 2 * radius + 1]
            expected[r, c] = (window * kernel[:, :, None]).sum(axis=(0, 1))
    np.testing.assert_allclose(blur(picture, sigma), expected, atol=1e-5)


def test_shift_moves_pixels_and_fills_black(picture):
    dy, dx = 3, -5
    expected = np.zeros_like(picture)
    for r in range(32):
        for c in range(32):
            if 0 <= r - dy < 32 and 0 <= c - dx < 32:
                expected[r, c] = picture[r - dy, c - dx]
    np.testing.assert_array_equal(shift(picture, dy, dx), expected)


def test_rotation_by_90_degrees_is_numpys_rot90(picture):
    np.testing.assert_allclose(rotate(picture, 90), np.rot90(picture, 1, axes=(0, 1)), atol=1e-5)


def test_rotation_matches_a_bilinear_loop(picture):
    theta = np.deg2rad(30.0)
    cy = cx = 15.5
    expected = np.zeros_like(picture)
    for r in range(32):
        for c in range(32):
            # Counter-clockwise on screen (rows grow downwards): the source of an output pixel
            # is the output position turned back clockwise (at 90° this is np.rot90).
            y, x = r - cy, c - cx
            sy = np.cos(theta) * y + np.sin(theta) * x + cy
            sx = np.cos(theta) * x - np.sin(theta) * y + cx
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            fy, fx = sy - y0, sx - x0
            value = np.zeros(3)
            for yy, xx, wgt in ((y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx),
                                (y0 + 1, x0, fy * (1 - fx)), (y0 + 1, x0 + 1, fy * fx)):
                if 0 <= yy < 32 and 0 <= xx < 32:
                    value += wgt * picture[yy, xx]
            expected[r, c] = value
    # Pixels whose source lies across the border are blended with the black outside differently
    # by scipy (it treats the border half a pixel further out): compare the inside.
    inner = np.zeros((32, 32), bool)
    inner[7:25, 7:25] = True
    np.testing.assert_allclose(rotate(picture, 30)[inner], expected[inner], atol=1e-4)


def test_flip_is_pillows_mirror(picture):
    u8 = (picture * 255 + 0.5).astype(np.uint8)
    pil = np.asarray(Image.fromarray(u8).transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    np.testing.assert_array_equal(to_uint8(flip(u8 / 255.0)), pil)


def test_occlusion_covers_a_square_clipped_at_the_border(picture):
    out = occlude(picture, 1, 30, 6)
    expected = picture.copy()
    for r in range(32):
        for c in range(32):
            if 1 - 3 <= r < 1 - 3 + 6 and 30 - 3 <= c < 30 - 3 + 6:
                expected[r, c] = 0.5
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="outside"):
        occlude(picture, 32, 0, 4)


def test_noise_has_the_asked_spread_and_repeats_with_its_seed():
    grey = np.full((32, 32, 3), 0.5, np.float32)
    a, b, c = noise(grey, 0.05, seed=1), noise(grey, 0.05, seed=1), noise(grey, 0.05, seed=2)
    d = (a - grey).ravel()
    assert abs(d.mean()) < 0.005
    assert d.std() == pytest.approx(0.05, rel=0.06)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_apply_edits_puts_the_patch_where_clicked_after_moving_the_image(picture):
    u8 = (picture * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(apply_edits(u8, Edits()), u8)
    out = apply_edits(u8, Edits(flip=True, patch=(10, 20), patch_size=4))
    np.testing.assert_array_equal(out[8:12, 18:22], np.full((4, 4, 3), 128, np.uint8))
    mirrored = u8[:, ::-1]
    keep = np.ones((32, 32), bool)
    keep[8:12, 18:22] = False
    np.testing.assert_array_equal(out[keep], mirrored[keep])


# --------------------------------------------------------------------------- FGSM

@pytest.fixture(scope="module")
def linear_model():
    """Two classes, scores z = W·x on a 2×2 grey image (no bias, no softmax): the loss gradient
    of class 0 is p1 (W1 - W0), so its sign is sign(W1 - W0) whatever the probabilities."""
    import keras

    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2, use_bias=False, name="scores")])
    w = np.array([[3.0, 1.0], [-1.0, 2.0], [0.5, -0.5], [2.0, 2.5]], np.float32)  # (4 pixels, 2 classes)
    model.get_layer("scores").set_weights([w])
    return model, w


def test_fgsm_steps_along_the_hand_computed_gradient_sign(linear_model):
    model, w = linear_model
    x = np.full((2, 2, 1), 0.5, np.float32)
    # At x, z0 = 0.5 * 4.5 < z1 = 0.5 * 5.0: class 1 is predicted.
    step = np.array([-1, 1, -1, 1], np.float32).reshape(2, 2, 1)  # sign(W1 - W0), worked out by hand
    eps = 0.1
    np.testing.assert_allclose(fgsm(model, x, class_index=0, epsilon=eps), x + eps * step, atol=1e-6)
    # Untargeted by default: away from the predicted class 1, whose loss gradient is p0 (W0 - W1).
    np.testing.assert_allclose(fgsm(model, x, epsilon=eps), x - eps * step, atol=1e-6)
    # Targeted at class 0: down class 0's loss, the opposite direction of moving away from it.
    np.testing.assert_allclose(fgsm(model, x, target=0, epsilon=eps), x - eps * step, atol=1e-6)
    np.testing.assert_allclose(fgsm(model, x, target=1, epsilon=eps), x + eps * step, atol=1e-6)
    # A batch is answered image by image, and the result stays in the input range.
    batch = np.stack([x, np.full((2, 2, 1), 0.95, np.float32)])
    out = fgsm(model, batch, class_index=0, epsilon=eps)
    np.testing.assert_allclose(out[1], np.clip(0.95 + eps * step, 0, 1), atol=1e-6)
    assert out.max() <= 1.0


def test_fgsm_refuses_a_bad_epsilon_or_two_classes(linear_model):
    model, _ = linear_model
    x = np.full((2, 2, 1), 0.5, np.float32)
    for eps in (-0.01, 1.01, float("nan")):
        with pytest.raises(ValueError, match="ε must be between 0 and 1"):
            fgsm(model, x, epsilon=eps)
    with pytest.raises(ValueError, match="ε must be between 0 and 2"):
        fgsm(model, x, epsilon=2.5, value_range=(-1.0, 1.0))
    with pytest.raises(ValueError, match="not both"):
        fgsm(model, x, class_index=0, target=1)
    with pytest.raises(ValueError, match="out of range"):
        fgsm(model, x, target=2)


def test_fgsm_on_the_real_model_moves_each_pixel_by_whole_grey_levels(cifar_model, cifar_test):
    images = cifar_test[0][:8]
    x = images.astype(np.float32) / 255.0
    adv = fgsm(cifar_model, x, epsilon=4 / 255)
    diff = to_uint8(adv).astype(int) - images.astype(int)
    assert np.abs(diff).max() == 4
    inside = (images >= 4) & (images <= 251)  # not clipped
    assert np.all(np.abs(diff[inside]) == 4)
