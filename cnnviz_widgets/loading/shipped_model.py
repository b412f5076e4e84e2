"""The guide's CIFAR-10 CNN and the shipped, trained copy of it."""
from __future__ import annotations

import json
from pathlib import Path

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_MODEL_PATH = DEFAULT_MODEL_DIR / "cifar_cnn.keras"
DEFAULT_CARD_PATH = DEFAULT_MODEL_DIR / "cifar_cnn.card.json"


def build_cifar_cnn(input_shape=(32, 32, 3), num_classes: int = 10, dropout: float = 0.5):
    """The CNN of the guide's sections 1-2.

    Four conv blocks (32, 32 stride 2, 64, 64 stride 2; each Conv2D 3×3 + BatchNorm + LeakyReLU),
    Flatten, Dense 128 + BatchNorm + LeakyReLU + Dropout, Dense 10 with softmax.
    Layer names follow one scheme: ``conv1``, ``conv1_bn``, ``conv1_act``, …, ``dense1``,
    ``dense1_bn``, ``dense1_act``, ``dense1_dropout``, ``predictions``.

    Returns
    -------
    keras.Model
        Input (None, 32, 32, 3) float32 in [0, 1]; output (None, 10) class probabilities.

    >>> model = build_cifar_cnn()          # doctest: +SKIP
    >>> model.get_layer("conv4_act").output.shape   # doctest: +SKIP
    (None, 8, 8, 64)
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, (filters, stride) in enumerate([(32, 1), (32, 2), (64, 1), (64, 2)], start=1):
        x = layers.Conv2D(filters, 3, strides=stride, padding="same", name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"conv{i}_bn")(x)
        x = layers.LeakyReLU(negative_slope=0.01, name=f"conv{i}_act")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, name="dense1")(x)
    x = layers.BatchNormalization(name="dense1_bn")(x)
    x = layers.LeakyReLU(negative_slope=0.01, name="dense1_act")(x)
    x = layers.Dropout(dropout, name="dense1_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="cifar_cnn")


def load_default_model():
    """The guide's CNN trained on CIFAR-10, shipped with the package (no network needed).

    Returns
    -------
    keras.Model
        Input (None, 32, 32, 3) float32 in [0, 1]; output (None, 10) probabilities.
    """
    import keras

    if not DEFAULT_MODEL_PATH.is_file():
        raise FileNotFoundError(
            f"the shipped model {DEFAULT_MODEL_PATH.name} is missing from the package; "
            "reinstall cnnviz or train one with `python -m cnnviz_widgets.train`"
        )
    return keras.saving.load_model(DEFAULT_MODEL_PATH, compile=False, safe_mode=True)


def load_default_card() -> dict:
    """The shipped model's card: test accuracy, per-class accuracy, confusion matrix, training facts."""
    return json.loads(DEFAULT_CARD_PATH.read_text())
