"""Every explanation method on one image, cnnviz beside tf-keras-vis in the same run.

cnnviz: saliency, SmoothGrad (25 samples), Integrated Gradients (32 steps), occlusion (patch 4,
stride 2), Grad-CAM++, Score-CAM, the deletion and insertion curves of one map, and everything the
explanation lab computes for a new image (every map, and both curves of each). tf-keras-vis:
its ``Saliency`` (plain and with 25 SmoothGrad samples), ``GradcamPlusPlus`` and ``Scorecam`` on
the same model and images. Each row is the median over ``--images`` different CIFAR-10 test
images, after one untimed run that traces TensorFlow's functions.

Run: ``CNNVIZ_CIFAR10_DIR=... python -m benchmarks.explanations [--images 20]``
"""
from __future__ import annotations

import statistics

from . import common

#: Median milliseconds per image that the lab needs to follow image changes live.
TARGETS_MS = {
    "saliency": 5, "smoothgrad": 30, "integrated_gradients": 30, "occlusion": 60,
    "grad_cam_plus_plus": 10, "score_cam": 60, "deletion + insertion curves": 30,
    "every method with its curves (the lab)": 250,
}


def _ours(model, layer):
    import numpy as np

    from cnnviz_widgets import compute

    def curves(x):
        heat = compute.grad_cam(model, x, None, layer)
        compute.deletion_curve(model, x, heat)
        compute.insertion_curve(model, x, heat)

    return {
        "saliency": lambda x: compute.saliency(model, x),
        "smoothgrad": lambda x: compute.smoothgrad(model, x),
        "integrated_gradients": lambda x: compute.integrated_gradients(model, x),
        "occlusion": lambda x: compute.occlusion(model, x),
        "grad_cam_plus_plus": lambda x: compute.grad_cam_plus_plus(model, x, None, layer),
        "score_cam": lambda x: compute.score_cam(model, x, None, layer),
        "deletion + insertion curves": curves,
        "every method with its curves (the lab)":
            lambda x: compute.compare_methods(model, x, value_range=(0.0, 1.0)),
        "(Grad-CAM, for reference)": lambda x: np.asarray(compute.grad_cam(model, x, None, layer)),
    }


def _theirs(model, layer, inspector):
    """tf-keras-vis's methods, each explaining the class cnnviz's prediction names."""
    import numpy as np
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    # Each tool copies the model once, with the softmax replaced by a linear activation, as its
    # documentation does: that is their pre-softmax score too.
    sal = Saliency(model, model_modifier=ReplaceToLinear(), clone=True)
    gcpp = GradcamPlusPlus(model, model_modifier=ReplaceToLinear(), clone=True)
    scam = Scorecam(model, model_modifier=ReplaceToLinear(), clone=True)

    def score(x):
        return CategoricalScore(int(np.argmax(inspector.scores(x[None])[0])))

    return {
        "saliency": lambda x: sal(score(x), x[None]),
        "smoothgrad": lambda x: sal(score(x), x[None], smooth_samples=25, smooth_noise=0.15),
        "grad_cam_plus_plus": lambda x: gcpp(score(x), x[None], penultimate_layer=layer,
                                             seek_penultimate_conv_layer=False),
        "score_cam": lambda x: scam(score(x), x[None], penultimate_layer=layer,
                                    seek_penultimate_conv_layer=False),
    }


def main(argv=None):
    args = common.arguments(__doc__.splitlines()[0], argv)
    common.setup_environment()
    import numpy as np

    from cnnviz_widgets import compute

    state = common.load_state()
    model, images = state.model, state.images
    inspector = compute.Inspector.for_model(model)
    layer = compute.last_spatial_layer(model)
    warm = common.pick_images(len(images), 1, args.seed + 1)
    picked = common.pick_images(len(images), args.images, args.seed, exclude=warm)
    xs = [images[i].astype(np.float32) / 255.0 for i in picked]
    x_warm = images[warm[0]].astype(np.float32) / 255.0
    ours, theirs = _ours(model, layer), _theirs(model, layer, inspector)
    results = {}
    for name, fn in ours.items():
        fn(x_warm)
        results[name] = [common.time_each(fn, xs), None]
        if name in theirs:
            theirs[name](x_warm)
            results[name][1] = common.time_each(theirs[name], xs)

    print(f"\nExplanation methods, one CIFAR-10 test image (32×32), median of {len(xs)} images, "
          "shipped model")
    head = (f"{'method':<42} {'cnnviz ms':>10} {'CPU ms':>8} {'target ms':>10} {'':>7} "
            f"{'tf-keras-vis ms':>16}")
    print(head)
    print("-" * len(head))
    for name, (mine, ref) in results.items():
        med = statistics.median(mine)
        target = TARGETS_MS.get(name)
        verdict = "" if target is None else ("met" if med <= target else "MISSED")
        ref_text = "—" if ref is None else f"{statistics.median(ref):.1f}"
        print(f"{name:<42} {med:>10.1f} {statistics.median(mine.cpu):>8.1f} "
              f"{'' if target is None else target:>10} {verdict:>7} {ref_text:>16}")
    print("(wall clock; CPU ms: median CPU time of this process; tf-keras-vis's SmoothGrad row is "
          "its Saliency with smooth_samples=25)")
    print(common.machine_note())
    return {name: statistics.median(mine) for name, (mine, _) in results.items()}


if __name__ == "__main__":
    main()
