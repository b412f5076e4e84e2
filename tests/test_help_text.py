"""Every number and rule in the help texts, held against the shipped model on real CIFAR-10 images.

The expected values come from a plain Keras sub-model of the named layers (its output shapes, and
the share of its values ≤ 0.01 counted with NumPy), from the probabilities of ``model(x)``, and
from numbers worked out by hand (ln 10 = 2.30).
"""
from __future__ import annotations

import html
import re

import keras
import numpy as np
import pytest

from cnnviz_widgets import dashboard
from cnnviz_widgets.widgets import charts, panels, primer

#: The shipped model's conv stages, as the guide builds them.
STAGES = ["conv1_act", "conv2_act", "conv3_act", "conv4_act"]
IMAGES = (0, 7, 123)


def plain_text(value: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", value)).replace("\xa0", " ")


@pytest.fixture(scope="module")
def stages_model(cifar_model):
    return keras.Model(cifar_model.input, [cifar_model.get_layer(n).output for n in STAGES])


def stage_outputs(stages_model, images, i):
    return [np.asarray(o)[0] for o in stages_model(images[i:i + 1].astype(np.float32) / 255.0)]


def test_the_primer_tells_this_models_sizes_and_sparsity(st, opened, stages_model):
    panel = primer.CnnPrimer(st)
    opened(panel)
    for i in IMAGES:
        st.index = i
        outputs = stage_outputs(stages_model, st.images, i)
        text = plain_text(panel.questions.value)
        shapes = [o.shape for o in outputs]
        assert shapes == [(32, 32, 32), (16, 16, 32), (16, 16, 64), (8, 8, 64)]
        assert "32×32×32 → 16×16×32 → 16×16×64 → 8×8×64" in text
        assert "Why 32, then 64 filters?" in text
        # Smaller maps after conv2 and conv4 (stride 2), more channels after conv3 only.
        assert "smaller at conv2_act and conv4_act." in text and "grows at conv3_act." in text
        sparsity = [100 * np.mean(o <= 0.01) for o in outputs]
        low, high = re.search(r"(\d+)–(\d+) % of each conv stage's values are 0.01 or less", text).groups()
        assert (int(low), int(high)) == (round(min(sparsity)), round(max(sparsity)))
        # The old claims that did not hold for this model are gone.
        assert "fifth" not in text and "halve" not in text


def test_the_statistics_note_tells_the_sparsity_of_each_stage(st, opened, stages_model):
    table = panels.StatsTable(st)
    opened(table)
    verdicts = set()
    for i in IMAGES:
        st.index = i
        sparsity = [100 * np.mean(o <= 0.01) for o in stage_outputs(stages_model, st.images, i)]
        note = plain_text(table.note.value)
        # No line break can fall between a number and its "%" (a no-break space joins them).
        assert re.search(r"\d %", table.note.value) is None and "%" in table.note.value
        steps = re.search(r"for this image: ([\d %→]+):", note).group(1)
        assert [int(v) for v in re.findall(r"\d+", steps)] == [round(v) for v in sparsity]
        if all(b > a for a, b in zip(sparsity, sparsity[1:])):
            expected = "each stage is sparser than the one before"
        elif sparsity[-1] > sparsity[0]:
            expected = "deeper is sparser overall, but not at every step"
        else:
            expected = "deeper is not sparser here"
        assert expected in note
        verdicts.add(expected)
        # The table's own sparsity column says the same numbers.
        for name, value in zip(STAGES, sparsity):
            row = re.search(rf"<td>{name}</td>.*?</tr>", table.table.value).group(0)
            assert re.findall(r"<td class='num'>([-\d.]+)</td>", row)[-1] == f"{value:.1f}"
    assert verdicts


def test_the_decision_states_its_rule_and_follows_it(st, opened, cifar_model):
    chart = charts.SoftmaxChart(st)
    opened(chart)
    probs = np.asarray(cifar_model(st.images[:400].astype(np.float32) / 255.0))
    top = probs.max(axis=1)
    # One image of each kind, found by a loop over real images.
    chosen = {"confident": int(np.flatnonzero(top >= 0.8)[0]),
              "unsure": int(np.flatnonzero((top >= 0.4) & (top < 0.8))[0])}
    for word, i in chosen.items():
        st.index = i
        text = plain_text(chart.summary.value)
        assert "The rule: confident from 80 %, unsure from 40 %, confused below." in text
        assert f"{100 * top[i]:.1f} %: {word}" in text
        entropy = -(probs[i] * np.log(probs[i])).sum()
        assert f"(entropy): {entropy:.2f}, from 0 (all on one class) to 2.30 (even over all 10)" in text
    # The section's text names the same threshold as the chart.
    assert "(80 % or more) is a confident guess" in dashboard.TEXTS["softmax"][1]


def test_the_section_texts_tell_this_models_sizes(stages_model):
    shapes = [tuple(o.shape[1:]) for o in stages_model.outputs]
    strip = dashboard.TEXTS["strip"][1]
    first, last = shapes[0][:2], shapes[-1][:2]
    assert f"from {first[0]}×{first[1]} to {last[0]}×{last[1]}" in strip
    assert shapes[-1][2] > shapes[0][2] and "channels grows" in strip
    # No section text counts neurons or promises a trend the numbers have to check.
    for _, text in dashboard.TEXTS.values():
        assert "128 neurons" not in text and "tend to be sparser" not in text


def test_no_help_text_sends_the_student_to_a_document_they_cannot_open():
    """The sections follow a guide the student does not have at hand: the page explains itself and
    cites no "guide" (each widget's own texts are held against the model above)."""
    texts = [text for _, text in dashboard.TEXTS.values()]
    texts += [f"{title} {note}" for title, _, note in dashboard.TOOLS]
    assert len(texts) > 20
    assert [t for t in texts if re.search(r"\bguide\b", t, re.IGNORECASE)] == []
