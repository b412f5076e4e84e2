"""Data and model loading: CIFAR-10, image files, the shipped model and safe ``.keras`` files.

A new data source is a new module here that returns uint8 images (N, H, W, C), int labels (N,)
and class names, as ``load_cifar10`` does.
"""
from .checkpoints import checkpoint_accuracies, shipped_checkpoints
from .cifar10 import CIFAR10_CLASSES, load_cifar10
from .images import load_image, load_images, resize_images
from .model_files import check_keras_archive, check_model_config, load_model_file
from .shipped_model import build_cifar_cnn, load_default_card, load_default_model

__all__ = [
    "CIFAR10_CLASSES", "load_cifar10", "load_image", "load_images", "resize_images",
    "check_keras_archive", "check_model_config", "load_model_file",
    "build_cifar_cnn", "load_default_card", "load_default_model",
    "shipped_checkpoints", "checkpoint_accuracies",
]
