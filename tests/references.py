"""Independent references for the tests: what the package computes, written out again without it.

Nothing here imports ``cnnviz_widgets``: layer outputs come from plain per-layer Keras sub-models,
Grad-CAM from a hand-written GradientTape, colours from Matplotlib's colormap tables as stored in
the package's data file (read here with ``json``, not with the package's loader), pictures from
loops over tiles. Import them in a test module: ``from references import keras_outputs``.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

#: Matplotlib's colormap tables (viridis, turbo, RdBu_r at 256 and 255 colours), as shipped.
COLORMAPS = Path(__file__).resolve().parents[1] / "cnnviz_widgets" / "assets" / "colormaps.json"


def scaled(image) -> np.ndarray:
    """A uint8 image (H, W, C) as the guide's model sees it: float32 in [0, 1]."""
    return np.asarray(image, dtype=np.float32) / 255.0


def keras_outputs(model, image) -> dict:
    """Every layer's output for one uint8 image, from one plain Keras sub-model per layer
    (``keras.Model(model.input, layer.output)``): ``{layer name: ndarray without the batch axis}``."""
    import keras

    x = scaled(image)[None]
    out = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        sub = keras.Model(model.inputs[0], layer.output)
        out[layer.name] = np.asarray(sub(x, training=False))[0]
    return out


def keras_layer(model, name: str, images) -> np.ndarray:
    """The output of layer ``name`` for uint8 images (N, H, W, C), from a plain Keras sub-model."""
    import keras

    sub = keras.Model(model.inputs[0], model.get_layer(name).output)
    return np.asarray(sub(scaled(images), training=False))


def keras_probabilities(model, image) -> tuple:
    """(probabilities (K,), predicted class) of one uint8 image from the model's own call (the
    guide's CNN ends in a softmax)."""
    probs = np.asarray(model(scaled(image)[None], training=False))[0]
    return probs, int(np.argmax(probs))


def hand_grad_cam(model, x, class_index, layer_name):
    """Grad-CAM of the guide's CNN written out: the pre-softmax score is ``dense1_dropout @ kernel
    + bias``, the gradient comes from a GradientTape, the map is upsampled with TensorFlow.
    Returns ``(cam (H, W) in [0, 1], logits (K,))``."""
    import keras
    import tensorflow as tf

    head = model.get_layer("predictions")
    probe = keras.Model(model.inputs[0], [model.get_layer(layer_name).output,
                                          model.get_layer("dense1_dropout").output])
    with tf.GradientTape() as tape:
        a, h = probe(tf.constant(x[None]), training=False)
        logits = tf.matmul(h, head.kernel) + head.bias
        score = logits[0, class_index]
    g = tape.gradient(score, a)[0].numpy()
    a = a[0].numpy()
    cam = np.maximum(np.einsum("hwk,k->hw", a, g.mean(axis=(0, 1))), 0.0)
    up = tf.image.resize(cam[None, :, :, None], x.shape[:2], method="bilinear").numpy()[0, :, :, 0]
    up = np.maximum(up, 0.0)
    return (up / up.max() if up.max() > 0 else up), logits.numpy()[0]


def colour_table(name: str, n: int) -> np.ndarray:
    """Matplotlib's colormap ``name`` resampled to ``n`` colours, (n, 3) uint8."""
    tables = json.loads(COLORMAPS.read_text())["tables"]
    return np.frombuffer(bytes.fromhex(tables[name][str(n)]), dtype=np.uint8).reshape(n, 3)


def decode(png: bytes) -> np.ndarray:
    """PNG bytes as RGB uint8 (H, W, 3), with Pillow."""
    from PIL import Image

    assert bytes(png[:8]) == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(png)) as img:
        return np.asarray(img.convert("RGB"))


def coloured_map(m, factor: int, name: str = "viridis", n: int = 255) -> np.ndarray:
    """One 2-D map scaled to [0, 1] by its own min and max (a flat map is 0), looked up in an
    ``n``-colour table, each value a ``factor`` × ``factor`` block: (h·f, w·f, 3) uint8."""
    m = np.asarray(m, dtype=np.float64)
    lo, hi = m.min(), m.max()
    t = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    colours = colour_table(name, n)[np.clip(np.floor(t * (n - 1) + 0.5), 0, n - 1).astype(int)]
    return np.kron(colours, np.ones((factor, factor, 1), dtype=np.uint8)).astype(np.uint8)


def tile_at(picture, i: int, cols: int, tile: int, gap: int, band: int = 0, height: int | None = None):
    """Tile ``i`` of a grid of ``tile``-pixel tiles laid out ``cols`` per row, ``gap`` pixels apart,
    each under a ``band`` of pixels (its number): the tile's pixels without the band."""
    height = tile if height is None else height
    r, c = divmod(i, cols)
    top = r * (height + band + gap) + band
    left = c * (tile + gap)
    return picture[top: top + height, left: left + tile]


def assert_close_colours(got, expected, what: str = ""):
    """Pictures equal but for a colour one step away where a value lies on the rounding boundary
    between two table entries (float32 against float64 arithmetic)."""
    got, expected = np.asarray(got, dtype=int), np.asarray(expected, dtype=int)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    diff = np.abs(got - expected).max(axis=-1)
    assert diff.max() <= 8, (what, int(diff.max()))
    assert np.mean(diff > 0) < 0.02, (what, float(np.mean(diff > 0)))
