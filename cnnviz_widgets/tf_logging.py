"""Import TensorFlow without its C++ start-up log lines in the terminal or in notebook outputs.

On a machine with no GPU, importing TensorFlow writes lines like these to the process's standard
error (and so, in Jupyter, to the output of the first cell that imports this package)::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
    E0000 00:00:... cuda_platform.cc:52] failed call to cuInit: ... UNKNOWN ERROR (303)

``TF_CPP_MIN_LOG_LEVEL=3`` silences TensorFlow's own logging, the ``cuInit`` error and the oneDNN
notice among them, but only if it is set before TensorFlow is imported. The first two lines come
from code that runs while TensorFlow's libraries load, before that setting is read, so they are
kept off the process's standard error for the duration of TensorFlow's import.

The package imports TensorFlow only when it first needs it (``import cnnviz_widgets`` stays fast),
so ``quiet_tensorflow_import`` does not import it: it puts a finder first on ``sys.meta_path`` that
finds nothing itself and, on the first ``import tensorflow`` (from Keras or from the package), runs
that import with standard error silenced, then steps aside.

Both only when the user has not asked for TensorFlow's logs: a ``TF_CPP_MIN_LOG_LEVEL`` below 3
keeps them (and the user's setting); 3, set or not, means none.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
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


class WrappingLoader(importlib.abc.Loader):
    """Makes the module as ``loader`` would, and gives it ``loader`` as its own; subclasses choose
    how its code runs (here with standard error silenced; ``startup`` defers it)."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader


class _SilencedLoader(WrappingLoader):
    """Runs ``loader``'s module with standard error silenced."""

    def exec_module(self, module):
        super().exec_module(module)
        # An import error is raised after standard error is back, so it is seen.
        with stderr_to_devnull():
            self.loader.exec_module(module)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds TensorFlow the usual way, once, and hands its import a ``_SilencedLoader``."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _SilencedLoader(spec.loader)
        return spec


def quiet_tensorflow_import() -> None:
    """Default ``TF_CPP_MIN_LOG_LEVEL`` to 3 and silence TensorFlow's first import, unless the
    user asked for more of its logs (a level below 3) or TensorFlow is imported already."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault(LOG_LEVEL_VARIABLE, "3")
    if os.environ[LOG_LEVEL_VARIABLE] != "3":
        return
    if not any(isinstance(finder, _QuietTensorFlowFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
