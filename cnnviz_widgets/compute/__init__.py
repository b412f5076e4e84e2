"""Pure computations on a Keras image classifier: no widget code here, no ipywidgets import.

One module per topic: ``inspection`` (one forward pass for every layer, layer tables, filters,
stages), ``gradcam`` (Grad-CAM and its maps), ``attribution`` (the other explanation methods),
``faithfulness`` (deletion and insertion curves, the randomisation sanity check),
``statistics`` (batched passes over an image set, the confusion matrix), ``teaching`` (gradient
ascent, channel means, top images), ``arithmetic`` (one convolution output step by step), ``edits``
(what-if edits of one image, the fast gradient sign attack) and ``embedding`` (the 2-D map of an
image set and its disk cache), ``export`` (tables as CSV files, safe file names for what a
student saves).
Every public name is re-exported here, so ``cnnviz_widgets.compute.<name>`` works.
"""
from ..arrays import resize_map
from .arithmetic import conv_arithmetic, stage_of
from .attribution import (
                          METHODS,
                          explain,
                          explain_all,
                          grad_cam_plus_plus,
                          input_range,
                          integrated_gradients,
                          occlusion,
                          saliency,
                          score_cam,
                          smoothgrad,
)
from .conv_geometry import conv2d_layers, conv_output_size, conv_padding, conv_param_count, conv_settings
from .describe import (
                          bars_text,
                          channel_alt,
                          comparison_alt,
                          difference_alt,
                          feature_maps_alt,
                          filters_alt,
                          heatmap_alt,
                          image_alt,
                          methods_alt,
                          place_of,
                          sanity_alt,
                          stages_alt,
                          strongest_place,
                          subject,
                          thirds_shares,
                          top_classes_text,
                          verdict_mark,
)
from .edits import (
                          Edits,
                          apply_edits,
                          blur,
                          brightness,
                          check_epsilon,
                          contrast,
                          fgsm,
                          flip,
                          magnified_difference,
                          noise,
                          occlude,
                          predict_and_explain,
                          preprocess_range,
                          rotate,
                          shift,
                          to_uint8,
)
from .embedding import (
                          CacheError,
                          DatasetMapResult,
                          MapCache,
                          dataset_map,
                          default_cache_dir,
                          features_and_predictions,
                          map_key,
                          pca,
                          penultimate_layer,
                          tsne,
)
from .exercises import (
                          ClassMistakes,
                          FilterPicks,
                          SureMistakes,
                          class_mistakes,
                          filter_picks,
                          heat_place,
                          stage_similarity,
                          sure_mistakes,
)
from .export import STATS_COLUMNS, confusion_csv, csv_bytes, file_name, stats_csv
from .faithfulness import (
                          Curve,
                          Explanation,
                          RandomizationCheck,
                          compare_methods,
                          deletion_curve,
                          insertion_curve,
                          randomization_check,
                          spearman,
                          weighted_stages,
)
from .gradcam import activation_map, grad_cam, normalize_map
from .inspection import (
                          CONV_CLASSES,
                          SPARSITY_EPS,
                          STAGE_CLASSES,
                          Inspector,
                          LayerInfo,
                          check_class_index,
                          check_image_model,
                          conv_filters,
                          conv_stages,
                          last_spatial_layer,
                          layer_outputs,
                          layer_stats,
                          layer_table,
                          layers_by_kind,
                          predict,
                          stage_starts,
)
from .statistics import confidence_examples, confusion_matrix, count_confusions, predict_batches, scale_images
from .teaching import channel_means, layer_channel_means, layer_probe, maximize_activation, start_noise, top_images

__all__ = [
    "resize_map", "CONV_CLASSES", "STAGE_CLASSES", "SPARSITY_EPS", "LayerInfo", "Inspector",
    "check_image_model", "layer_outputs", "predict", "layer_stats", "layer_table", "layers_by_kind",
    "conv_filters", "stage_starts", "conv_stages", "last_spatial_layer", "grad_cam", "normalize_map",
    "activation_map", "scale_images", "predict_batches", "confusion_matrix", "count_confusions", "confidence_examples",
    "layer_probe", "channel_means", "maximize_activation", "start_noise", "layer_channel_means",
    "top_images", "conv_arithmetic", "stage_of", "check_class_index",
    "METHODS", "explain", "explain_all", "saliency", "smoothgrad", "integrated_gradients", "occlusion", "grad_cam_plus_plus",
    "score_cam", "input_range", "Curve", "Explanation", "RandomizationCheck", "compare_methods", "deletion_curve",
    "insertion_curve", "randomization_check", "spearman", "weighted_stages",
    "Edits", "apply_edits", "blur", "brightness", "check_epsilon", "contrast", "fgsm", "flip", "preprocess_range",
    "magnified_difference", "noise", "occlude", "predict_and_explain", "rotate", "shift", "to_uint8",
    "CacheError", "DatasetMapResult", "MapCache", "dataset_map", "default_cache_dir", "features_and_predictions",
    "map_key", "pca", "penultimate_layer", "tsne",
    "csv_bytes", "confusion_csv", "stats_csv", "STATS_COLUMNS", "file_name",
    "ClassMistakes", "FilterPicks", "SureMistakes", "class_mistakes", "filter_picks", "heat_place",
    "stage_similarity", "sure_mistakes",
    "place_of", "strongest_place", "thirds_shares", "subject", "image_alt", "verdict_mark",
    "feature_maps_alt", "channel_alt", "heatmap_alt", "filters_alt", "stages_alt", "comparison_alt",
    "top_classes_text", "bars_text", "methods_alt", "sanity_alt", "difference_alt",
    "conv_output_size", "conv_padding", "conv_param_count", "conv2d_layers", "conv_settings",
]
