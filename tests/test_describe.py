"""The text alternatives, on small arrays whose answers are worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest

from cnnviz_widgets.compute import (
    bars_text,
    channel_alt,
    comparison_alt,
    feature_maps_alt,
    filters_alt,
    heatmap_alt,
    image_alt,
    place_of,
    stages_alt,
    strongest_place,
    subject,
    thirds_shares,
    top_classes_text,
    verdict_mark,
)


@pytest.mark.parametrize("row, col, expected", [
    (0, 0, "upper left"), (0, 7, "top"), (0, 15, "upper right"),
    (5, 0, "upper left"),   # 5·3 // 16 = 0: still the upper third
    (6, 0, "left"),         # 6·3 // 16 = 1
    (10, 10, "centre"), (10, 11, "right"),  # 33 // 16 = 2
    (11, 0, "lower left"), (15, 8, "bottom"), (15, 15, "lower right"),
])
def test_place_of_names_the_thirds_of_a_16_by_16_map(row, col, expected):
    assert place_of(row, col, 16, 16) == expected


def test_strongest_place_is_where_the_maximum_is():
    m = np.zeros((8, 8))
    m[7, 0] = 5.0
    m[0, 0] = 4.0
    assert strongest_place(m) == "lower left"


def test_thirds_shares_add_up_the_map_by_thirds():
    heat = np.zeros((6, 6))
    heat[0:2, 0:2] = 1.0      # 4 cells in the upper left third
    heat[2:4, 2:4] = 3.0      # 4 cells of 3 in the centre third
    shares = thirds_shares(heat)
    assert shares[0, 0] == pytest.approx(4 / 16)
    assert shares[1, 1] == pytest.approx(12 / 16)
    assert shares.sum() == pytest.approx(1.0)
    assert thirds_shares(np.zeros((4, 4))).sum() == 0


def test_image_alt_says_class_prediction_and_verdict_in_words():
    assert image_alt(12, "frog", "frog", 0.9432) == "Image 12, a frog; the network says frog (94.3 %): right"
    assert image_alt(1234, "cat", "dog", 0.5) == "Image 1,234, a cat; the network says dog (50.0 %): wrong"
    assert image_alt(7, None, "ship", 0.25) == "Image 7 (class unknown); the network says ship (25.0 %)"


def test_verdict_mark_never_relies_on_colour():
    assert verdict_mark(True) == "✓ right"
    assert verdict_mark(False) == "✗ wrong"
    assert verdict_mark(None) == ""


def test_feature_maps_alt_names_the_strongest_map_and_where_it_fires():
    maps = np.zeros((16, 16, 4))
    maps[:, :, 1] = 0.1            # mean 0.1
    maps[2, 3, 2] = 100.0          # mean 100/256 ≈ 0.39, the largest; its peak is upper left
    # map 0 and map 3 are zero everywhere
    text = feature_maps_alt("conv2_act", maps, "a frog")
    assert text == ("conv2_act: 4 feature maps of 16×16 for a frog; strongest: map 2, upper left; "
                    "2 maps are zero everywhere")
    assert feature_maps_alt("c", maps[:, :, 1:3], "a cat", shown=1).startswith(
        "c: the first 1 of 2 feature maps of 16×16 for a cat; strongest: map 1, upper left")


def test_channel_alt_says_where_it_is_brightest_and_how_much_is_zero():
    m = np.zeros((4, 4))
    m[3, 3] = 2.0
    m[0, 0] = 1.0
    # 14 of the 16 cells are zero: 87.5 %, written as 88 %.
    assert channel_alt("conv1_act", m, 5, "a ship") == \
        "conv1_act map 5 for a ship, 4×4: brightest at the lower right, 88 % of it zero"
    assert channel_alt("conv1_act", np.zeros((4, 4)), 0, "a ship") == \
        "conv1_act map 0 for a ship, 4×4: zero everywhere"


def test_heatmap_alt_tells_focused_from_spread_out():
    focused = np.zeros((9, 9))
    focused[3:6, 3:6] = 1.0       # all the heat in the centre third
    assert heatmap_alt(focused, "Grad-CAM", "a frog", "class cat") == \
        "Grad-CAM for class cat on a frog: the network looks mostly at the centre"
    spread = np.ones((9, 9))
    spread[0:3, 3:6] = 2.0        # the top third holds 18 of 90: a fifth, under a third
    assert heatmap_alt(spread, "Activation", "a frog", "conv3_act") == \
        "Activation for conv3_act on a frog: spread out, most at the top"
    assert heatmap_alt(np.zeros((3, 3)), "Grad-CAM", "a frog", "class cat").endswith("no region stands out")


def test_filters_alt_names_the_view_and_the_largest_filter():
    kernel = np.zeros((3, 3, 3, 4))
    kernel[..., 2] = -1.0          # the largest norm, whatever its sign
    kernel[0, 0, 0, 1] = 2.0
    assert filters_alt("conv1", kernel, "rgb", "") == \
        "conv1: 4 learned filters of 3×3, each drawn in colour from its 3 input channels; largest weights: filter 2"
    assert filters_alt("conv2", kernel, 1, "orange positive, blue negative") == \
        ("conv2: 4 learned filters of 3×3, input channel 1 of 3, orange positive, blue negative; "
         "largest weights: filter 2")


def test_strip_and_comparison_list_their_stages():
    assert stages_alt([("input", (32, 32, 3)), ("conv1_act", (32, 32, 32))], "a frog") == \
        "A frog layer by layer, each stage the mean of its maps: input 32×32×3, conv1_act 32×32×32"
    assert comparison_alt(["a cat", "a dog"], ["input", "conv1"]) == \
        "2 images in rows (a cat, a dog), one column per stage: input, conv1"


def test_top_classes_and_bars_in_words():
    names = ["plane", "car", "bird", "cat"]
    assert top_classes_text(names, [0.1, 0.05, 0.6, 0.25]) == "Top three: bird 60.0 %, cat 25.0 %, plane 10.0 %"
    values = np.array([0.0, 4.21, -1.0, 3.9, 0.5])
    assert bars_text(values) == "5 neurons, 3 above zero; largest: 1 (4.21), 3 (3.90), 4 (0.50)"


def test_subject_names_an_image_by_number_and_class():
    assert subject(12, "frog") == "image 12 (a frog)"
    assert subject(1234, None) == "image 1,234"


def test_methods_alt_names_each_method_and_where_its_map_is_strongest():
    from cnnviz_widgets.compute import methods_alt
    a = np.zeros((9, 9))
    a[0, 0] = 1            # upper left
    b = np.zeros((9, 9))
    b[4, 4] = 1            # centre
    assert methods_alt(["Saliency", "Occlusion"], [a, b], "image 3 (a cat)", "class cat") == (
        "2 explanations of class cat for image 3 (a cat); where each is strongest: "
        "Saliency, upper left; Occlusion, centre")


def test_sanity_alt_lists_every_correlation_in_order():
    from cnnviz_widgets.compute import sanity_alt
    text = sanity_alt(["Saliency"], ["predictions", "dense1"], [[0.123, -0.05]], "image 0 (a cat)")
    assert text == ("Sanity check on image 0 (a cat), layers re-initialised from the top: predictions, dense1. "
                    "Rank correlation with the trained network's map: Saliency 0.12, -0.05")


def test_difference_alt_says_no_change_or_the_magnification():
    from cnnviz_widgets.compute import difference_alt
    assert "no change" in difference_alt(0)
    assert "magnified 32 times" in difference_alt(32.0)
