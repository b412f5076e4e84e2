"""CnnPrimer: the guide's "how CNNs work" told with the real model's sizes and scores."""
from __future__ import annotations

import re

import numpy as np
from helpers import observers_of

from cnnviz_widgets.widgets.primer import QUESTIONS, CnnPrimer


def _text(widget) -> str:
    return re.sub(r"<[^>]+>", "", widget.steps.value)


def test_steps_use_the_models_sizes_and_the_images_scores(state, cifar_model):
    primer = CnnPrimer(state)
    try:
        text = _text(primer)
        assert "a 32×32×3 image is 3,072 numbers" in text
        assert "32 filters of 3×3×3" in text
        assert "32×32×32 → 16×16×32 → 16×16×64 → 8×8×64" in text
        assert "one vector of 4,096 values" in text
        assert "524,288 weights" in text
        for index in (0, 9):
            state.index = index
            x = state.images[index][None].astype(np.float32) / 255.0
            probs = cifar_model(x, training=False).numpy()[0]
            top = int(np.argmax(probs))
            logits = state.inspection.logits
            # The scores shown are the pre-softmax logits, and their softmax is the model's output.
            np.testing.assert_allclose(np.exp(logits) / np.exp(logits).sum(), probs, atol=1e-5)
            assert f"{state.class_names[top]} {logits[top]:.2f} → {100 * probs[top]:.1f} %" in _text(primer)
        assert all(q in primer.questions.value for q, _ in QUESTIONS)
    finally:
        primer.close()
    assert observers_of(state, primer) == []
