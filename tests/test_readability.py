"""The small things a student trips over: what a control does when the picture changes under it,
and numbers, labels and tooltips that read as a person expects.

On the shipped model and real CIFAR-10 test images; expected values from plain Keras and NumPy.
"""
from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from cnnviz_widgets.widgets import charts, conv_arithmetic, panels, primer, uploads
from cnnviz_widgets.widgets.controls import ALL_CLASSES, ImagePicker


def text_of(html_value: str) -> str:
    return re.sub(r"<[^>]+>", "", html_value)


def predicted(model, image) -> int:
    return int(np.argmax(model.predict(image[None].astype(np.float32) / 255.0, verbose=0)[0]))


def test_typing_an_index_of_another_class_moves_the_class_filter(st, opened):
    names = st.class_names
    picker = ImagePicker(st)
    opened(picker)
    ship = names.index("ship")
    picker.class_filter.value = ship
    assert st.labels[st.index] == ship
    other = int(np.flatnonzero(st.labels == names.index("frog"))[3])
    picker.number.value = other  # typed in the number box
    assert st.index == other
    # The filter follows the image on screen, and says so, instead of naming another class.
    assert picker.class_filter.value == names.index("frog")
    frogs = int((st.labels == names.index("frog")).sum())
    assert f"{frogs:,} images of class frog" in picker.status.value and "follows" in picker.status.value
    picker.next_button.click()
    assert st.labels[st.index] == names.index("frog")
    picker.class_filter.value = ALL_CLASSES


def test_grad_cam_class_follows_the_new_image(st, opened, cifar_model):
    overlay = panels.HeatmapOverlay(st, mode="grad-cam")
    opened(overlay)
    names = st.class_names
    st.class_index = names.index("dog")  # the student asks "why dog?" about this image
    assert "for dog" in text_of(overlay.note.value)
    ship_image = int(np.flatnonzero(st.labels == names.index("ship"))[0])
    st.index = ship_image
    want = names[predicted(cifar_model, st.images[ship_image])]
    assert st.class_index is None and overlay.target.value == panels.PREDICTED
    assert f"for {want} (the predicted class)" in text_of(overlay.note.value)


def test_upload_buttons_have_tooltips_and_labels_fit(state):
    images, model = uploads.ImageUpload(state), uploads.ModelUpload(state)
    for upload in (images.upload, model.upload):
        assert upload.tooltip and upload.tooltip != "null"
    # "Class names" is written in full, not cut to "Class na…".
    assert model.names_text.style.description_width == "initial"
    images.close()
    model.close()


def test_primer_explains_the_layers_in_the_models_order(state, cifar_model):
    widget = primer.CnnPrimer(state)
    order = [layer.__class__.__name__ for layer in cifar_model.layers]
    first_bn, first_act = order.index("BatchNormalization"), order.index("LeakyReLU")
    assert first_bn < first_act  # the shipped model normalises, then activates
    steps = text_of(widget.steps.value)
    assert steps.index("Batch normalisation") < steps.index("LeakyReLU")
    widget.close()


def test_convolution_arithmetic_never_shows_minus_zero(state):
    assert conv_arithmetic.signed(-0.0004) == "+0.000" and conv_arithmetic.signed(-0.0006) == "-0.001"
    arith = conv_arithmetic.ConvArithmetic(state)
    seen = 0
    # Positions near the border, where the padding's zeros and tiny products meet.
    for row, col in ((0, 0), (0, 5), (31, 31), (12, 7)):
        arith.row.value, arith.col.value = row, col
        shown = arith.tables.value + arith.equation.value
        numbers = re.findall(r"[+-]?\d+\.\d+", shown)
        seen += len(numbers)
        assert not [n for n in numbers if float(n) == 0 and n.startswith("-")], (row, col)
    assert seen > 100
    arith.close()


def test_chart_ticks_stay_inside_their_range(state, cifar_model):
    softmax = charts.SoftmaxChart(state)
    ticks = softmax.figure.axes[1].tick_values
    assert list(ticks) == [0.0, 0.25, 0.5, 0.75, 1.0]  # never "-1 %" or "101 %"
    dense = charts.DenseBars(state)
    sub = keras.Model(cifar_model.inputs[0], cifar_model.get_layer("dense1_act").output)
    for index in (0, 1, 2):
        state.index = index
        values = np.asarray(sub(state.images[index:index + 1].astype(np.float32) / 255.0))[0]
        np.testing.assert_allclose(dense.bars.y, values, atol=1e-4)
        lo, hi = dense.y_scale.min, dense.y_scale.max
        assert lo <= min(values.min(), 0) and hi >= values.max()
        labels = [format(t, dense.y_axis.tick_format) for t in dense.y_axis.tick_values]
        # Round ticks inside the range, none negative beyond the data, and no "-0".
        assert all(lo <= t <= hi for t in dense.y_axis.tick_values)
        assert not any(label.startswith("-0") for label in labels), labels
        assert (dense.x_scale.min, dense.x_scale.max) == (-0.5, 127.5)
        assert list(dense.x_axis.tick_values)[-1] == 127
    softmax.close()
    dense.close()


@pytest.mark.parametrize("low, high", [(-0.11, 2.3), (0.0, 0.37), (-0.004, 0.02), (0, 0)])
def test_nice_axis_is_round_and_covers_the_values(low, high):
    lo, hi, ticks, fmt = charts.nice_axis(low, high)
    assert lo <= low and hi >= high and hi > lo
    steps = np.diff(ticks)
    np.testing.assert_allclose(steps, steps[0])
    # Each tick, written with the format, reads back as itself: round numbers only.
    for t in ticks:
        assert float(format(t, fmt)) == pytest.approx(t, abs=1e-12)
