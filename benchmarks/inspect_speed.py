"""One full inspection of one image, cnnviz versus the guide's way.

cnnviz: every layer's output in one forward pass, the statistics of every layer, Grad-CAM, and
every PNG the dashboard shows for an image (thumbnail, feature montages of conv4_act and conv1_act,
the big channel map, the layer strip, the heatmap panel's three pictures). Nothing is cached
between images: each timed image is new to the model.

The guide's way: for each of the four conv stages a new single-output ``keras.Model`` and
``predict``, plus a Matplotlib grid of that layer's maps saved as PNG (``common.guide_way``).

Run: ``CNNVIZ_CIFAR10_DIR=... python -m benchmarks.inspect_speed [--images 50] [--guide-reps 5]``
"""
from __future__ import annotations

import statistics
import time

from . import common


def full_inspection(inspector, model, stages, image, parts=None, package=None) -> list:
    """Everything the dashboard computes for a new image, without widgets; returns the PNGs.

    ``parts``, when given, collects the milliseconds of each step by name. ``package`` is the
    cnnviz package to time (default ``cnnviz_widgets``; another checkout's copy for a comparison).
    """
    import numpy as np

    if package is None:
        import cnnviz_widgets as package
    compute, render = package.compute, package.render

    marks = [("start", time.perf_counter(), time.process_time())]

    def mark(name):
        marks.append((name, time.perf_counter(), time.process_time()))

    x = image.astype(np.float32) / 255.0
    outputs, logits = inspector.run(x)
    predicted = int(np.argmax(inspector.probabilities(logits)))
    mark("forward pass (all layers)")
    {name: compute.layer_stats(value) for name, value in outputs.items()}
    mark("stats of every layer")
    cam = compute.grad_cam(model, x, predicted, "conv4_act")
    mark("Grad-CAM")
    pngs = [render.image_png(image, 128)]
    mark("PNG thumbnail")
    pngs.append(render.montage_png(outputs["conv4_act"], cols=8, tile_size=32))
    mark("PNG montage conv4_act")
    pngs.append(render.montage_png(outputs["conv1_act"], cols=8, tile_size=32))
    mark("PNG montage conv1_act")
    pngs.append(render.map_png(outputs["conv4_act"][..., 0], size=192))
    mark("PNG channel map")
    pngs.append(render.strip_png([image] + [outputs[s].mean(axis=-1) for s in stages], tile_size=96))
    mark("PNG layer strip")
    pngs.append(render.image_png(image, 96))
    pngs.append(render.overlay_png(image, cam, 1.0, 96))
    pngs.append(render.overlay_png(image, cam, 0.5, 192))
    mark("PNG heatmap panel (3)")
    if parts is not None:
        for (_, t0, c0), (name, t1, c1) in zip(marks, marks[1:]):
            parts.setdefault(name, ([], []))
            parts[name][0].append(1000.0 * (t1 - t0))
            parts[name][1].append(1000.0 * (c1 - c0))
    return pngs


def main(argv=None):
    args = common.arguments(__doc__.splitlines()[0], argv)
    common.setup_environment()
    from cnnviz_widgets import compute

    state = common.load_state()
    model, images = state.model, state.images
    inspector = compute.Inspector.for_model(model)
    stages = compute.conv_stages(model)
    warm = common.pick_images(len(images), 2, args.seed + 1)
    ours_idx = common.pick_images(len(images), args.images, args.seed, exclude=warm)
    guide_idx = ours_idx[: args.guide_reps]

    # One untimed run of each way first: TensorFlow traces its functions and Matplotlib loads
    # its fonts once per process.
    full_inspection(inspector, model, stages, images[warm[0]])
    common.guide_way(model, images[warm[1]], stages)

    parts: dict = {}
    ours = common.time_each(lambda i: full_inspection(inspector, model, stages, images[i], parts), ours_idx)
    guide = common.time_each(lambda i: common.guide_way(model, images[i], stages), guide_idx)

    ours_ms, guide_ms = statistics.median(ours), statistics.median(guide)
    common.print_table(
        "One full inspection of one image (new image each time)",
        [("cnnviz: one pass + stats + Grad-CAM + 8 PNGs", ours, "1×"),
         ("guide: 4 × Model(...).predict + 4 plt grids", guide, f"{guide_ms / ours_ms:.0f}× slower")],
        note=(f"The guide's way is timed on fewer images ({len(guide)}) because each takes seconds; "
              "it computes less (no stats, no Grad-CAM, no thumbnail or strip).\n"
              + common.verdict(ours_ms, guide_ms) + "\n" + common.machine_note()),
    )
    print("\ncnnviz, median per step (ms):")
    print(f"  {'':<30} {'wall':>7} {'CPU':>7}")
    for name, (wall, cpu) in parts.items():
        print(f"  {name:<30} {statistics.median(wall):7.2f} {statistics.median(cpu):7.2f}")
    return ours_ms, guide_ms


if __name__ == "__main__":
    main()
