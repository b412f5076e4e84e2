"""Import TensorFlow without its C++ start-up log lines in the terminal or in notebook outputs.

On a machine with no GPU, importing TensorFlow writes lines like these to the process's standard
error (and so, in Jupyter, to the output of the first cell that imports this package)::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
    E0000 00:00:... cuda_platform.cc:52] failed call to cuInit: ... UNKNOWN ERROR (303)

``TF_CPP_MIN_LOG_LEVEL=3`` silences TensorFlow's own logging, the ``cuInit`` error and the oneDNN
notice among them, but only if it is set before TensorFlow is imported. The first two lines come
from code that runs while TensorFlow's libraries load, before that setting is read, so they are
kept off the process's standard error for the duration of the import.

Both only when the user has not set ``TF_CPP_MIN_LOG_LEVEL``: whoever sets it wants those logs.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager

#: The environment variable TensorFlow's C++ logging reads once, when it is first imported.
LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"


@contextmanager
def stderr_to_devnull():
    """Point file descriptor 2 at /dev/null inside the block, whoever writes to it.

    C++ code writes to the descriptor, not to ``sys.stderr``, so replacing ``sys.stderr`` would
    not do. Python's own ``sys.stderr`` is flushed first so nothing written before is lost.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ logs off, unless the user chose a log level or it is imported.

    An import error still surfaces: it is raised after standard error is restored.
    """
    if LOG_LEVEL_VARIABLE in os.environ or "tensorflow" in sys.modules:
        return
    os.environ[LOG_LEVEL_VARIABLE] = "3"
    with stderr_to_devnull():
        import tensorflow  # noqa: F401
