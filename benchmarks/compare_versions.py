"""One full inspection per image, this checkout against another one, interleaved image by image.

``python -m benchmarks.compare_versions /path/to/other/checkout [--images N]``

The other checkout's ``cnnviz_widgets`` is copied under another name and imported beside this one,
so both run in one process on the same model object and the same images, alternating which goes
first. Machine load then hits both alike, which separate runs on a shared machine cannot promise.
Prints the medians of each and the median of the paired ratios (this / other).
"""
from __future__ import annotations

import argparse
import importlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from . import common
from .inspect_speed import full_inspection

OTHER_NAME = "cnnviz_other"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout (the folder holding cnnviz_widgets/)")
    parser.add_argument("--images", type=int, default=200, help="images timed for each (default 200)")
    args = parser.parse_args(argv)
    common.setup_environment()

    import cnnviz_widgets

    folder = Path(tempfile.mkdtemp(prefix="cnnviz-compare-"))
    # The package imports itself only relatively, so a copy under another name is a second package.
    shutil.copytree(args.other / "cnnviz_widgets", folder / OTHER_NAME)
    sys.path.insert(0, str(folder))
    try:
        other = importlib.import_module(OTHER_NAME)
        model = cnnviz_widgets.load_default_model()
        images, _, _ = cnnviz_widgets.load_cifar10("test")
        sides = {"this": cnnviz_widgets, "other": other}
        inspectors = {k: pkg.compute.Inspector.for_model(model) for k, pkg in sides.items()}
        stages = cnnviz_widgets.compute.conv_stages(model)
        picked = common.pick_images(len(images), args.images + 2, 0)
        wall = {k: [] for k in sides}
        cpu = {k: [] for k in sides}
        for n, i in enumerate(picked):
            order = ("this", "other") if n % 2 == 0 else ("other", "this")
            for k in order:
                t0, c0 = time.perf_counter(), time.process_time()
                full_inspection(inspectors[k], model, stages, images[i], package=sides[k])
                if n >= 2:  # The first two trace TensorFlow's functions.
                    wall[k].append(1000.0 * (time.perf_counter() - t0))
                    cpu[k].append(1000.0 * (time.process_time() - c0))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"One full inspection, {len(wall['this'])} images, interleaved (other = {args.other})")
    print(f"{'':8}{'wall median ms':>16}{'CPU median ms':>16}")
    for k in sides:
        print(f"{k:8}{statistics.median(wall[k]):16.2f}{statistics.median(cpu[k]):16.2f}")
    print("median of paired ratios this / other: wall "
          f"{statistics.median(a / b for a, b in zip(wall['this'], wall['other'])):.3f}, CPU "
          f"{statistics.median(a / b for a, b in zip(cpu['this'], cpu['other'])):.3f}")
    print(common.machine_note())


if __name__ == "__main__":
    main()
