"""cnnviz: see inside a convolutional neural network, one widget at a time.

>>> from cnnviz_widgets import ModelState, FeatureGrid   # doctest: +SKIP
>>> state = ModelState.from_default()                     # doctest: +SKIP
>>> FeatureGrid(state)                                    # doctest: +SKIP
"""
# First of all, before anything imports TensorFlow: its start-up logs are noise to a student.
from .tf_logging import quiet_tensorflow_import

quiet_tensorflow_import()

from .accessibility import accessibility_support
from .byo import ImageUpload, ModelUpload, load_model_file
from .charts import DenseBars, SoftmaxChart
from .controls import ImagePicker, LayerSelector
from .dashboard import Dashboard, StatusLine, friendly_errors
from .data import load_cifar10, load_image
from .grids import ComparisonGrid, FeatureGrid, FilterGrid, LayerStrip
from .model import build_cifar_cnn, load_default_card, load_default_model
from .panels import HeatmapOverlay, StatsTable
from .primer import CnnPrimer
from .state import Inspection, ModelState
from .tools import (ConfidenceAnalysis, ConvArithmetic, FilterOptimizer, MisclassificationExplorer,
                    TopImages, TrainPanel)

__all__ = [
    "load_cifar10", "load_image", "build_cifar_cnn", "load_default_model", "load_default_card",
    "load_model_file", "ModelState", "Inspection",
    "ImagePicker", "LayerSelector", "FeatureGrid", "FilterGrid", "LayerStrip", "DenseBars",
    "SoftmaxChart", "ComparisonGrid", "StatsTable", "HeatmapOverlay",
    "MisclassificationExplorer", "ConfidenceAnalysis", "FilterOptimizer", "ConvArithmetic",
    "TopImages", "TrainPanel", "ModelUpload", "ImageUpload", "CnnPrimer",
    "Dashboard", "StatusLine", "friendly_errors", "accessibility_support",
]
__version__ = "0.1.0"
