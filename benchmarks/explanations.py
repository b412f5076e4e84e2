"""Every explanation method on one image, cnnviz beside tf-keras-vis in the same run.

cnnviz: saliency, SmoothGrad (25 samples), Integrated Gradients (32 steps), occlusion (patch 4,
stride 2), Grad-CAM++, Score-CAM, the deletion and insertion curves of one map, and everything the
explanation lab computes for a new image (every map, and both curves of each). tf-keras-vis:
its ``Saliency`` (plain and with 25 SmoothGrad samples), ``GradcamPlusPlus`` and ``Scorecam`` on
the same model and images. Each row is the median over ``--images`` different CIFAR-10 test
images, after one untimed run that traces TensorFlow's functions.

``--before REV`` also times the same rows with the ``cnnviz_widgets`` of the git revision ``REV``
(e.g. ``main``), imported beside this one under another name: both run in this one process on the
same model object and images, alternating which goes first image by image, so machine load hits
both alike. The table then has both sides, the median of the paired ratios (after / before) and the
largest difference between their results (the same maps and curves up to float rounding).
``--no-reference`` leaves tf-keras-vis out (its SmoothGrad takes seconds per image).

Run: ``CNNVIZ_CIFAR10_DIR=... python -m benchmarks.explanations [--images 20] [--before main]``
"""
from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import common

BEFORE_NAME = "cnnviz_before"

#: Median milliseconds per image that the lab needs to follow image changes live.
TARGETS_MS = {
    "saliency": 5, "smoothgrad": 30, "integrated_gradients": 30, "occlusion": 60,
    "grad_cam_plus_plus": 10, "score_cam": 60, "deletion + insertion curves": 30,
    "every method with its curves (the lab)": 250,
}


def _ours(model, layer, package=None):
    import numpy as np

    compute = (package or importlib.import_module("cnnviz_widgets")).compute

    def curves(x):
        heat = compute.grad_cam(model, x, None, layer)
        return compute.deletion_curve(model, x, heat), compute.insertion_curve(model, x, heat)

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


def _floor(inspector, layer):
    """The model calls alone, on copies of the image: what no arrangement of the work around them
    can save (occlusion: the image and its 225 occluded copies; the lab: 290 images forward for
    occlusion and Score-CAM, 211 for the curves' inner points, input gradients of 58 for saliency,
    SmoothGrad and Integrated Gradients, and the two Grad-CAM gradients)."""
    import numpy as np

    def copies(x, n):
        return np.repeat(x[None], n, axis=0)

    def lab(x):
        inspector.scores(copies(x, 290))
        inspector.scores(copies(x, 211))
        inspector.input_gradients(copies(x, 58), 0)
        inspector.gradcam_parts(x, layer, 0)
        inspector.gradcam_parts(x, layer, 0)

    return {
        "(model calls alone: occlusion, 226 images)": lambda x: inspector.scores(copies(x, 226)),
        "(model calls alone: the lab)": lab,
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


def _arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20, help="different test images timed (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the choice of test images")
    parser.add_argument("--before", metavar="REV", help="also time the cnnviz_widgets of this git revision")
    parser.add_argument("--no-reference", action="store_true", help="leave tf-keras-vis out")
    return parser.parse_args(argv)


def _import_revision(rev: str, folder: Path):
    """The ``cnnviz_widgets`` of git revision ``rev`` as a second package (it imports itself only
    relatively, so a copy under another name is one)."""
    root = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "-C", str(root), "archive", rev, "cnnviz_widgets"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    (folder / "cnnviz_widgets").rename(folder / BEFORE_NAME)
    sys.path.insert(0, str(folder))
    return importlib.import_module(BEFORE_NAME)


def _values(result):
    """Every number of a result (a map, curves, or the lab's ``{method: Explanation}``), flat."""
    import numpy as np

    if isinstance(result, dict):
        return np.concatenate([_values(v) for v in result.values()])
    if hasattr(result, "heat"):
        return np.concatenate([_values(result.heat), _values(result.deletion), _values(result.insertion)])
    if isinstance(result, (tuple, list)):
        return np.concatenate([_values(v) for v in result])
    return np.asarray(result, dtype=np.float64).reshape(-1)


def _interleaved(fns, xs) -> tuple:
    """Wall and CPU milliseconds of each of ``fns`` on each image, alternating which goes first,
    and the largest difference between their results."""
    times = {k: common.Timings() for k in fns}
    diff = 0.0
    for n, x in enumerate(xs):
        order = list(fns) if n % 2 == 0 else list(fns)[::-1]
        out = {}
        for k in order:
            t0, c0 = time.perf_counter(), time.process_time()
            out[k] = fns[k](x)
            times[k].append(1000.0 * (time.perf_counter() - t0))
            times[k].cpu.append(1000.0 * (time.process_time() - c0))
        if len(out) == 2:
            a, b = (_values(v) for v in out.values())
            diff = max(diff, float(abs(a - b).max()))
    return times, diff


def main(argv=None):
    args = _arguments(argv)
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
    ours = {**_ours(model, layer), **_floor(inspector, layer)}
    theirs = {} if args.no_reference else _theirs(model, layer, inspector)
    folder = Path(tempfile.mkdtemp(prefix="cnnviz-before-"))
    before = _ours(model, layer, _import_revision(args.before, folder)) if args.before else {}
    results = {}
    for name, fn in ours.items():
        fns = {"after": fn, **({"before": before[name]} if name in before else {})}
        for f in fns.values():
            f(x_warm)
        timings, diff = _interleaved(fns, xs)
        results[name] = [timings["after"], timings.get("before"), diff, None]
        if name in theirs:
            theirs[name](x_warm)
            results[name][3] = common.time_each(theirs[name], xs)

    print(f"\nExplanation methods, one CIFAR-10 test image (32×32), median of {len(xs)} images, "
          "shipped model")
    cols = ["method", "wall ms", "CPU ms", "target ms", ""]
    if args.before:
        cols += [f"before ({args.before}) wall ms", "before CPU ms", "after / before wall", "max |diff|"]
    cols += ["tf-keras-vis wall ms"]
    print("| " + " | ".join(cols) + " |")
    print("| --- |" + " ---: |" * (len(cols) - 1))
    for name, (mine, old, diff, ref) in results.items():
        med = statistics.median(mine)
        target = TARGETS_MS.get(name)
        row = [name, f"{med:.1f}", f"{statistics.median(mine.cpu):.1f}", "" if target is None else f"{target}",
               "" if target is None else ("met" if med <= target else "MISSED")]
        if args.before and old is None:
            row += ["", "", "", ""]
        elif args.before:
            ratio = statistics.median(a / b for a, b in zip(mine, old))
            row += [f"{statistics.median(old):.1f}", f"{statistics.median(old.cpu):.1f}", f"{ratio:.2f}",
                    f"{diff:.1e}"]
        row += ["—" if ref is None else f"{statistics.median(ref):.1f}"]
        print("| " + " | ".join(row) + " |")
    print("(wall clock; CPU ms: median CPU time of this process; tf-keras-vis's SmoothGrad row is "
          "its Saliency with smooth_samples=25; after / before: median of the paired ratios)")
    print(common.machine_note())
    return {name: statistics.median(r[0]) for name, r in results.items()}


if __name__ == "__main__":
    main()
