"""cnnviz: see inside a convolutional neural network, one widget at a time.

>>> from cnnviz_widgets import ModelState, FeatureGrid   # doctest: +SKIP
>>> state = ModelState.from_default()                     # doctest: +SKIP
>>> FeatureGrid(state)                                    # doctest: +SKIP
"""
# First of all, before anything imports TensorFlow: its start-up logs are noise to a student. And
# before the widgets import bqplot: a kernel starting for a page runs the modules its first screen
# needs first, the charts' and the parts of Keras a dashboard never uses later or never.
from .compat import KERAS_UNUSED_MODULES
from .startup import defer_until_used, start_up
from .tf_logging import quiet_tensorflow_import

quiet_tensorflow_import()
defer_until_used(("bqplot", *KERAS_UNUSED_MODULES))

from .dashboard import Dashboard, StatusLine, friendly_errors
from .loading import build_cifar_cnn, load_cifar10, load_default_card, load_default_model, load_image, load_model_file
from .serving.accessibility import accessibility_support
from .state import Inspection, ModelState
from .widgets import (
                      ChartDownload,
                      CnnPrimer,
                      ComparisonGrid,
                      ConfidenceAnalysis,
                      ConvArithmetic,
                      ConvolutionAnimation,
                      ConvPlayground,
                      DatasetMap,
                      DenseBars,
                      Download,
                      ExplanationLab,
                      FeatureGrid,
                      FilterGrid,
                      FilterOptimizer,
                      HeatmapOverlay,
                      ImagePicker,
                      ImageUpload,
                      LayerSelector,
                      LayerStrip,
                      MisclassificationExplorer,
                      ModelComparison,
                      ModelUpload,
                      NetworkOverview,
                      SimilarImages,
                      SoftmaxChart,
                      StatsTable,
                      TopImages,
                      TrainingTimeline,
                      TrainPanel,
                      ViewLink,
                      WhatIfLab,
)

__all__ = [
    "load_cifar10", "load_image", "build_cifar_cnn", "load_default_model", "load_default_card",
    "load_model_file", "ModelState", "Inspection",
    "ImagePicker", "LayerSelector", "FeatureGrid", "FilterGrid", "LayerStrip", "DenseBars",
    "SoftmaxChart", "ComparisonGrid", "StatsTable", "HeatmapOverlay",
    "MisclassificationExplorer", "ConfidenceAnalysis", "FilterOptimizer", "ConvArithmetic",
    "TopImages", "TrainPanel", "ExplanationLab", "WhatIfLab", "DatasetMap", "ModelUpload", "ImageUpload",
    "CnnPrimer", "Download", "ChartDownload", "ViewLink",
    "Dashboard", "StatusLine", "friendly_errors", "start_up", "accessibility_support",
    "ConvPlayground", "ConvolutionAnimation", "NetworkOverview", "SimilarImages", "TrainingTimeline",
    "ModelComparison",
]
__version__ = "0.1.0"
