"""The colour scheme setting, followed by every panel, and the panels' text alternatives, on the
shipped model and real CIFAR-10 images."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from cnnviz_widgets import FeatureGrid, FilterGrid, HeatmapOverlay, ImagePicker, LayerStrip
from cnnviz_widgets.render import colormap_lut
from cnnviz_widgets.widgets.settings import ColourSchemeSelector

#: First colours of the published maps: cividis (Nuñez et al. 2018) and viridis (van der Walt and
#: Smith), and the darkest orange of ColorBrewer's PuOr, the positive end of the blue–orange map.
CIVIDIS_0 = (0x00, 0x22, 0x4E)
VIRIDIS_0 = (0x44, 0x01, 0x54)
PUOR_DARK_ORANGE = (0x7F, 0x3B, 0x08)


def colours(png: bytes) -> set:
    with Image.open(io.BytesIO(png)) as img:
        return {tuple(c) for c in np.asarray(img.convert("RGB")).reshape(-1, 3).tolist()}


def test_the_selector_writes_the_scheme_and_every_panel_redraws_in_it(st, opened):
    selector, features, filters, strip, heat = (
        ColourSchemeSelector(st), FeatureGrid(st), FilterGrid(st), LayerStrip(st),
        HeatmapOverlay(st, mode="activation"))
    for w in (selector, features, filters, strip, heat):
        opened(w)
    st.layer = "conv2_act"          # 32 input channels: the filters are drawn in the signed map
    filters.mode.value = "mean"
    before = {w: w.image.value for w in (features, filters, strip, heat)}
    assert CIVIDIS_0 not in colours(features.image.value)
    assert PUOR_DARK_ORANGE not in colours(filters.image.value)
    assert not colours(heat.heatmap.value) <= {tuple(c) for c in colormap_lut("viridis").tolist()}

    selector.dropdown.value = "colour-vision safe"
    assert st.colour_scheme == "colour-vision safe"
    assert all(w.image.value != before[w] for w in before), "a panel kept its old colours"
    # The darkest feature value is drawn in cividis' first colour; the filters' strongest positive
    # weights in PuOr's dark orange; the bare heatmap only in viridis' colours.
    assert CIVIDIS_0 in colours(features.image.value)
    assert PUOR_DARK_ORANGE in colours(filters.image.value)
    viridis = {tuple(c) for c in colormap_lut("viridis").tolist()}
    assert colours(heat.heatmap.value) <= viridis and tuple(colormap_lut("viridis")[0]) == VIRIDIS_0
    assert "orange positive, blue negative" in filters.note.value
    assert "yellow and green" in heat.note.value

    st.colour_scheme = "standard"   # the state drives the control too
    assert selector.dropdown.value == "standard"
    assert features.image.value == before[features]


def test_every_picture_is_described_for_its_image_and_layer(st, opened, cifar_test):
    _, labels, names = cifar_test
    picker, features, heat = ImagePicker(st), FeatureGrid(st), HeatmapOverlay(st, mode="grad-cam")
    for w in (picker, features, heat):
        opened(w)
    st.layer = "conv2_act"
    for index in (0, 7):
        st.index = index
        true = names[labels[index]]
        assert picker.image.tooltip.startswith(f"Image {index}, a {true}; the network says ")
        # conv2_act of the guide's CNN: 32 maps of 16×16.
        assert features.image.tooltip.startswith(
            f"conv2_act: 32 feature maps of 16×16 for image {index} (a {true}); strongest: map ")
        assert features.channel_image.tooltip.startswith(f"conv2_act map 0 for image {index} (a {true})")
        predicted = names[int(np.argmax(st.inspection.probabilities))]
        assert f"Grad-CAM for class {predicted} on image {index} (a {true})" in heat.image.tooltip
    # The synced trait that lets ipywidgets write the tooltip as the <img>'s title stays empty.
    assert picker.image.description == "" and "description" in picker.image.keys
