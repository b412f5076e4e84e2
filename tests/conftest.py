"""Fixtures shared by every test module.

Add new fixtures in their own section below; keep each one small and documented.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from cnnviz_widgets import load_cifar10

# Examples per property test: "quick" in the everyday run and CI, "full" for a thorough run
# (`pytest --hypothesis-profile=full`, README "Tests"). The tests' own settings name no count.
settings.register_profile("quick", max_examples=100)
settings.register_profile("full", max_examples=500)
settings.load_profile("quick")

UI_TESTS = Path(__file__).resolve().parent / "ui"


def pytest_collection_modifyitems(config, items):
    """Mark every test under ``tests/ui`` (a real Voilà server and Chromium) ``ui``, so that
    ``pytest -m "not ui"`` runs the rest alone."""
    for item in items:
        if UI_TESTS in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.ui)


# --------------------------------------------------------------------------- CIFAR-10

@pytest.fixture(scope="session")
def cifar_dir() -> Path:
    """The CIFAR-10 folder named by ``$CNNVIZ_CIFAR10_DIR``.

    The tests never download CIFAR-10: they use the copy that CI and developers keep in
    ``../shared/data/cifar10`` (the folder holding ``cifar-10-batches-py``).
    """
    value = os.environ.get("CNNVIZ_CIFAR10_DIR")
    if not value:
        pytest.fail(
            "CNNVIZ_CIFAR10_DIR is not set. Point it at the folder that holds "
            "'cifar-10-batches-py', e.g. CNNVIZ_CIFAR10_DIR=../shared/data/cifar10",
            pytrace=False,
        )
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"CNNVIZ_CIFAR10_DIR={value} is not a folder", pytrace=False)
    return path


@pytest.fixture(scope="session")
def cifar_test(cifar_dir):
    """``load_cifar10("test")``: uint8 images (10000, 32, 32, 3), int64 labels (10000,), class names."""
    return load_cifar10("test")


# --------------------------------------------------------------------------- models and state

@pytest.fixture(scope="session")
def cifar_model():
    """The shipped, trained CIFAR-10 CNN (``load_default_model()``); loaded once per session."""
    from cnnviz_widgets import load_default_model

    return load_default_model()


@pytest.fixture(scope="session")
def untrained_cnn():
    """The guide's architecture with fresh random weights (seeded): a second, different model."""
    import keras

    from cnnviz_widgets import build_cifar_cnn

    keras.utils.set_random_seed(1)
    return build_cifar_cnn()


@pytest.fixture
def state(cifar_model, cifar_test):
    """A fresh ``ModelState`` of the trained model on the 10,000 real CIFAR-10 test images."""
    from cnnviz_widgets.state import ModelState

    images, labels, names = cifar_test
    return ModelState(cifar_model, images, labels, names)


# --------------------------------------------------------------------------- widgets

@pytest.fixture
def opened():
    """Collects widgets and closes them after the test, so no test leaves observers behind."""
    made = []
    yield made.append
    for w in made:
        w.close()


@pytest.fixture(scope="session")
def tiny_model():
    """A tiny named CNN with other names and shapes than the guide's: one 3×3 conv (valid
    padding, 4 filters), a pool, a softmax Dense."""
    import keras

    keras.utils.set_random_seed(3)
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(4, 3, name="c1"),
        keras.layers.MaxPooling2D(name="pool"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(10, activation="softmax", name="out"),
    ])


@pytest.fixture(scope="module")
def shared(cifar_model, cifar_test):
    """One ModelState of the shipped model on the first 1,000 real test images, per test module."""
    from cnnviz_widgets.state import ModelState

    images, labels, names = cifar_test
    return ModelState(cifar_model, images[:1000], labels[:1000], names)


@pytest.fixture
def st(shared):
    """The module's shared state with its selections reset before each test."""
    shared.index = 0
    shared.layer = shared.default_layer()
    shared.class_index = None
    shared.compare = shared.default_compare()
    shared.status = ""
    return shared
