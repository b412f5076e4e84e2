"""Modules that are loaded on their first use instead of when the package that holds them is imported.

``import keras`` imports every part of Keras at once, among them parts a dashboard never uses:
its scikit-learn wrappers import scikit-learn (and SciPy with it), its plotting helpers import
Matplotlib's pyplot. In a kernel that starts for a page that is more than a second of the time a
student waits (``benchmarks/cold_start.py``). ``defer_until_used`` makes such modules lazy: the
module object exists at once, and it is executed on the first access to one of its attributes,
so ``keras.wrappers.SKLearnClassifier`` still works, it is only loaded when someone asks for it.

It uses ``importlib.util.LazyLoader``. A lazy module is loaded as soon as anything reads any of its
attributes (``__spec__`` included, which a second ``import`` statement of the same module reads), so
this only pays for modules that their package alone imports, once: the Keras modules named in
``compat.KERAS_UNUSED_MODULES``.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys


class LazyModules(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path``: finds each of ``names`` the usual way, once, and hands its
    import a ``LazyLoader``; steps aside when all have been imported."""

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
            spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def defer_until_used(names, package: str) -> LazyModules | None:
    """Make the modules ``names`` lazy when they are imported, unless ``package`` (the package
    that imports them) has been imported already: then they are loaded, and there is nothing to
    save. Returns the finder put on ``sys.meta_path``, or None when there was nothing to defer
    (or another finder waits for the same modules already)."""
    if package in sys.modules:
        return None
    waiting = {name for finder in sys.meta_path if isinstance(finder, LazyModules) for name in finder.names}
    names = set(names) - waiting
    if not names:
        return None
    finder = LazyModules(names)
    sys.meta_path.insert(0, finder)
    return finder
