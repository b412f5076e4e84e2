"""The Dashboard composition and the dashboard notebook, without a browser."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from helpers import TF_NOISE, environ_without_tf_log_level, notebook_streams
from nbclient import NotebookClient

from cnnviz_widgets import (ComparisonGrid, Dashboard, DenseBars, FeatureGrid, FilterGrid,
                            HeatmapOverlay, ImagePicker, LayerSelector, LayerStrip, SoftmaxChart,
                            StatsTable)
from cnnviz_widgets.dashboard import TEXTS, TOOLS

ROOT = Path(__file__).resolve().parents[1]


def _descendants(widget):
    for child in getattr(widget, "children", ()):
        yield child
        yield from _descendants(child)


@pytest.fixture
def dashboard(state):
    board = Dashboard(state)
    yield board
    board.close()


def test_every_guide_panel_is_there_in_order(dashboard):
    order = [type(w) for w in _descendants(dashboard)
             if type(w) in (ImagePicker, LayerSelector, FeatureGrid, FilterGrid, LayerStrip, DenseBars,
                            SoftmaxChart, ComparisonGrid, StatsTable, HeatmapOverlay)]
    assert order == [ImagePicker, LayerSelector, FeatureGrid, FilterGrid, LayerStrip, DenseBars,
                     SoftmaxChart, ComparisonGrid, StatsTable, HeatmapOverlay]
    notes = " ".join(w.value for w in _descendants(dashboard) if hasattr(w, "value") and isinstance(w.value, str))
    for title, _ in TEXTS.values():
        assert title in notes


def test_panels_follow_the_picker(dashboard, state):
    softmax = dashboard.panels["softmax"]
    grid = dashboard.panels["features"]
    before = grid.image.value
    dashboard.panels["picker"].number.value = 7
    assert state.index == 7
    assert list(softmax.bars.y) == pytest.approx(state.inspect(7).probabilities.tolist(), abs=1e-6)
    assert grid.image.value != before


def test_errors_reach_the_status_line(dashboard, state):
    state.status = "⚠ something went wrong"
    assert "something went wrong" in dashboard.status.html.value
    assert "cnnviz-status-error" in dashboard.status.html.value


def test_tools_are_built_only_when_opened(dashboard, state):
    assert dashboard.tool_panels == {}
    panel = dashboard.open_tool("TopImages")
    assert type(panel).__name__ == "TopImages"
    assert list(dashboard.tool_panels) == [[cls.__name__ for _, cls, _ in TOOLS].index("TopImages")]


def test_close_leaves_no_observers(state):
    board = Dashboard(state)
    board.open_tool("ConvArithmetic")
    widgets = [*board.panels.values(), *board.tool_panels.values(), board.status]
    board.close()
    for handlers in state._trait_notifiers.values():
        for callbacks in handlers.values():
            for cb in callbacks:
                assert getattr(cb, "__self__", None) not in widgets


def execute_without_tensorflow_logs(nb, folder: Path, capfd) -> None:
    """Run ``nb`` in a kernel started in ``folder`` as a student would (no ``TF_CPP_MIN_LOG_LEVEL``);
    fail if TensorFlow's start-up lines reach the cells' outputs or the kernel's terminal."""
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    client.execute(env=environ_without_tf_log_level())
    # The kernel writes to the standard error it inherited from this process.
    terminal = capfd.readouterr().err
    assert not TF_NOISE.search(terminal), terminal
    assert not TF_NOISE.search(notebook_streams(nb)), notebook_streams(nb)


def test_notebook_runs_headless(capfd):
    nb = nbformat.read(ROOT / "dashboard.ipynb", as_version=4)
    execute_without_tensorflow_logs(nb, ROOT, capfd)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 1
    texts = " ".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "could not start" not in texts


def test_embedding_example_runs_headless(capfd):
    nb = nbformat.read(ROOT / "examples" / "embed.ipynb", as_version=4)
    execute_without_tensorflow_logs(nb, ROOT / "examples", capfd)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 3


def test_one_image_change_costs_one_forward_pass_with_every_panel_open(state, monkeypatch):
    from cnnviz_widgets import compute

    board = Dashboard(state)
    try:
        for _, cls, _ in TOOLS:
            board.open_tool(cls.__name__)
        assert len(board.tool_panels) == len(TOOLS)
        assert not state.status.startswith("⚠"), state.status
        calls = []
        real_run = compute.Inspector.run
        monkeypatch.setattr(compute.Inspector, "run", lambda self, x: calls.append(1) or real_run(self, x))
        state.index = 4321
        assert len(calls) == 1
        state.layer = "conv2_act"
        state.layer = "conv3_act"
        assert len(calls) == 1
        state.index = 4321 + 1
        state.index = 4321
        assert len(calls) == 2  # a visited image is a look-up
        assert not state.status.startswith("⚠"), state.status
    finally:
        board.close()
