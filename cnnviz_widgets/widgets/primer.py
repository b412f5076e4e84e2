"""How a CNN works, told with the numbers of the model and image on screen."""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from .. import compute
from .base import StateWidget, reports_errors

#: Common questions whose answers hold for any model: (question, answer).
QUESTIONS = [
    ("Why do deeper layers look more abstract?",
     "Each layer works on the previous layer's maps, not on pixels. Edges combine into corners and "
     "textures, those into parts, parts into whole objects."),
    ("Why are some feature maps dark?",
     "A filter only fires where its pattern is. A wheel detector stays dark on a bird. The statistics "
     "table counts these switched-off values (its “sparsity” column); that is normal."),
    ("What makes a good set of filters?",
     "Variety. Filters that all look alike waste capacity. In a trained first layer you should find "
     "edges in several directions and several colour contrasts."),
    ("What if it predicts the wrong class?",
     "Compare it with a correct image of the same class. Is the last conv stage different? Do other "
     "dense neurons fire? Is Grad-CAM on the background instead of the object?"),
]


def _listed(names) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def channel_answer(stages) -> tuple:
    """The question about the number of filters, answered from this model's conv stages
    ``[(name, (h, w, c)), ...]``: (question, answer), every size and name read from the stages."""
    sizes = " → ".join(_shape(shape) for _, shape in stages)
    counts = list(dict.fromkeys(shape[-1] for _, shape in stages))
    question = f"Why {', then '.join(str(c) for c in counts)} filters?" if len(counts) > 1 else \
        f"Why {counts[0]} filters in every stage?"
    shrink = [name for (name, shape), (_, before) in zip(stages[1:], stages) if shape[0] < before[0]]
    grow = [name for (name, shape), (_, before) in zip(stages[1:], stages) if shape[-1] > before[-1]]
    parts = [f"In this model the maps go {sizes}."]
    if shrink:
        parts.append(f"They get smaller at {_listed(shrink)}.")
    if grow:
        parts.append(f"The number of channels grows at {_listed(grow)}.")
    parts.append("Smaller maps with more channels: each position then holds more kinds of pattern, "
                 "and the patterns grow more complex.")
    return question, " ".join(parts)


def learned_answer(sparsities) -> tuple:
    """The question "did it learn something?", answered with this image's sparsity of each conv
    stage (fractions in [0, 1], in the model's order)."""
    low, high = 100 * min(sparsities), 100 * max(sparsities)
    return ("How do I know the model learned something?",
            "First-layer filters look like edges, not noise. Predictions are confident and right. "
            "Grad-CAM covers the object. And many values are switched off: for this image, "
            f"{low:.0f}–{high:.0f} % of each conv stage's values are {compute.SPARSITY_EPS} or less "
            "(the table's “sparsity”).")


def _shape(shape) -> str:
    return "×".join(str(d) for d in shape)


class CnnPrimer(StateWidget):
    """The guide's "how CNNs work" steps, with the current model's sizes and the current image's
    scores, plus short answers to common questions.

    >>> CnnPrimer(state)   # doctest: +SKIP
    """

    def __init__(self, state, **kwargs):
        super().__init__(state, **kwargs)
        self.steps = widgets.HTML()
        self.questions = widgets.HTML()
        self.children = [self.steps, self.questions]
        self._observe(self._on_inspection, ["inspection"])
        self._render()

    @reports_errors
    def _render(self):
        state = self.state
        layers = {i.name: i for i in state.layers}
        h, w, c = state.inspector.input_shape
        convs = [i for i in state.layers if i.kind == "conv" and i.spatial]
        stages = compute.conv_stages(state.model)
        items = [f"<b>Input</b>: a {h}×{w}×{c} image is {h * w * c:,} numbers, scaled "
                 f"{html.escape(state.preprocess_name)} before the network sees them."]
        if convs:
            first = state.inspector.layer(convs[0].name)
            k = getattr(first, "kernel_size", ("?", "?"))
            items.append(
                f"<b>Convolution</b>: {convs[0].name} slides {convs[0].shape[-1]} filters of "
                f"{k[0]}×{k[1]}×{c} over the image; at each position it multiplies and sums, giving one "
                f"map per filter ({_shape(convs[0].shape)}). The <i>Convolution arithmetic</i> panel "
                "shows one of these sums in full.")
        # Normalisation and activation are told in the order this model applies them.
        explained = {
            "BatchNormalization": "<b>Batch normalisation</b>: each channel is shifted and scaled to a "
                                  "steady range, which keeps training stable.",
            "LeakyReLU": "<b>LeakyReLU</b>: positive values pass unchanged, negative ones are multiplied "
                         "by a small slope, so the network can bend straight lines into curves.",
        }
        order = [i.class_name for i in state.layers if i.class_name in explained]
        for kind in dict.fromkeys(order):
            items.append(explained[kind])
        if stages:
            sizes = " → ".join(_shape(layers[s].shape) for s in stages)
            items.append(f"<b>Downsampling</b>: strided convolutions shrink the maps while channels "
                         f"grow: {sizes}.")
        flat = [i for i in state.layers if i.class_name == "Flatten"]
        if flat:
            items.append(f"<b>Flatten</b>: the last maps become one vector of {flat[0].shape[0]:,} values.")
        dense = [i for i in state.layers if i.class_name == "Dense"]
        if len(dense) >= 2:
            d = state.inspector.layer(dense[0].name)
            n_in, n_out = (int(v) for v in d.kernel.shape)
            items.append(f"<b>Dense</b>: {dense[0].name} connects {n_in:,} inputs to {n_out} neurons: "
                         f"{n_in * n_out:,} weights.")
        insp = state.inspection
        if insp.logits is not None:
            top = np.argsort(insp.probabilities)[::-1][:3]
            pairs = ", ".join(f"{html.escape(state.class_names[t])} {insp.logits[t]:.2f} → "
                              f"{100 * insp.probabilities[t]:.1f} %" for t in top)
            items.append(f"<b>Softmax</b>: the final scores of this image become probabilities that "
                         f"add up to 100 % (top three: {pairs}).")
        self.steps.value = "<h4>How this network works, step by step</h4><ol>" + "".join(
            f"<li>{item}</li>" for item in items) + "</ol>"
        questions = list(QUESTIONS)
        if stages:
            questions.insert(3, channel_answer([(s, layers[s].shape) for s in stages]))
            questions.insert(4, learned_answer([insp.stats(s)["sparsity"] for s in stages]))
        self.questions.value = "<h4>Common questions</h4>" + "".join(
            f"<p><b>{html.escape(q)}</b><br>{html.escape(a)}</p>" for q, a in questions)
