"""Text alternatives of the dashboard's pictures and charts, written from the data they show.

Pure functions of arrays and names, no widget code: a screen reader (or a student who cannot tell
the colours apart) reads what the picture shows for this image and this layer, e.g.
"conv2_act: 32 feature maps of 16×16 for a frog; strongest: map 7, upper left".

Places in a map are named on a 3×3 grid of thirds: "upper left", "top", "upper right", "left",
"centre", "right", "lower left", "bottom", "lower right".
"""
from __future__ import annotations

import numpy as np

#: Names of the nine thirds of a map, by (row band, column band).
PLACES = (("upper left", "top", "upper right"),
          ("left", "centre", "right"),
          ("lower left", "bottom", "lower right"))
#: Below this share of the heat in its warmest third, a heatmap is called spread out.
FOCUSED_SHARE = 1 / 3


def _band(position: int, size: int) -> int:
    """Which third (0, 1, 2) of ``size`` cells the cell ``position`` lies in."""
    return min(2, position * 3 // max(1, size))


def place_of(row: int, col: int, height: int, width: int) -> str:
    """The name of the third of an (height, width) map that holds cell (row, col).

    >>> place_of(0, 0, 16, 16), place_of(8, 8, 16, 16), place_of(15, 7, 16, 16)
    ('upper left', 'centre', 'bottom')
    """
    return PLACES[_band(row, height)][_band(col, width)]


def strongest_place(m) -> str:
    """Where the largest value of a 2-D map (h, w) is (its first cell when tied)."""
    m = np.asarray(m)
    row, col = np.unravel_index(int(np.argmax(m)), m.shape)
    return place_of(int(row), int(col), *m.shape)


def thirds_shares(heat) -> np.ndarray:
    """The share of a non-negative 2-D map's total in each of its nine thirds: (3, 3), summing to 1
    (all zero for an all-zero map)."""
    heat = np.clip(np.asarray(heat, dtype=np.float64), 0, None)
    h, w = heat.shape
    rows = np.array([_band(r, h) for r in range(h)])
    cols = np.array([_band(c, w) for c in range(w)])
    shares = np.zeros((3, 3))
    np.add.at(shares, (rows[:, None], cols[None, :]), heat)
    total = shares.sum()
    return shares / total if total > 0 else shares


def shape_words(shape) -> str:
    """(16, 16) → "16×16"."""
    return "×".join(str(int(d)) for d in shape)


def subject(index: int, true_name: str | None) -> str:
    """How the text alternatives name an image: "image 12 (a frog)", or "image 12" when its class
    is unknown."""
    return f"image {index:,} (a {true_name})" if true_name else f"image {index:,}"


def image_alt(index: int, true_name: str | None, predicted_name: str, confidence: float) -> str:
    """The picked image: "Image 12, a frog; the network says frog (94.3 %): right".

    >>> image_alt(3, "cat", "dog", 0.5)
    'Image 3, a cat; the network says dog (50.0 %): wrong'
    """
    what = f"Image {index:,}, a {true_name}" if true_name else f"Image {index:,} (class unknown)"
    verdict = "" if true_name is None else (": right" if true_name == predicted_name else ": wrong")
    return f"{what}; the network says {predicted_name} ({100 * confidence:.1f} %){verdict}"


def verdict_mark(correct: bool | None) -> str:
    """A sign that does not depend on colour: "✓ right", "✗ wrong", or "" when the class is unknown."""
    if correct is None:
        return ""
    return "✓ right" if correct else "✗ wrong"


def feature_maps_alt(layer: str, maps, subject: str, shown: int | None = None) -> str:
    """The montage of a layer's feature maps (h, w, N) for one image.

    The strongest map is the one with the largest mean, and its place is where its maximum is.
    "conv2_act: 32 feature maps of 16×16 for a frog; strongest: map 7, upper left; 3 maps are
    zero everywhere".
    """
    maps = np.asarray(maps, dtype=np.float64)
    h, w, n = maps.shape
    shown = n if shown is None else int(shown)
    count = f"{n} feature maps" if shown >= n else f"the first {shown} of {n} feature maps"
    means = maps.mean(axis=(0, 1))
    best = int(np.argmax(means))
    text = (f"{layer}: {count} of {h}×{w} for {subject}; strongest: map {best}, "
            f"{strongest_place(maps[:, :, best])}")
    silent = int((maps.max(axis=(0, 1)) <= 0).sum())
    if silent:
        text += f"; {silent} map{'s are' if silent != 1 else ' is'} zero everywhere"
    return text


def channel_alt(layer: str, m, channel: int, subject: str) -> str:
    """One feature map (h, w) shown large: "conv2_act map 7 for a frog, 16×16: brightest at the
    upper left, 40 % of it zero"."""
    m = np.asarray(m, dtype=np.float64)
    if m.max() <= 0:
        return f"{layer} map {channel} for {subject}, {shape_words(m.shape)}: zero everywhere"
    zero = 100 * float((m <= 0).mean())
    return (f"{layer} map {channel} for {subject}, {shape_words(m.shape)}: brightest at the "
            f"{strongest_place(m)}, {zero:.0f} % of it zero")


def heatmap_alt(heat, method: str, subject: str, target: str) -> str:
    """A heatmap (h, w) of where the network looks, e.g. "Grad-CAM for class cat on a frog: the
    network looks mostly at the centre" or "...: spread out, most at the top".

    ``method``: "Grad-CAM" or "Activation"; ``target``: the class (Grad-CAM) or the layer.
    """
    shares = thirds_shares(heat)
    head = f"{method} for {target} on {subject}"
    if shares.sum() == 0:
        return f"{head}: no region stands out"
    row, col = np.unravel_index(int(np.argmax(shares)), shares.shape)
    place = PLACES[row][col]
    if shares[row, col] >= FOCUSED_SHARE:
        return f"{head}: the network looks mostly at the {place}"
    return f"{head}: spread out, most at the {place}"


def filters_alt(layer: str, kernel, mode, signed_colours: str) -> str:
    """The grid of a conv layer's learned filters, kernel (kh, kw, in, out).

    ``mode`` as ``render.filter_tiles``; ``signed_colours`` says how signs are drawn
    ("orange positive, blue negative"). The filter with the largest weights (L2 norm) is named.
    """
    k = np.asarray(kernel, dtype=np.float64)
    kh, kw, cin, cout = k.shape
    norms = np.sqrt((k ** 2).sum(axis=(0, 1, 2)))
    view = ("each drawn in colour from its 3 input channels" if mode == "rgb" else
            f"the mean over {cin} input channels, {signed_colours}" if mode == "mean" else
            f"input channel {int(mode)} of {cin}, {signed_colours}")
    return (f"{layer}: {cout} learned filters of {kh}×{kw}, {view}; "
            f"largest weights: filter {int(np.argmax(norms))}")


def stages_alt(stages, subject: str) -> str:
    """The layer-by-layer strip: stages is [(name, shape)], e.g. "The frog layer by layer, each
    stage the mean of its maps: input 32×32×3, conv1_act 32×32×32, pool1 16×16×32"."""
    parts = ", ".join(f"{name} {shape_words(shape)}" for name, shape in stages)
    return f"{subject[0].upper()}{subject[1:]} layer by layer, each stage the mean of its maps: {parts}"


def comparison_alt(subjects, stage_names) -> str:
    """The comparison grid: one row per image, one column per stage."""
    return (f"{len(subjects)} images in rows ({', '.join(subjects)}), one column per stage: "
            f"{', '.join(stage_names)}")


def top_classes_text(class_names, probabilities, k: int = 3) -> str:
    """The softmax chart in words: "Top three: frog 94.3 %, cat 3.1 %, deer 1.0 %"."""
    p = np.asarray(probabilities, dtype=np.float64)
    order = np.argsort(-p, kind="stable")[:k]
    words = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
    items = ", ".join(f"{class_names[i]} {100 * p[i]:.1f} %" for i in order)
    return f"Top {words.get(len(order), len(order))}: {items}"


def bars_text(values, k: int = 3) -> str:
    """The dense bars in words: "128 neurons, 37 above zero; largest: 12 (4.21), 88 (3.90), 5 (3.10)"."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    order = np.argsort(-v, kind="stable")[:k]
    largest = ", ".join(f"{int(i)} ({v[i]:.2f})" for i in order)
    return f"{len(v)} neurons, {int((v > 0).sum())} above zero; largest: {largest}"


def methods_alt(labels, heats, subject: str, target: str) -> str:
    """A row of explanation maps (each (h, w)), one method each, e.g. "3 explanations of class cat
    for image 3 (a cat); where each is strongest: Saliency, centre; Occlusion, upper left"."""
    places = "; ".join(f"{label}, {strongest_place(h)}" for label, h in zip(labels, heats))
    return f"{len(labels)} explanations of {target} for {subject}; where each is strongest: {places}"


def sanity_alt(labels, layers, correlations, subject: str) -> str:
    """The sanity check's grid: for each method (``labels``), the rank correlation with the trained
    network's map after each stage of ``layers`` is re-initialised from the top (``correlations``:
    one sequence per method), e.g. "Sanity check on image 3 (a cat), layers re-initialised from
    the top: dense1, conv4. Rank correlation with the trained network's map: Saliency 0.12, 0.03"."""
    rows = "; ".join(f"{label} " + ", ".join(f"{float(r):.2f}" for r in rs)
                     for label, rs in zip(labels, correlations))
    return (f"Sanity check on {subject}, layers re-initialised from the top: {', '.join(layers)}. "
            f"Rank correlation with the trained network's map: {rows}")


def difference_alt(times: float) -> str:
    """The what-if difference picture, magnified ``times`` (0: no change)."""
    if times == 0:
        return "Difference between the edited and the original picture: no change, grey everywhere"
    return (f"Difference between the edited and the original picture, magnified {times:.0f} times: "
            "grey where unchanged, lighter where a pixel was raised, darker where lowered")
