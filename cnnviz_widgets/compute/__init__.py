"""Pure computations on a Keras image classifier: no widget code here, no ipywidgets import.

One module per topic: ``inspection`` (one forward pass for every layer, layer tables, filters,
stages), ``gradcam`` (Grad-CAM and its maps; new explanation methods go beside it),
``statistics`` (batched passes over an image set, the confusion matrix), ``teaching`` (gradient
ascent, channel means, top images) and ``arithmetic`` (one convolution output step by step).
Every public name is re-exported here, so ``cnnviz_widgets.compute.<name>`` works.
"""
from ..arrays import resize_map
from .arithmetic import conv_arithmetic, stage_of
from .describe import (bars_text, channel_alt, comparison_alt, feature_maps_alt, filters_alt, heatmap_alt,
                       image_alt, place_of, stages_alt, strongest_place, subject, thirds_shares,
                       top_classes_text, verdict_mark)
from .gradcam import activation_map, grad_cam, normalize_map
from .inspection import (CONV_CLASSES, SPARSITY_EPS, STAGE_CLASSES, Inspector, LayerInfo, check_image_model,
                         conv_filters, conv_stages, last_spatial_layer, layer_outputs, layer_stats, layer_table,
                         layers_by_kind, predict, stage_starts)
from .statistics import confidence_examples, confusion_matrix, count_confusions, predict_batches, scale_images
from .teaching import channel_means, layer_channel_means, layer_probe, maximize_activation, start_noise, top_images

__all__ = [
    "resize_map", "CONV_CLASSES", "STAGE_CLASSES", "SPARSITY_EPS", "LayerInfo", "Inspector",
    "check_image_model", "layer_outputs", "predict", "layer_stats", "layer_table", "layers_by_kind",
    "conv_filters", "stage_starts", "conv_stages", "last_spatial_layer", "grad_cam", "normalize_map",
    "activation_map", "scale_images", "predict_batches", "confusion_matrix", "count_confusions", "confidence_examples",
    "layer_probe", "channel_means", "maximize_activation", "start_noise", "layer_channel_means",
    "top_images", "conv_arithmetic", "stage_of",
    "place_of", "strongest_place", "thirds_shares", "subject", "image_alt", "verdict_mark",
    "feature_maps_alt", "channel_alt", "heatmap_alt", "filters_alt", "stages_alt", "comparison_alt",
    "top_classes_text", "bars_text",
]
