"""The guide's architecture and the shipped, trained model with its card."""
from __future__ import annotations

import numpy as np
import pytest

from cnnviz_widgets import build_cifar_cnn, load_default_card
from cnnviz_widgets.compute import confusion_matrix

GUIDE_SHAPES = {
    "conv1_act": (32, 32, 32),
    "conv2_act": (16, 16, 32),
    "conv3_act": (16, 16, 64),
    "conv4_act": (8, 8, 64),
    "flatten": (4096,),
    "dense1_act": (128,),
    "predictions": (10,),
}


def test_architecture_is_the_guides():
    model = build_cifar_cnn()
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == (
        ["InputLayer"]
        + ["Conv2D", "BatchNormalization", "LeakyReLU"] * 4
        + ["Flatten", "Dense", "BatchNormalization", "LeakyReLU", "Dropout", "Dense"]
    )
    for name, shape in GUIDE_SHAPES.items():
        assert tuple(model.get_layer(name).output.shape[1:]) == shape, name
    strides = [model.get_layer(f"conv{i}").strides for i in range(1, 5)]
    assert strides == [(1, 1), (2, 2), (1, 1), (2, 2)]
    assert [model.get_layer(f"conv{i}").kernel_size for i in range(1, 5)] == [(3, 3)] * 4
    assert model.get_layer("predictions").activation.__name__ == "softmax"
    # 4,096 inputs × 128 neurons: the guide's 524,288 connections of the dense layer.
    assert np.prod(model.get_layer("dense1").kernel.shape) == 524_288


def test_shipped_model_matches_its_card(cifar_model, cifar_test):
    images, labels, names = cifar_test
    card = load_default_card()
    cm = confusion_matrix(cifar_model, images, labels)
    accuracy = np.trace(cm) / cm.sum()
    per_class = np.diag(cm) / cm.sum(axis=1)
    assert accuracy == pytest.approx(card["test_accuracy"], abs=1e-3)
    np.testing.assert_allclose(per_class, card["per_class_accuracy"], atol=1e-3)
    np.testing.assert_array_equal(cm, np.array(card["confusion_matrix"]))
    assert card["class_names"] == names
    assert accuracy >= 0.80


def test_shipped_model_is_small_and_has_no_optimizer_state(cifar_model):
    import io
    import json
    import zipfile

    import h5py

    from cnnviz_widgets.loading.shipped_model import DEFAULT_MODEL_PATH

    assert DEFAULT_MODEL_PATH.stat().st_size < 5 * 2**20
    with zipfile.ZipFile(DEFAULT_MODEL_PATH) as archive:
        assert not json.loads(archive.read("config.json")).get("compile_config")
        with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as weights:
            assert "optimizer" not in weights
            assert "layers" in weights
    assert [layer.name for layer in cifar_model.layers] == [layer.name for layer in build_cifar_cnn().layers]
