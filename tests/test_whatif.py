"""Tests of the what-if lab and the dataset map panels, on the shipped model and real CIFAR-10 images.

What the panels show is checked against the model itself (``model(x)``, ``model.predict``) on
images edited here with plain NumPy loops.
"""
from __future__ import annotations

import numpy as np
import pytest

from cnnviz_widgets import DatasetMap, WhatIfLab
from cnnviz_widgets.compute import Inspector, MapCache
from cnnviz_widgets.state import ModelState

PNG = b"\x89PNG\r\n\x1a\n"


def probabilities(model, image_u8) -> np.ndarray:
    return np.asarray(model(image_u8[None].astype(np.float32) / 255.0, training=False))[0]


def patched(image, row, col, size):
    """The image with a grey (128) size × size square centred on (row, col), by a loop."""
    out = image.copy()
    for r in range(image.shape[0]):
        for c in range(image.shape[1]):
            if row - size // 2 <= r < row - size // 2 + size and col - size // 2 <= c < col - size // 2 + size:
                out[r, c] = 128
    return out


@pytest.fixture
def small_state(cifar_model, cifar_test):
    images, labels, names = cifar_test
    return ModelState(cifar_model, images[:300], labels[:300], names)


# --------------------------------------------------------------------------- the what-if lab

def test_a_click_places_the_patch_and_the_bars_show_the_models_answer(st, cifar_model, opened):
    lab = WhatIfLab(st, debounce=0)
    opened(lab)
    image = st.inspection.image
    # The picture is 160 pixels for 32: a click at (101, 52) is pixel column 20, row 10.
    lab._on_click({"dataX": 101, "dataY": 52})
    assert lab.edits.patch == (10, 20)
    expected_image = patched(image, 10, 20, 8)
    np.testing.assert_array_equal(lab.edited, expected_image)
    expected = probabilities(cifar_model, expected_image)
    np.testing.assert_allclose(lab.edited_probabilities, expected, atol=1e-5)
    np.testing.assert_allclose(lab.bars.y[1], expected, atol=1e-5)
    np.testing.assert_allclose(lab.bars.y[0], probabilities(cifar_model, image), atol=1e-5)
    for picture in (lab.original, lab.edited_image, lab.difference, lab.original_cam, lab.edited_cam_image):
        assert bytes(picture.value).startswith(PNG)
    assert "patch at (10, 20)" in lab.summary.value


def test_the_patch_can_be_placed_without_a_mouse(st, cifar_model, opened):
    lab = WhatIfLab(st, debounce=0)
    opened(lab)
    image = st.inspection.image
    # The boxes are bounded by the 32×32 image and start on its centre; no patch yet.
    assert (lab.patch_row.min, lab.patch_row.max, lab.patch_col.max) == (0, 31, 31)
    assert (lab.patch_row.value, lab.patch_col.value, lab.edits.patch) == (16, 16, None)
    lab.place_button.click()
    assert lab.edits.patch == (16, 16)
    lab.patch_row.value = 25
    lab.patch_col.value = 4
    assert lab.edits.patch == (25, 4)
    expected_image = patched(image, 25, 4, 8)
    np.testing.assert_array_equal(lab.edited, expected_image)
    np.testing.assert_allclose(lab.bars.y[1], probabilities(cifar_model, expected_image), atol=1e-5)
    # A click moves the patch, and the boxes show where it went.
    lab._on_click({"dataX": 101, "dataY": 52})
    assert (lab.patch_row.value, lab.patch_col.value, lab.edits.patch) == (10, 20, (10, 20))
    np.testing.assert_array_equal(lab.edited, patched(image, 10, 20, 8))
    # The boxes are named for assistive technology.
    assert lab.patch_row.description == "patch row" and lab.patch_col.description == "patch column"


def test_one_edit_costs_one_forward_and_one_gradient_pass(st, opened, monkeypatch):
    lab = WhatIfLab(st, debounce=0)
    opened(lab)
    inspector = Inspector.for_model(st.model)
    calls = {"run": 0, "gradcam": 0}
    run, parts = inspector.run, inspector.gradcam_parts

    def counted_run(*a, **k):
        calls["run"] += 1
        return run(*a, **k)

    def counted_parts(*a, **k):
        calls["gradcam"] += 1
        return parts(*a, **k)

    monkeypatch.setattr(inspector, "run", counted_run)
    monkeypatch.setattr(inspector, "gradcam_parts", counted_parts)
    lab.brightness.value = 0.2
    assert calls == {"run": 1, "gradcam": 1}


def test_edits_and_attack_change_the_prediction_like_the_model_says(st, cifar_model, opened):
    lab = WhatIfLab(st, debounce=0)
    opened(lab)
    image = st.inspection.image
    lab.flip.value = True
    np.testing.assert_array_equal(lab.edited, image[:, ::-1])
    np.testing.assert_allclose(lab.edited_probabilities, probabilities(cifar_model, image[:, ::-1]), atol=1e-5)
    lab.flip.value = False
    lab.attack.value = "away"
    lab.epsilon.value = 8
    diff = lab.edited.astype(int) - image.astype(int)
    assert np.abs(diff).max() == 8
    inside = (image >= 8) & (image <= 247)
    assert np.all(np.abs(diff[inside]) == 8)
    np.testing.assert_allclose(lab.edited_probabilities, probabilities(cifar_model, lab.edited), atol=1e-5)
    assert "×" in lab.difference_caption.value


def test_bad_input_keeps_the_edited_image_and_says_why(st, opened):
    lab = WhatIfLab(st, debounce=0)
    opened(lab)
    lab.place_patch(5, 5)
    before = lab.edited.copy()
    lab.place_patch(40, 3)
    assert "outside the 32×32 image" in st.status
    assert lab.edits.patch == (5, 5)
    np.testing.assert_array_equal(lab.edited, before)
    lab._on_click({"dataX": 500, "dataY": 20})
    assert "outside" in st.status and lab.edits.patch == (5, 5)
    lab.attack.value = "away"
    after_attack = lab.edited.copy()
    for bad in (-1.0, 300.0):
        st.status = ""
        lab.epsilon.value = bad
        assert "ε must be between 0 and 255" in st.status
        assert "ε must be between" in lab.message.value
        np.testing.assert_array_equal(lab.edited, after_attack)
    assert st.index == 0


def test_keep_adds_the_edited_image_like_an_upload(small_state, opened):
    st = small_state
    lab = WhatIfLab(st, debounce=0)
    opened(lab)
    st.index = 7
    lab.place_patch(16, 16)
    edited = lab.edited.copy()
    label = st.inspection.label
    new = lab.keep()
    assert new == 300 and len(st.images) == 301 and st.index == 300
    np.testing.assert_array_equal(st.images[300], edited)
    assert st.labels[300] == label
    # The lab starts again from the kept picture, unedited.
    assert lab.edits.patch is None
    np.testing.assert_array_equal(lab.edited, edited)


def test_close_leaves_no_observers(st):
    before = sum(len(h) for by in st._trait_notifiers.values() for h in by.values())
    WhatIfLab(st).close()
    assert sum(len(h) for by in st._trait_notifiers.values() for h in by.values()) == before


# --------------------------------------------------------------------------- the dataset map

def test_dataset_map_draws_every_image_and_marks_the_mistakes(small_state, cifar_model, opened, tmp_path):
    st = small_state
    m = DatasetMap(st, cache=MapCache(tmp_path), blocking=True)
    opened(m)
    m.compute()
    assert m.coords.shape == (300, 2)
    predicted = cifar_model.predict(st.images.astype(np.float32) / 255.0, verbose=0).argmax(axis=1)
    wrong = np.flatnonzero(predicted != st.labels)
    assert len(m.wrong.x) == len(wrong) and len(m.right.x) == 300 - len(wrong)
    np.testing.assert_allclose(np.sort(m.wrong.x), np.sort(m.coords[wrong, 0]))
    # Colours are the true classes.
    np.testing.assert_array_equal(m.wrong.color, st.labels[wrong])
    assert "airplane" in m.legend.value and "wrong" in m.legend.value
    # The map's CSV: one row per image, its place and its classes (the predicted ones from Keras).
    import csv
    import io
    rows = list(csv.reader(io.StringIO(m.coordinates_csv().decode())))
    assert rows[0] == ["index", "x", "y", "true class", "predicted class"] and len(rows) == 301
    np.testing.assert_allclose([[float(r[1]), float(r[2])] for r in rows[1:]], m.coords)
    assert [r[4] for r in rows[1:]] == [st.class_names[p] for p in predicted]
    assert [r[3] for r in rows[1:]] == [st.class_names[t] for t in st.labels]

    # The hovered image has a text alternative naming it and its prediction.
    m._on_hover(m.wrong, {"event": "hover", "data": {"index": 0}})
    assert m.thumbnail.tooltip.startswith(f"The dot under the pointer: image {wrong[0]} (")
    assert m.thumbnail.tooltip.endswith(f"predicted {st.class_names[predicted[wrong[0]]]}")

    # A click on the third cross opens that image everywhere; hovering shows it.
    m._on_point_click(m.wrong, {"event": "element_click", "data": {"index": 2, "x": 0, "y": 0}})
    assert st.index == wrong[2]
    np.testing.assert_allclose([m.current.x[0], m.current.y[0]], m.coords[wrong[2]])
    m._on_hover(m.right, {"event": "hover", "data": {"index": 0}})
    first_right = int(np.setdiff1d(np.arange(300), wrong)[0])
    assert bytes(m.thumbnail.value).startswith(PNG) and f"#{first_right}" in m.hover_caption.value

    # A region lists the images inside it.
    x0, x1 = np.percentile(m.coords[:, 0], [40, 60])
    y0, y1 = np.percentile(m.coords[:, 1], [40, 60])
    inside = m.brush_region(x0, x1, y0, y1)
    loop = [i for i in range(300) if x0 <= m.coords[i, 0] <= x1 and y0 <= m.coords[i, 1] <= y1]
    assert list(inside) == loop
    assert f"<b>{len(loop)}</b> images in the region" in m.list_caption.value


def test_dataset_map_is_computed_again_when_the_images_change(small_state, opened, tmp_path):
    st = small_state
    m = DatasetMap(st, cache=MapCache(tmp_path), blocking=True)
    opened(m)
    m.compute()
    first = m.result.key
    st.set_images(st.images[:200], st.labels[:200])
    m.wait(600)
    assert m.coords.shape == (200, 2) and m.result.key != first
