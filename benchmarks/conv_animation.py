"""One step of the convolution animation, server-side, on the shipped model and a real CIFAR-10 test image.

A step is what the kernel does when the position slider moves one place (the player, a step
button or the slider): ``compute.conv_arithmetic`` at the new position from the image's cached
inspection (no forward pass of the whole model), the two PNGs (the padded input with the window,
the output map filled in so far) and the tables. Timed for every Conv2D layer of the shipped
model, with all input channels summed and with one input channel shown; median and 90th
percentile of ``--steps`` steps each. Also one change of a ``ConvPlayground`` slider. Target: one
animation step ≤ 50 ms (median), so that the fastest speed (a step every 250 ms) keeps up.

Run from the repository root: ``python benchmarks/conv_animation.py [--steps 60]`` with
``CNNVIZ_CIFAR10_DIR`` set. The machine's cores may be shared: the table says how busy it was.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks.common import machine_note  # noqa: E402

TARGET_STEP_MS = 50.0


def timed(action, count: int) -> list:
    """Wall-clock milliseconds of ``action(k)`` for k = 0 .. count - 1."""
    times = []
    for k in range(count):
        start = time.perf_counter()
        action(k)
        times.append(1000 * (time.perf_counter() - start))
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="steps timed per row (default 60)")
    args = parser.parse_args(argv)
    if not os.environ.get("CNNVIZ_CIFAR10_DIR"):
        sys.exit("set CNNVIZ_CIFAR10_DIR to the folder that holds cifar-10-batches-py")
    from cnnviz_widgets import ConvolutionAnimation, ConvPlayground, ModelState

    state = ModelState.from_default()
    state.index = 7
    animation = ConvolutionAnimation(state)
    rows = []
    for layer in animation.layer.options:
        animation.layer.value = layer
        for view in (-1, 1):
            animation.view.value = view
            timed(lambda k: animation.step(1), 3)  # warm-up: the layer's first steps trace its probe
            animation.position.value = 0
            t = timed(lambda k: animation.step(1), args.steps)
            in_c = len(animation.view.options) - 1
            rows.append((f"{layer}, {'all ' + str(in_c) + ' input channels summed' if view < 0 else 'input channel 1'}", t))
    animation.close()

    playground = ConvPlayground(state)
    sizes = np.random.default_rng(0).integers(8, 64, size=args.steps)
    timed(lambda k: setattr(playground.size, "value", int(sizes[k])), 3)
    rows.append(("ConvPlayground: a new input size", timed(lambda k: setattr(playground.size, "value",
                                                                             int(sizes[k])), args.steps)))
    playground.close()

    print(f"Convolution animation and playground, server-side — {machine_note()}")
    print("Timings are wall-clock on shared cores: other work on the machine slows them down.")
    print(f"\n{'one step':<52}{'median ms':>10}{'p90 ms':>10}")
    for name, t in rows:
        print(f"{name:<52}{statistics.median(t):>10.1f}{np.percentile(t, 90):>10.1f}")
    steps = [x for name, t in rows if not name.startswith("ConvPlayground") for x in t]
    median = statistics.median(steps)
    verdict = "met" if median <= TARGET_STEP_MS else "MISSED"
    print(f"every animation step above: median {median:.1f} ms; target ≤ {TARGET_STEP_MS:.0f} ms: {verdict}")
    return median


if __name__ == "__main__":
    main()
