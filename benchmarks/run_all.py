"""Run every benchmark in one process and print their tables.

Run: ``CNNVIZ_CIFAR10_DIR=... python -m benchmarks`` (or ``python -m benchmarks.run_all``); the
options of the single benchmarks (``--images``, ``--guide-reps``, ``--seed``) apply to both.
"""
from __future__ import annotations

import sys

from . import inspect_speed, widget_update


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    results = {
        "inspect_speed": inspect_speed.main(argv),
        "widget_update": widget_update.main(argv),
    }
    print("\nSummary (median ms, cnnviz vs the guide's way)")
    for name, (ours, guide) in results.items():
        print(f"  {name:<14} {ours:8.1f} ms vs {guide:9.1f} ms: {guide / ours:6.0f}×")
    return results


if __name__ == "__main__":
    main()
