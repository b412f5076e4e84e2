"""A kernel's quick start: what it leaves unloaded (the deferred modules) and the paused collector."""
from __future__ import annotations

import gc
import importlib.util
import os
import subprocess
import sys
import weakref

import pytest

from cnnviz_widgets.startup import DeferredModules, defer_until_used, start_up

#: What a dashboard's first screen never uses, although ``import keras`` loaded some of it.
NOT_AT_START = ("sklearn", "matplotlib", "openTSNE", "tf_keras_vis")

SCRIPT = """
import sys
import cnnviz_widgets
from cnnviz_widgets import Dashboard, ModelState
state = ModelState.from_default()
dashboard = Dashboard(state)
print(sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[1:])),
      sorted(name for name in sys.modules if name.startswith(("bqplot.", "bqscales"))))
# Every chart is off the first screen: bqplot runs when the first one is built.
from cnnviz_widgets import SoftmaxChart
print(type(SoftmaxChart(state).figure).__module__)
# The deferred parts of Keras are there when asked for, complete.
import keras
import sklearn.base
print(issubclass(keras.wrappers.SKLearnClassifier, sklearn.base.BaseEstimator),
      keras.visualization.plot_image_gallery.__module__,
      type(sys.modules["keras.src.visualization.plot_image_gallery"].plt).__name__,
      getattr(sys.modules["keras.src.visualization.plot_image_gallery"].plt, "__name__", None))
"""


@pytest.mark.slow
def test_a_dashboard_starts_without_scikit_learn_matplotlib_or_bqplot(cifar_dir):
    run = subprocess.run([sys.executable, "-c", SCRIPT, *NOT_AT_START], capture_output=True, text=True,
                         timeout=600, env=dict(os.environ, CNNVIZ_CIFAR10_DIR=str(cifar_dir)))
    assert run.returncode == 0, run.stderr
    loaded, chart, used_later = run.stdout.strip().splitlines()[-3:]
    assert loaded == "[] []"
    assert chart == "bqplot.figure"
    # Keras's plotting helper holds pyplot when Matplotlib is installed (the `bench` extra), else None.
    pyplot = "module matplotlib.pyplot" if importlib.util.find_spec("matplotlib") else "NoneType None"
    assert used_later == f"True keras.src.visualization.plot_image_gallery {pyplot}"


def make_package(root):
    """``pkg`` whose ``__init__`` imports ``pkg.heavy``, which counts its executions in ``pkg.runs``."""
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("runs = []\nfrom pkg import heavy\n")
    (root / "pkg" / "heavy.py").write_text("import pkg\npkg.runs.append('heavy')\nVALUE = 42\n")


def forget(names, finder=None):
    for name in names:
        sys.modules.pop(name, None)
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)


def test_a_deferred_module_runs_on_its_first_use_and_the_finder_steps_aside(tmp_path, monkeypatch):
    make_package(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    finder = defer_until_used(["pkg.heavy"])
    try:
        assert isinstance(finder, DeferredModules) and finder in sys.meta_path
        import pkg

        assert pkg.runs == []
        assert finder not in sys.meta_path
        assert pkg.heavy.VALUE == 42
        assert pkg.runs == ["heavy"]
        assert sys.modules["pkg.heavy"] is pkg.heavy
    finally:
        forget(["pkg", "pkg.heavy"], finder)


def test_nothing_is_deferred_once_its_package_is_imported(tmp_path, monkeypatch):
    make_package(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        import pkg

        assert defer_until_used(["pkg.heavy"]) is None
        assert pkg.runs == ["heavy"]
    finally:
        forget(["pkg", "pkg.heavy"])


def test_the_collector_is_paused_in_the_start_up_and_what_it_made_is_frozen():
    assert gc.isenabled()
    try:
        with start_up():
            assert not gc.isenabled()
            made = [[] for _ in range(1000)]
            frozen_before = gc.get_freeze_count()
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen_before + len(made)
    finally:
        gc.unfreeze()


def test_the_collector_goes_on_after_a_failed_start_and_stays_off_if_it_was_off():
    try:
        with pytest.raises(RuntimeError, match="no model"):
            with start_up():
                raise RuntimeError("no model")
        assert gc.isenabled()
        gc.disable()
        with start_up():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self):
        self.me = self


def test_a_second_start_frees_what_the_first_made_and_left_behind():
    try:
        with start_up():
            first = weakref.ref(Node())
        gc.collect()
        assert first() is not None  # frozen: the collector does not walk it
        with start_up():
            assert first() is None
    finally:
        gc.unfreeze()
