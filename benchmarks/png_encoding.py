"""Feature-map montages as 8-bit palette PNGs vs RGB PNGs, side by side in one run.

Run: ``CNNVIZ_CIFAR10_DIR=... python -m benchmarks.png_encoding``. Times the montage of the
``conv1_act`` maps (32 maps of 32×32) of real test images both ways and prints medians, the ratio
and the bytes each way sends to the browser.
"""
from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from cnnviz_widgets import render

from .common import load_state, setup_environment


def rgb_montage_png(maps, cols: int = 8, tile_size: int = 32) -> bytes:
    """The former encoding: colour every pixel to RGB, then encode a 24-bit PNG."""
    stack = render.normalize_each(np.moveaxis(np.asarray(maps, np.float32), -1, 0))
    f = render.tile_factor(stack.shape[1], stack.shape[2], tile_size)
    rgb = render.apply_colormap(stack)
    return render.png_bytes(render.tile(render.upscale(rgb.transpose(1, 2, 0, 3), f).transpose(2, 0, 1, 3), cols))


def main(argv=None, reps: int = 50):
    setup_environment()
    state = load_state()
    maps = [state.inspect(i).outputs["conv1_act"] for i in range(reps)]
    rows = []
    for name, fn in (("RGB PNG (before)", rgb_montage_png), ("palette PNG (now)", render.montage_png)):
        times, sizes = [], []
        for m in maps:
            start = time.perf_counter()
            data = fn(m)
            times.append((time.perf_counter() - start) * 1000)
            sizes.append(len(data))
        rows.append((name, statistics.median(times), statistics.median(sizes) / 1024))
    print(f"\nconv1_act montage (32 maps), median of {reps} real test images")
    print(f"{'encoding':<20} {'median ms':>10} {'median KiB':>11}")
    for name, ms, kib in rows:
        print(f"{name:<20} {ms:10.2f} {kib:11.1f}")
    print(f"palette is {rows[0][1] / rows[1][1]:.1f}× faster and {rows[0][2] / rows[1][2]:.1f}× smaller")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
