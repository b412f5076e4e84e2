"""How long switching the training timeline's epoch takes with every dashboard widget alive
(target: median ≤ 500 ms on the server).

Run: ``python -m benchmarks.epoch_switch [--reps N]``. ``TrainingTimeline.show_epoch(e)`` puts the
checkpoint of epoch ``e`` into the state, and every widget of ``widget_update.WIDGETS`` re-renders
for it, up to the messages handed to their comms. Timed twice: the first visit of each epoch
without preloading (the checkpoint is read from disk and its graphs traced), the first visit of
the other epochs after the timeline's background preloading ended, and later visits.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np

from . import common
from .widget_update import CountingComm, widget_classes

#: The brief's target for one switch, median, in milliseconds.
TARGET_MS = 500.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30, help="switches between loaded epochs (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the order of epochs")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not os.environ.get("CNNVIZ_CIFAR10_DIR"):
        sys.exit("set CNNVIZ_CIFAR10_DIR to the folder that holds cifar-10-batches-py")
    import comm

    comm.create_comm = CountingComm
    from cnnviz_widgets import TrainingTimeline

    state = common.load_state()
    classes, missing = widget_classes()
    alive = [cls(state) for cls in classes]
    timeline = TrainingTimeline(state, preload=False)
    epochs = list(timeline.accuracies)
    first_visits = [e for e in epochs if e != timeline.epoch]
    cold = common.time_each(timeline.show_epoch, first_visits[::2])
    timeline.close()
    timeline = TrainingTimeline(state)
    timeline.preloading.join()
    preloaded = common.time_each(timeline.show_epoch, first_visits[1::2])
    rng = np.random.default_rng(args.seed)
    order, previous = [], timeline.epoch
    for _ in range(args.reps):
        previous = int(rng.choice([e for e in epochs if e != previous]))
        order.append(previous)
    before = CountingComm.messages
    warm = common.time_each(timeline.show_epoch, order)
    messages = (CountingComm.messages - before) / max(len(order), 1)
    median = statistics.median(warm)
    common.print_table(
        f"Switching the epoch with {len(alive)} widgets alive ({', '.join(c.__name__ for c in classes)})",
        [("first visit, not preloaded (reads the file)", cold, ""),
         ("first visit after the background preload", preloaded, ""),
         ("switch to an epoch visited before", warm, "")],
        note=(f"epochs {epochs}; {messages:.0f} comm messages per switch"
              + (f"; widgets missing: {', '.join(missing)}" if missing else "")
              + f"\ntarget: median ≤ {TARGET_MS:.0f} ms per switch: "
              + ("met" if max(median, statistics.median(preloaded)) <= TARGET_MS else "MISSED")
              + f" (visited before {median:.0f} ms, preloaded {statistics.median(preloaded):.0f} ms; "
              + f"not preloaded {statistics.median(cold):.0f} ms)\n"
              + common.machine_note()))
    if state.status:
        print("status:", state.status)
    for widget in alive + [timeline]:
        widget.close()
    return cold, warm


if __name__ == "__main__":
    main()
