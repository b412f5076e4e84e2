"""Tests for cnnviz_widgets.widgets.controls: ImagePicker and LayerSelector.

Integration tests drive the widgets on the shipped model and real CIFAR-10 test images (the first
1,000, shared by the module for speed); expected values are computed independently with the
model's own Keras call on the raw images scaled to [0, 1] (``references.keras_probabilities``) and
the Keras layer list.
"""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
from helpers import observers_of
from PIL import Image
from references import keras_probabilities

from cnnviz_widgets.compute import stage_starts
from cnnviz_widgets.state import ModelState
from cnnviz_widgets.widgets.comparison import ComparisonGrid
from cnnviz_widgets.widgets.controls import ImagePicker, LayerSelector
from cnnviz_widgets.widgets.grids import FeatureGrid, FilterGrid, LayerStrip

N_IMAGES = 1000  # the images of the `shared` state in conftest.py
SPATIAL = ["conv1", "conv1_bn", "conv1_act", "conv2", "conv2_bn", "conv2_act",
           "conv3", "conv3_bn", "conv3_act", "conv4", "conv4_bn", "conv4_act"]


# --------------------------------------------------------------------------- fixtures


def expected_prediction(model, image):
    """(probabilities, predicted class) of one uint8 image, computed without the state."""
    return keras_probabilities(model, image)


def text_of(html_value: str) -> str:
    return re.sub(r"<[^>]+>", "", html_value).replace("&#x27;", "'").replace("&amp;", "&")


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


# =========================================================================== ImagePicker

class TestPickerIndex:
    def test_slider_and_number_follow_state_index(self, st, opened):
        picker = ImagePicker(st)
        opened(picker)
        st.index = 7
        assert (picker.slider.value, picker.number.value) == (7, 7)
        picker.slider.value = 42
        assert (st.index, picker.number.value) == (42, 42)
        picker.number.value = 99
        assert (st.index, picker.slider.value) == (99, 99)
        assert picker.slider.continuous_update is False
        assert st.status == ""

    def test_range_is_the_image_count(self, state, opened):
        picker = ImagePicker(state)
        opened(picker)
        assert (picker.slider.min, picker.slider.max) == (0, 9999)
        assert (picker.number.min, picker.number.max) == (0, 9999)

    def test_out_of_range_number_is_clamped(self, st, opened):
        picker = ImagePicker(st)
        opened(picker)
        picker.number.value = 5000
        assert picker.number.value == N_IMAGES - 1
        assert st.index == N_IMAGES - 1
        picker.number.value = -3
        assert (picker.number.value, st.index) == (0, 0)
        assert st.status == ""

    def test_index_error_goes_to_status(self, st, opened):
        picker = ImagePicker(st)
        opened(picker)
        st.index = 3
        picker.select(N_IMAGES + 5)
        assert st.index == 3
        assert "out of range" in st.status and "ImagePicker" in st.status

    def test_follows_a_smaller_image_set(self, cifar_model, cifar_test, opened):
        images, labels, names = cifar_test
        small = ModelState(cifar_model, images[:600], labels[:600], names)
        picker = ImagePicker(small)
        opened(picker)
        small.index = 500
        written = []
        small.observe(lambda change: written.append(change["new"]), names="index")
        small.set_images(images[:100], labels[:100])
        # The state resets the index; the controls must not write their clamped value (99) back,
        # not even for a moment.
        assert small.index == 0
        assert set(written) == {0}
        assert (picker.slider.value, picker.slider.max) == (0, 99)
        assert (picker.number.value, picker.number.max) == (0, 99)
        small.set_images(images[:600], labels[:600])
        picker.slider.value = 550
        assert small.index == 550


class TestPickerNavigation:
    def test_next_and_previous_wrap_around(self, st, opened):
        picker = ImagePicker(st)
        opened(picker)
        picker.prev_button.click()
        assert st.index == N_IMAGES - 1
        picker.next_button.click()
        assert st.index == 0
        picker.next_button.click()
        assert st.index == 1

    def test_class_filter_restricts_previous_next(self, st, opened):
        picker = ImagePicker(st)
        opened(picker)
        ship = st.class_names.index("ship")
        ships = [i for i in range(N_IMAGES) if st.labels[i] == ship]
        assert st.labels[0] != ship
        picker.class_filter.value = ship
        # Choosing the class shows its first image at once.
        assert st.index == ships[0]
        seen = [st.index]
        for _ in range(3):
            picker.next_button.click()
            seen.append(st.index)
        assert seen == ships[:4]
        picker.prev_button.click()
        assert st.index == ships[2]
        st.index = ships[-1]
        picker.next_button.click()
        assert st.index == ships[0]
        picker.prev_button.click()
        assert st.index == ships[-1]
        assert f"{len(ships):,} images of class ship" in text_of(picker.status.value)

    def test_class_filter_keeps_an_image_of_that_class(self, st, opened):
        picker = ImagePicker(st)
        opened(picker)
        cat = st.class_names.index("cat")
        assert st.labels[0] == cat
        picker.class_filter.value = cat
        assert st.index == 0

    def test_random_respects_the_class_filter(self, st, opened):
        picker = ImagePicker(st, seed=0)
        opened(picker)
        frog = st.class_names.index("frog")
        picker.class_filter.value = frog
        seen = set()
        for _ in range(15):
            before = st.index
            picker.random_button.click()
            assert st.labels[st.index] == frog
            assert st.index != before
            seen.add(st.index)
        assert len(seen) > 5

    def test_random_is_repeatable_with_a_seed(self, st, opened):
        runs = []
        for _ in range(2):
            st.index = 0
            picker = ImagePicker(st, seed=11)
            opened(picker)
            run = []
            for _ in range(6):
                picker.random_button.click()
                run.append(st.index)
            runs.append(run)
            picker.close()
        assert runs[0] == runs[1]
        assert len(set(runs[0])) > 1


class TestPickerMisclassified:
    def test_next_misclassified_lands_on_a_wrong_prediction(self, cifar_model, cifar_test, opened):
        images, labels, names = cifar_test
        fresh = ModelState(cifar_model, images[:300], labels[:300], names)
        picker = ImagePicker(fresh)
        opened(picker)
        messages = []
        picker.status.observe(lambda change: messages.append(change["new"]), names="value")
        fresh.index = 20
        picker.misclassified_button.click()
        assert picker.wait(120)
        found = fresh.index
        _, predicted = expected_prediction(cifar_model, images[found])
        assert predicted != labels[found]
        # It is the *next* one: every image in between is classified correctly.
        between = range(21, found) if found > 20 else [*range(21, 300), *range(0, found)]
        for i in between:
            assert expected_prediction(cifar_model, images[i])[1] == labels[i]
        progress = [text_of(m) for m in messages if "Classifying" in m]
        assert progress and progress[-1].endswith("300 / 300")
        assert "misclassified" in text_of(picker.status.value)
        assert not picker.misclassified_button.disabled
        assert fresh.status == ""

    def test_next_misclassified_respects_the_class_filter(self, st, opened):
        picker = ImagePicker(st)
        opened(picker)
        truck = st.class_names.index("truck")
        picker.class_filter.value = truck
        for _ in range(3):
            before = st.index
            picker.misclassified_button.click()
            assert picker.wait(120)
            assert st.labels[st.index] == truck
            assert st.index != before
            assert expected_prediction(st.model, st.images[st.index])[1] != truck

    def test_next_misclassified_skips_images_of_unknown_class(self, cifar_model, cifar_test, opened):
        images, labels, names = cifar_test
        mixed = labels[:60].copy()
        mixed[::2] = -1
        fresh = ModelState(cifar_model, images[:60], mixed, names)
        picker = ImagePicker(fresh)
        opened(picker)
        predicted = np.array([expected_prediction(cifar_model, images[i])[1] for i in range(60)])
        wrong = np.flatnonzero((predicted != mixed) & (mixed >= 0))
        assert len(wrong) and (wrong % 2 == 1).all()
        picker.misclassified_button.click()
        assert picker.wait(120)
        assert fresh.index == wrong[0]
        assert f"{len(wrong):,} of 30 images are misclassified" in text_of(picker.status.value)

    def test_disabled_without_labels(self, cifar_model, cifar_test, opened):
        images, _, names = cifar_test
        unlabelled = ModelState(cifar_model, images[:50], None, names)
        picker = ImagePicker(unlabelled)
        opened(picker)
        assert picker.misclassified_button.disabled
        assert "no true classes" in picker.misclassified_button.tooltip
        assert picker.class_filter.disabled
        probs, pred = expected_prediction(cifar_model, images[0])
        assert text_of(picker.caption.value) == f"Predicted: {names[pred]} ({100 * probs[pred]:.1f} %)"
        assert "cnnviz-caption-wrong" not in picker.caption.value
        assert "cnnviz-caption-right" not in picker.caption.value


class TestPickerView:
    def _first(self, st, correct: bool) -> int:
        for i in range(N_IMAGES):
            if (expected_prediction(st.model, st.images[i])[1] == st.labels[i]) == correct:
                return i
        raise AssertionError("no such image")

    @pytest.mark.parametrize("correct", [True, False])
    def test_caption_from_the_model(self, st, opened, correct):
        picker = ImagePicker(st)
        opened(picker)
        i = self._first(st, correct)
        st.index = (i + 1) % N_IMAGES
        st.index = i
        probs, pred = expected_prediction(st.model, st.images[i])
        names = st.class_names
        expected = f"True: {names[st.labels[i]]} · Predicted: {names[pred]} ({100 * probs[pred]:.1f} %)"
        assert text_of(picker.caption.value) == expected
        wanted, other = ("cnnviz-caption-right", "cnnviz-caption-wrong")[:: 1 if correct else -1]
        assert wanted in picker.caption.value and other not in picker.caption.value

    def test_thumbnail_is_the_image_upscaled_crisp(self, st, opened):
        picker = ImagePicker(st, thumbnail_size=128)
        opened(picker)
        st.index = 17
        pixels = decode(picker.image.value)
        assert pixels.shape == (128, 128, 3)
        assert np.array_equal(pixels, np.repeat(np.repeat(st.images[17], 4, axis=0), 4, axis=1))
        assert picker.image.layout.width == "128px"
        assert "cnnviz-crisp" in picker.image._dom_classes


# =========================================================================== LayerSelector

class TestLayerSelector:
    def test_options_spatial_layers_with_kind_and_shape(self, st, opened):
        selector = LayerSelector(st)
        opened(selector)
        assert selector.spatial_only.value is True
        labels = dict((v, k) for k, v in selector.dropdown.options)
        assert list(labels) == SPATIAL
        assert labels["conv1_act"] == "conv · conv1_act — 32×32×32"
        assert labels["conv3_bn"] == "conv · conv3_bn — 16×16×64"
        assert labels["conv4"] == "conv · conv4 — 8×8×64"
        # The state opens on the first conv stage.
        assert selector.dropdown.value == st.layer == "conv1_act"

    def test_all_layers_when_unticked(self, st, opened):
        selector = LayerSelector(st)
        opened(selector)
        selector.spatial_only.value = False
        labels = dict((v, k) for k, v in selector.dropdown.options)
        assert list(labels) == [layer.name for layer in st.model.layers
                                if type(layer).__name__ != "InputLayer"]
        assert labels["flatten"] == "Flatten · flatten — 4096"
        assert labels["dense1_act"] == "dense · dense1_act — 128"
        assert labels["predictions"] == "dense · predictions — 10"
        assert st.layer == "conv1_act"

    def test_drives_and_reflects_state_layer(self, st, opened):
        selector = LayerSelector(st)
        opened(selector)
        selector.dropdown.value = "conv2_act"
        assert st.layer == "conv2_act"
        st.layer = "conv1_bn"
        assert selector.dropdown.value == "conv1_bn"
        # A non-spatial layer chosen elsewhere is shown, with the filter switched off.
        st.layer = "dense1_act"
        assert selector.spatial_only.value is False
        assert selector.dropdown.value == "dense1_act"
        # Filtering again moves to the nearest spatial layer before it.
        selector.spatial_only.value = True
        assert st.layer == "conv4_act" == selector.dropdown.value
        assert st.status == ""

    def test_follows_a_model_change(self, cifar_model, cifar_test, tiny_model, opened):
        images, labels, names = cifar_test
        fresh = ModelState(cifar_model, images[:20], labels[:20], names)
        selector = LayerSelector(fresh)
        opened(selector)
        fresh.set_model(tiny_model)
        assert selector.dropdown.options == (("conv · c1 — 30×30×4", "c1"),
                                             ("MaxPooling2D · pool — 15×15×4", "pool"))
        assert selector.dropdown.value == fresh.layer == "c1"
        selector.spatial_only.value = False
        assert [v for _, v in selector.dropdown.options] == ["c1", "pool", "flat", "out"]
        # c1 is no layer of the guide's CNN: back to its first conv stage.
        fresh.set_model(cifar_model)
        assert selector.dropdown.value == fresh.layer == "conv1_act"
        assert fresh.status == ""


def test_stage_starts_of_the_guide_cnn(shared):
    starts = {i.name: (s.name if s else None) for i, s in zip(shared.layers, stage_starts(shared.layers))}
    assert starts["conv1"] == starts["conv1_bn"] == starts["conv1_act"] == "conv1"
    assert starts["conv4_act"] == "conv4"
    assert starts["flatten"] is None
    assert starts["dense1_act"] == starts["dense1_dropout"] == "dense1"
    assert starts["predictions"] == "predictions"


@pytest.mark.parametrize("cls", [ImagePicker, LayerSelector, FeatureGrid, FilterGrid, LayerStrip, ComparisonGrid])
def test_close_leaves_no_observer_on_the_state(st, cls):
    widget = cls(st)
    assert observers_of(st, widget)
    widget.close()
    assert observers_of(st, widget) == []
    st.index = 5
    st.layer = "conv2_act"
    st.compare = (1, 2, 3)
    assert st.status == ""
