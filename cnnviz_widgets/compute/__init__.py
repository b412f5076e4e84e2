"""Pure computations on a Keras image classifier: no widget code here, no ipywidgets import.

One module per topic: ``inspection`` (one forward pass for every layer, layer tables, filters,
stages), ``gradcam`` (Grad-CAM and its maps), ``attribution`` (the other explanation methods),
``faithfulness`` (deletion and insertion curves, the randomisation sanity check),
``statistics`` (batched passes over an image set, the confusion matrix), ``teaching`` (gradient
ascent, channel means, top images) and ``arithmetic`` (one convolution output step by step).
Every public name is re-exported here, so ``cnnviz_widgets.compute.<name>`` works.
"""
from ..arrays import resize_map
from .arithmetic import conv_arithmetic, stage_of
from .attribution import (METHODS, explain, grad_cam_plus_plus, input_range, integrated_gradients, occlusion,
                          saliency, score_cam, smoothgrad)
from .faithfulness import (Curve, Explanation, RandomizationCheck, compare_methods, deletion_curve,
                           insertion_curve, randomization_check, spearman, weighted_stages)
from .gradcam import activation_map, grad_cam, normalize_map
from .inspection import (CONV_CLASSES, SPARSITY_EPS, STAGE_CLASSES, Inspector, LayerInfo, check_class_index,
                         check_image_model,
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
    "top_images", "conv_arithmetic", "stage_of", "check_class_index",
    "METHODS", "explain", "saliency", "smoothgrad", "integrated_gradients", "occlusion", "grad_cam_plus_plus",
    "score_cam", "input_range", "Curve", "Explanation", "RandomizationCheck", "compare_methods", "deletion_curve",
    "insertion_curve", "randomization_check", "spearman", "weighted_stages",
]
