"""One change of the selected image with every dashboard widget alive, cnnviz versus the guide's way.

cnnviz: ``state.index = i`` with one of each widget class that exists in cnnviz_widgets at run time
(SoftmaxChart, DenseBars, StatsTable, HeatmapOverlay, ImagePicker, LayerSelector, FeatureGrid,
FilterGrid, LayerStrip, ComparisonGrid) observing the state: one forward pass, Grad-CAM and every
re-render, up to the messages handed to the widgets' comms (their serialisation included; the
Jupyter kernel's sending of them over the websocket is not). Every timed image is new.

The guide's way: as in inspect_speed (``common.guide_way``), in the same run.

Run: ``CNNVIZ_CIFAR10_DIR=... python -m benchmarks.widget_update [--images 50] [--guide-reps 5]``
"""
from __future__ import annotations

import importlib
import statistics
import time
import uuid

from . import common

#: Every widget class of the dashboard, by module.
WIDGETS = {
    "widgets.charts": ("SoftmaxChart", "DenseBars"),
    "widgets.panels": ("StatsTable", "HeatmapOverlay"),
    "widgets.controls": ("ImagePicker", "LayerSelector"),
    "widgets.grids": ("FeatureGrid", "FilterGrid", "LayerStrip"),
    "widgets.comparison": ("ComparisonGrid",),
}


def widget_classes() -> tuple:
    """``(found classes, missing names)``: the widget classes that exist now."""
    found, missing = [], []
    for module, names in WIDGETS.items():
        try:
            mod = importlib.import_module(f"cnnviz_widgets.{module}")
        except ImportError:
            missing.extend(names)
            continue
        for name in names:
            cls = getattr(mod, name, None)
            (found.append(cls) if cls is not None else missing.append(name))
    return found, missing


class CountingComm:
    """A comm that counts what widgets send (as a kernel's comm would send it), and its bytes."""

    kernel = "counting"
    messages = 0
    buffer_bytes = 0

    def __init__(self, *args, **kwargs):
        self.comm_id = uuid.uuid4().hex

    def open(self, *args, **kwargs):
        pass

    def on_msg(self, *args, **kwargs):
        pass

    def send(self, data=None, metadata=None, buffers=None):
        CountingComm.messages += 1
        CountingComm.buffer_bytes += sum(len(memoryview(b).cast("B")) for b in buffers or ())

    def close(self, *args, **kwargs):
        pass


def time_observers(state, widgets, indices) -> dict:
    """Median (wall, CPU) milliseconds per widget class of its observers' work per index change.

    Wraps every observer registered on the state by a widget; the rest of the change (the
    forward pass and the inspection) is "state". Grad-CAM is computed inside HeatmapOverlay.
    """
    owners = {id(w): type(w).__name__ for w in widgets}
    spent: dict = {}

    def wrap(handler, owner):
        def timed(change):
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return handler(change)
            finally:
                wall, cpu = spent.get(owner, (0.0, 0.0))
                spent[owner] = (wall + time.perf_counter() - t0, cpu + time.process_time() - c0)
        return timed

    wrapped = []
    for by_type in state._trait_notifiers.values():
        for handlers in by_type.values():
            for k, h in enumerate(handlers):
                owner = owners.get(id(getattr(h, "__self__", None)))
                if owner:
                    handlers[k] = wrap(h, owner)
                    wrapped.append((handlers, k, h))
    per: dict = {}
    try:
        for i in indices:
            spent.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            state.index = i
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            spent["state (forward pass, inspection)"] = (
                wall - sum(w for w, _ in spent.values()), cpu - sum(c for _, c in spent.values()))
            for name, (w, c) in spent.items():
                per.setdefault(name, ([], []))
                per[name][0].append(1000.0 * w)
                per[name][1].append(1000.0 * c)
    finally:
        # The widgets unobserve their own bound methods when they close.
        for handlers, k, h in wrapped:
            handlers[k] = h
    return {name: (statistics.median(w), statistics.median(c)) for name, (w, c) in per.items()}


def main(argv=None):
    args = common.arguments(__doc__.splitlines()[0], argv)
    common.setup_environment()
    import comm

    from cnnviz_widgets import compute

    comm.create_comm = CountingComm
    state = common.load_state()
    classes, missing = widget_classes()
    widgets = [cls(state) for cls in classes]
    stages = compute.conv_stages(state.model)

    warm = common.pick_images(len(state.images), 3, args.seed + 1, exclude=state.compare + (0,))
    used = set(warm) | set(state.compare) | {0}
    ours_idx = common.pick_images(len(state.images), args.images, args.seed, exclude=used)
    used |= set(ours_idx)
    guide_idx = ours_idx[: args.guide_reps]
    breakdown_idx = common.pick_images(len(state.images), 20, args.seed + 2, exclude=used)

    # Untimed first runs: TensorFlow traces its functions, Matplotlib loads its fonts.
    for i in warm[:2]:
        state.index = i
    common.guide_way(state.model, state.images[warm[2]], stages)

    CountingComm.messages = CountingComm.buffer_bytes = 0

    def change(i):
        state.index = i

    ours = common.time_each(change, ours_idx)
    messages, kbytes = CountingComm.messages / len(ours), CountingComm.buffer_bytes / len(ours) / 1024
    guide = common.time_each(lambda i: common.guide_way(state.model, state.images[i], stages), guide_idx)
    problems = state.status

    ours_ms, guide_ms = statistics.median(ours), statistics.median(guide)
    common.print_table(
        f"One image change with {len(widgets)} widgets alive (new image each time)",
        [(f"cnnviz: state.index = i, {len(widgets)} widgets", ours, "1×"),
         ("guide: 4 × Model(...).predict + 4 plt grids", guide, f"{guide_ms / ours_ms:.0f}× slower")],
        note=(f"widgets: {', '.join(type(w).__name__ for w in widgets)}"
              + (f"; not found: {', '.join(missing)}" if missing else "")
              + f"\nper change: {messages:.1f} comm messages, {kbytes:.0f} KiB of binary buffers (PNGs)"
              + f"\nThe guide's way is timed on fewer images ({len(guide)}) because each takes seconds."
              + "\n" + common.verdict(ours_ms, guide_ms) + "\n" + common.machine_note()
              + (f"\nstatus after the run: {problems}" if problems else "")),
    )
    print(f"\ncnnviz, median per widget over {len(breakdown_idx)} more new images (ms):")
    print(f"  {'':<34} {'wall':>7} {'CPU':>7}")
    breakdown = time_observers(state, widgets, breakdown_idx)
    for name, (wall, cpu) in sorted(breakdown.items(), key=lambda kv: -kv[1][1]):
        print(f"  {name:<34} {wall:7.2f} {cpu:7.2f}")
    for w in widgets:
        w.close()
    return ours_ms, guide_ms


if __name__ == "__main__":
    main()
