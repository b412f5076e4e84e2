"""What the benchmarks share: the real model and images, "the guide's way", timing and tables."""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time

import numpy as np

#: Targets of the brief: one image at most this many milliseconds (median) ...
TARGET_MS = 30.0
#: ... and at least this many times faster than the guide's way.
TARGET_RATIO = 100.0


def arguments(description: str, argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--images", type=int, default=50,
                        help="different test images timed for cnnviz (default 50)")
    parser.add_argument("--guide-reps", type=int, default=5,
                        help="different test images timed for the guide's way (default 5; it takes seconds each)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the choice of test images")
    return parser.parse_args(argv)


def setup_environment():
    """Quiet TensorFlow and draw Matplotlib off screen; needs $CNNVIZ_CIFAR10_DIR."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not os.environ.get("CNNVIZ_CIFAR10_DIR"):
        sys.exit("set CNNVIZ_CIFAR10_DIR to the folder that holds cifar-10-batches-py")
    try:
        import matplotlib
    except ImportError:
        sys.exit('the guide\'s way draws with Matplotlib: pip install -e ".[test,bench]"')
    import tensorflow as tf

    matplotlib.use("Agg")
    # The guide's way builds a new model per layer and image, so Keras retraces its predict
    # function every time and TensorFlow warns about it; that cost is the point, not news.
    tf.get_logger().setLevel("ERROR")


def load_state():
    """The shipped model on the 10,000 real CIFAR-10 test images."""
    from cnnviz_widgets.state import ModelState

    return ModelState.from_default()


def pick_images(n_images: int, count: int, seed: int, exclude=()) -> list:
    """``count`` different image indices, none of them in ``exclude``."""
    rng = np.random.default_rng(seed)
    pool = np.setdiff1d(np.arange(n_images), np.asarray(list(exclude), dtype=int))
    return [int(i) for i in rng.choice(pool, size=count, replace=False)]


def guide_way(model, image, stages, cols: int = 8) -> list:
    """What the guide's notebook does for one image: for each conv stage a new single-output
    ``keras.Model(model.input, layer.output)`` and ``predict``, then a Matplotlib grid of every
    feature map of that layer (``plt.subplots``, ``imshow`` per map) saved as PNG in memory.

    Returns the PNG bytes of each stage's figure.
    """
    import keras
    import matplotlib.pyplot as plt

    x = image.astype(np.float32)[None] / 255.0
    pngs = []
    for name in stages:
        layer_model = keras.Model(inputs=model.input, outputs=model.get_layer(name).output)
        out = layer_model.predict(x, verbose=0)[0]
        n = out.shape[-1]
        rows = -(-n // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 2, rows * 2))
        for i, ax in enumerate(axes.flat):
            if i < n:
                ax.imshow(out[:, :, i], cmap="viridis")
            ax.axis("off")
        fig.suptitle(f"{name} feature maps")
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        pngs.append(buf.getvalue())
    return pngs


class Timings(list):
    """Wall-clock milliseconds of each repetition, with the process's CPU milliseconds in ``cpu``
    (on shared cores the wall clock also counts the time other processes held the CPU)."""

    def __init__(self):
        super().__init__()
        self.cpu: list = []


def time_each(fn, items) -> Timings:
    """Wall-clock and CPU milliseconds of ``fn(item)`` for each item."""
    out = Timings()
    for item in items:
        t0, c0 = time.perf_counter(), time.process_time()
        fn(item)
        out.append(1000.0 * (time.perf_counter() - t0))
        out.cpu.append(1000.0 * (time.process_time() - c0))
    return out


def p90(values) -> float:
    return float(np.percentile(values, 90))


def print_table(title: str, rows, note: str = ""):
    """rows: (method, Timings, ratio text). Prints a fixed-width table."""
    print(f"\n{title}")
    head = (f"{'method':<46} {'median ms':>10} {'p90 ms':>9} {'CPU ms':>9} {'reps':>5} "
            f"{'ratio':>14}")
    print(head)
    print("-" * len(head))
    for method, times, ratio in rows:
        print(f"{method:<46} {statistics.median(times):>10.1f} {p90(times):>9.1f} "
              f"{statistics.median(times.cpu):>9.1f} {len(times):>5} {ratio:>14}")
    print("(median and p90: wall clock; CPU ms: median CPU time of this process)")
    if note:
        print(note)


def verdict(ours_ms: float, guide_ms: float) -> str:
    ratio = guide_ms / ours_ms
    ok_ms = "met" if ours_ms <= TARGET_MS else "MISSED"
    ok_ratio = "met" if ratio >= TARGET_RATIO else "MISSED"
    return (f"targets: median ≤ {TARGET_MS:.0f} ms: {ok_ms} ({ours_ms:.1f} ms); "
            f"≥ {TARGET_RATIO:.0f}× faster than the guide's way: {ok_ratio} ({ratio:.0f}×)")


def machine_note() -> str:
    """One line on the machine, since shared cores make timings noisy."""
    try:
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        load = "n/a"
    return f"machine: {os.cpu_count()} CPU cores, load average {load} (1, 5, 15 min)"
