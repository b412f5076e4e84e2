"""How long ``load_default_model()`` takes, offline (target: well under 2 s).

Run: ``python -m benchmarks.load_model``. Keras is imported first and timed apart, since any
TensorFlow program pays that once whatever it loads.
"""
from __future__ import annotations

import os
import statistics
import time


def main(reps: int = 7):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    start = time.perf_counter()
    import keras  # noqa: F401

    import_s = time.perf_counter() - start
    from cnnviz_widgets import load_default_model

    times = []
    for _ in range(reps):
        start = time.perf_counter()
        load_default_model()
        times.append(time.perf_counter() - start)
    print(f"\n{'step':<34} {'seconds':>8}")
    print(f"{'import keras (once per process)':<34} {import_s:8.2f}")
    print(f"{'load_default_model(), first call':<34} {times[0]:8.2f}")
    print(f"{'load_default_model(), median':<34} {statistics.median(times):8.2f}   ({reps} calls)")
    print(f"target: well under 2 s: {'met' if times[0] < 2 else 'missed'}")
    return times


if __name__ == "__main__":
    main()
