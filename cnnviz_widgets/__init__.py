"""cnnviz: see inside a convolutional neural network, one widget at a time."""
from .data import load_cifar10, load_image
from .model import build_cifar_cnn, load_default_card, load_default_model

__all__ = ["load_cifar10", "load_image", "build_cifar_cnn", "load_default_model", "load_default_card"]
__version__ = "0.1.0"
