"""The dashboard's panels: one module per family, each class a ``StateWidget`` that observes a
``ModelState`` and works alone in a notebook.

``base`` (StateWidget and helpers), ``controls`` (image and layer pickers), ``grids`` (feature maps
and filters), ``charts`` (bar charts), ``panels`` (statistics table, heatmap overlay), ``primer``,
``explanations`` (the explanation lab), ``whatif`` and ``datamap`` (the what-if lab, the dataset map),
``uploads`` (your own model and images), ``jobs`` (background work behind a progress bar),
``sharing`` (save buttons, the link to a view), and one module per teaching tool. A new panel is a new module here.
"""
from .charts import DenseBars, SoftmaxChart
from .comparison import ComparisonGrid
from .confidence import ConfidenceAnalysis
from .controls import ImagePicker, LayerSelector
from .conv_animation import ConvolutionAnimation
from .conv_arithmetic import ConvArithmetic
from .conv_playground import ConvPlayground
from .datamap import DatasetMap
from .explanations import ExplanationLab
from .filter_optimizer import FilterOptimizer
from .grids import FeatureGrid, FilterGrid, LayerStrip
from .jobs import JobBar, ToolWidget
from .misclassification import MisclassificationExplorer
from .model_comparison import ModelComparison
from .overview import NetworkOverview
from .panels import HeatmapOverlay, StatsTable
from .primer import CnnPrimer
from .sharing import ChartDownload, Download, ViewLink
from .similar import SimilarImages
from .timeline import TrainingTimeline
from .top_images import TopImages
from .train_panel import TrainPanel
from .uploads import ImageUpload, ModelUpload
from .whatif import WhatIfLab

__all__ = [
    "DenseBars", "SoftmaxChart", "ConfidenceAnalysis", "ImagePicker", "LayerSelector", "ConvArithmetic",
    "FilterOptimizer", "ComparisonGrid", "FeatureGrid", "FilterGrid", "LayerStrip", "JobBar", "ToolWidget",
    "MisclassificationExplorer", "HeatmapOverlay", "StatsTable", "CnnPrimer", "TopImages", "TrainPanel",
    "ImageUpload", "ModelUpload", "ExplanationLab", "WhatIfLab", "DatasetMap", "Download", "ChartDownload", "ViewLink",
    "ConvPlayground", "ConvolutionAnimation", "NetworkOverview", "SimilarImages", "TrainingTimeline",
    "ModelComparison",
]
