"""Small helpers shared by the tests (import them: ``from helpers import observers_of``)."""
from __future__ import annotations

import os
import re


def observers_of(state, widget) -> list:
    """Every observer registered on ``state`` that is a bound method of ``widget``."""
    found = []
    for by_type in state._trait_notifiers.values():
        for handlers in by_type.values():
            found += [h for h in handlers if getattr(h, "__self__", None) is widget]
    return found


def observer_count(state) -> int:
    """How many observers are registered on ``state``, of every trait."""
    return sum(len(handlers) for by_type in state._trait_notifiers.values() for handlers in by_type.values())


#: What TensorFlow's C++ code writes when it starts: absl's warning about logging before
#: InitializeLog, glog-style lines ("I0000 00:00:...", "E0000 ..."), the CUDA and oneDNN notices.
TF_NOISE = re.compile(
    r"absl::InitializeLog|^[IWEF]\d{4} \d\d:\d\d:\d\d|cuInit|cuda drivers|cudart|oneDNN|cpu_feature_guard",
    re.MULTILINE,
)


def environ_without_tf_log_level(**extra) -> dict:
    """``os.environ`` without ``TF_CPP_MIN_LOG_LEVEL`` (as a student's terminal has it), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(extra)
    return env


def notebook_streams(nb) -> str:
    """Everything the code cells of an executed notebook printed, stdout and stderr, in order."""
    return "".join(output.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for output in cell.outputs if output.output_type == "stream")
