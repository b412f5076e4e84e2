"""What makes a kernel's start quick: code that runs on first use, and no garbage collection meanwhile.

A kernel started for a page imports everything the dashboard's modules import, although its first
screen needs little of it, and Python's cyclic garbage collector walks every object TensorFlow made,
again and again, while the start-up allocates (``benchmarks/cold_start.py`` times that start).

**Deferred modules.** Two kinds of module wait for their first use:

* bqplot, whose charts are all in sections and panels built after the first screen, when the
  student reaches them;
* parts of Keras that ``import keras`` loads although a dashboard never uses them: the
  scikit-learn wrappers (scikit-learn, and SciPy with it) and the plotting helpers (Matplotlib's
  pyplot), named in ``compat.KERAS_UNUSED_MODULES``.

``defer_until_used`` puts a finder first on ``sys.meta_path``: when one of those modules is
imported, the module object is made at once (name, spec, path: what ``import`` statements read)
and its code runs on the first read of any other name of it (``bq.Figure``,
``keras.wrappers.SKLearnClassifier``). A deferred module is then the same as if imported at once.
``importlib.util.LazyLoader`` does the same but runs the code on any read, ``__spec__`` included,
which every further ``import bqplot`` statement does. As with ``LazyLoader``, the first use must
not happen in two threads at once (the dashboard builds its widgets on the kernel's thread).

**The collector paused.** Each full collection walks every tracked object; while TensorFlow, the
model and the dashboard are made, the heap grows by a quarter again and again, and each step
triggers one more full collection: about 6 of them and 0.8 s of a 6 s start, of which the last
alone walks 600,000 objects. The start-up makes next to no garbage (about 2,500 unreachable
objects when collected at its end, no change in memory), so ``start_up`` pauses the collector
for it, then freezes what it made (``gc.freeze``: the permanent generation, never walked again)
and lets the collector go on: later collections walk only what the student's work makes. What the
start made is meant to live as long as the kernel (TensorFlow, the dashboard); the one exception is
the shipped model, which stays in memory (a few MB) if the student replaces it. A second start in
the same process (a notebook's cell run again) first unfreezes and collects, so the first start's
dashboard does not stay behind.
"""
from __future__ import annotations

import gc
import importlib.abc
import sys
import types
from contextlib import contextmanager

from .tf_logging import WrappingLoader


class DeferredModule(types.ModuleType):
    """A module whose code has not run yet: the first read of a name it lacks runs it."""

    def __getattr__(self, name):
        # Only names the module does not have come here; its spec, path and file it has.
        self.__class__ = types.ModuleType
        self.__spec__.loader.exec_module(self)
        return getattr(self, name)


class _DeferringLoader(WrappingLoader):
    """Leaves running the module's code to ``DeferredModule``."""

    def exec_module(self, module):
        super().exec_module(module)
        module.__class__ = DeferredModule


class DeferredModules(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path``: finds each of ``names`` the usual way, once, and defers its
    code; steps aside when all have been imported."""

    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, name, path=None, target=None):
        if name not in self.names:
            return None
        self.names.discard(name)
        if not self.names:
            sys.meta_path.remove(self)
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _DeferringLoader(spec.loader)
        return spec


def defer_until_used(names) -> DeferredModules | None:
    """Defer the code of the modules ``names`` until first used, when they are imported. A module
    imported already is left alone, as is one another such finder waits for. Returns the finder
    put on ``sys.meta_path``, or None when there was nothing left to defer."""
    waiting = {name for finder in sys.meta_path if isinstance(finder, DeferredModules) for name in finder.names}
    names = set(names) - waiting - set(sys.modules)
    if not names:
        return None
    finder = DeferredModules(names)
    sys.meta_path.insert(0, finder)
    return finder


@contextmanager
def start_up():
    """Run the block that starts a dashboard with the cyclic garbage collector paused; on leaving
    it, freeze every object made so far (``gc.freeze``) and let the collector go on, unless it was
    off before. Objects an earlier ``start_up`` froze are unfrozen and collected first.

    >>> with start_up():                                     # doctest: +SKIP
    ...     dashboard = Dashboard(ModelState.from_default())
    """
    if gc.get_freeze_count():
        # Frozen objects are never collected: what an earlier start made may be garbage by now.
        gc.unfreeze()
        gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
