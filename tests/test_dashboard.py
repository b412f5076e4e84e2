"""The Dashboard composition and the dashboard notebook, without a browser."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from helpers import TF_NOISE, environ_without_tf_log_level, notebook_streams, observers_of
from nbclient import NotebookClient

from cnnviz_widgets import (
    ComparisonGrid,
    Dashboard,
    DenseBars,
    FeatureGrid,
    FilterGrid,
    HeatmapOverlay,
    ImagePicker,
    LayerSelector,
    LayerStrip,
    SoftmaxChart,
    StatsTable,
)
from cnnviz_widgets.dashboard import TEXTS, TOOLS

ROOT = Path(__file__).resolve().parents[1]


def _descendants(widget):
    for child in getattr(widget, "children", ()):
        yield child
        yield from _descendants(child)


@pytest.fixture
def dashboard(state):
    """A dashboard with every section open, as a student who scrolled down the page has it."""
    board = Dashboard(state)
    for key in TEXTS:
        board.open_section(key)
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
    expected = state.model(state.images[7:8].astype(np.float32) / 255.0, training=False).numpy()[0]
    assert list(softmax.bars.y) == pytest.approx(expected.tolist(), abs=1e-5)
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
    board.open_section("heatmap")
    widgets = [*board.panels.values(), *board.tool_panels.values(), board.status]
    assert any(isinstance(w, HeatmapOverlay) for w in widgets)
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


@pytest.mark.slow
def test_notebook_runs_headless(capfd):
    nb = nbformat.read(ROOT / "dashboard.ipynb", as_version=4)
    execute_without_tensorflow_logs(nb, ROOT, capfd)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 1
    texts = " ".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "could not start" not in texts


@pytest.mark.slow
def test_embedding_example_runs_headless(capfd):
    nb = nbformat.read(ROOT / "examples" / "embed.ipynb", as_version=4)
    execute_without_tensorflow_logs(nb, ROOT / "examples", capfd)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 3


@pytest.mark.slow
def test_one_image_change_costs_one_forward_pass_with_every_panel_open(state, monkeypatch):
    from cnnviz_widgets import compute

    board = Dashboard(state)
    try:
        for key in TEXTS:
            board.open_section(key)
        for _, cls, _ in TOOLS:
            board.open_tool(cls.__name__)
        assert len(board.tool_panels) == len(TOOLS)
        assert not state.status.startswith("⚠"), state.status
        calls = []
        real_run = compute.Inspector.run
        # Passes of the state's model only: the model comparison runs its own two checkpoints by design
        # (tests/test_learning.py counts those).
        monkeypatch.setattr(compute.Inspector, "run", lambda self, x: (
            calls.append(1) if self.model is state.model else None) or real_run(self, x))
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


# =========================================================================== the page's weight

#: Widget models a dashboard makes at first paint, once what a kernel shares is made. Measured
#: here: 190, with the sections below the first screen deferred and default layouts and styles
#: shared (404 before either, ``python benchmarks/page_weight.py``), 24 of them the start-here
#: block's list of exercises (166 without it); a margin for small changes.
FIRST_PAINT_MODELS = 210


def _registry() -> dict:
    """ipywidgets' own registry of open widgets: model id -> widget."""
    from ipywidgets.widgets.widget import _instances

    return dict(_instances)


def _held(widget) -> set:
    """Model ids of ``widget`` and of every widget its synced traits hold, recursively: a walk of
    its own over trait values, not the package's."""
    import ipywidgets

    found, todo = {}, [widget]
    while todo:
        w = todo.pop()
        if w.model_id in found:
            continue
        found[w.model_id] = w
        for name in w.keys:
            value = getattr(w, name)
            values = value if isinstance(value, (list, tuple)) else [value]
            todo += [v for v in values if isinstance(v, ipywidgets.Widget)]
    return set(found)


@pytest.fixture
def kernel_shared(state):
    """What every dashboard of a kernel shares (the save buttons' layouts, the shared default
    layouts and styles) is made by a first dashboard with every section open."""
    board = Dashboard(state)
    for key in TEXTS:
        board.open_section(key)
    board.close()


def test_first_paint_makes_few_models_and_a_section_makes_its_own_when_opened(state, kernel_shared):
    before = set(_registry())
    board = Dashboard(state)
    try:
        registry = _registry()
        made = set(registry) - before
        # Every new model is part of the dashboard, or a mouse listener (ipyevents) on a part of it,
        # which the page holds although no part of the dashboard holds it; and every part of the
        # dashboard not shared is new.
        held = _held(board)
        listeners = {m for m in made - held if type(registry[m]).__name__ == "Event"
                     and registry[m].source.model_id in held}
        assert made - listeners == held - before
        print(f"first paint: {len(made)} models")
        assert 100 < len(made) <= FIRST_PAINT_MODELS
        assert not [w for w in _descendants(board) if isinstance(w, (HeatmapOverlay, ComparisonGrid, SoftmaxChart))]
        assert all(observers_of(state, w) == [] for w in _descendants(board) if isinstance(w, HeatmapOverlay))
        # Opening section 11 makes the heatmap panel's models then, and only those.
        before_open = set(_registry())
        overlay = board.open_section("heatmap")
        opened = set(_registry()) - before_open
        assert isinstance(overlay, HeatmapOverlay) and overlay in list(_descendants(board))
        assert opened == _held(overlay) - before_open
        assert len(opened) >= 20
        assert observers_of(state, overlay)
        assert board.open_section("heatmap") is overlay  # once
    finally:
        board.close()


def test_a_hidden_panel_skips_image_changes_and_catches_up_when_shown(state, cifar_model, monkeypatch):
    from references import keras_probabilities

    from cnnviz_widgets.widgets.primer import CnnPrimer

    board = Dashboard(state)
    try:
        primer = board.open_tool("CnnPrimer")
        assert isinstance(primer, CnnPrimer)
        renders = []
        real = primer._render
        monkeypatch.setattr(primer, "_render", lambda: renders.append(state.index) or real())
        board.open_tool("ConvArithmetic")  # the primer is now closed in the accordion
        state.index = 17
        state.index = 29
        assert renders == []
        board.open_tool("CnnPrimer")
        assert renders == [29]  # once, for the image on screen
        probs, top = keras_probabilities(cifar_model, state.images[29])
        shown = re.sub(r"<[^>]+>", "", primer.steps.value)
        assert f"{state.class_names[top]} {state.inspection.logits[top]:.2f} → {100 * probs[top]:.1f} %" in shown
        state.index = 30
        assert renders == [29, 30]  # shown: once per change again
        board.tools.selected_index = None
        state.index = 31
        assert renders == [29, 30]
    finally:
        board.close()


def test_default_layouts_and_styles_are_shared_and_refuse_changes():
    import ipywidgets

    from cnnviz_widgets.widgets.base import share_looks

    class Panel(ipywidgets.VBox):
        pass

    panel = Panel()
    text = ipywidgets.HTML("a note")
    inline = ipywidgets.HBox([text])
    panel.button = ipywidgets.Button(description="go")  # named: its code may show or hide it
    panel.sized = ipywidgets.HTML(layout=ipywidgets.Layout(width="50px"))
    panel.children = [inline, panel.button, panel.sized]
    owned = [panel.layout, inline.layout, text.layout, text.style, panel.button.style, panel.sized.style]
    try:
        # By hand: the panel's, the inline box's and the text's layouts, both texts' and the
        # button's styles; not the button's layout (named) nor a layout that is not the default.
        assert share_looks(panel) == 6
        assert all(w.comm is None for w in owned)
        assert panel.layout is inline.layout is text.layout
        assert panel.button.layout.comm is not None and panel.button.layout is not text.layout
        assert panel.sized.layout.width == "50px"
        assert ipywidgets.Button().style is not panel.button.style  # alone, a widget keeps its own
        with pytest.raises(AttributeError, match="shared by many widgets"):
            inline.layout.display = "none"
        with pytest.raises(AttributeError, match="shared by many widgets"):
            panel.button.style.button_color = "red"
        panel.button.layout.display = "none"  # its own: free to change
        assert share_looks(panel) == 0  # once is enough
    finally:
        for w in (panel, inline, text, panel.button, panel.sized):
            w.close()


# =========================================================================== the learning path

def test_start_here_gives_the_order_and_the_exercises_in_page_order(dashboard):
    main = dashboard.children[-1].children[1]  # the columns: side bar, main column
    start = main.children[0]
    intro = start.children[0].value
    assert "Start here" in intro
    # The steps as the page numbers its blocks: 1 to 3 in the side bar, 4 to 11 below, in order.
    numbered = [int(n) for n in re.findall(r"(\d+) · ", re.sub(r"<[^>]+>", "", intro))]
    assert numbered == list(range(1, 12))
    side = " ".join(w.value for w in _descendants(dashboard.children[-1].children[0]) if isinstance(
        getattr(w, "value", None), str))
    for n, title in ((1, "Pick an image"), (2, "Choose a layer"), (3, "Colours")):
        assert f"{n} · {title}" in side
    # Every "Exercise N" the page shows, in the order a student scrolling down meets it: the list
    # at the top (1 to 5), then the sections and, once opened, the panels at the bottom.
    for i in range(len(TOOLS)):
        dashboard.tools.selected_index = i
    texts = [w.value for w in _descendants(main) if isinstance(getattr(w, "value", None), str)]
    listed = [int(n) for n in re.findall(r"Exercise (\d+)</b> \(", " ".join(texts))]
    assert listed == [1, 2, 3, 4, 5]
    in_place = [int(n) for t in texts if "Exercise" in t and "cnnviz-exercises" not in t
                for n in re.findall(r"<b>Exercise (\d+)</b> · ", t)]
    assert in_place == [1, 2, 3, 4, 5]
    titles = [t for t, _, _ in TOOLS if t.startswith("Exercise")]
    assert titles == ["Exercise 4 · Find misclassifications", "Exercise 5 · Confident or unsure?"]


def test_each_exercise_sits_in_the_section_it_uses(dashboard):
    sections = {key: box for key, box in ((k, b) for b in _descendants(dashboard)
                                          for k in TEXTS if f"cnnviz-section-{k}" in getattr(b, "_dom_classes", ()))}
    heads = {key: box.children[0].value for key, box in sections.items()}
    assert "Exercise 1" in heads["features"] and "conv1_act" in heads["features"]
    assert "Exercise 2" in heads["compare"]
    assert "Exercise 3" in heads["heatmap"] and "Grad-CAM" in heads["heatmap"]
    assert sum("Exercise" in head for head in heads.values()) == 3
