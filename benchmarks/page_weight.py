"""The weight of the dashboard's page: widget models and bytes of widget state, per panel.

What a page receives when it connects to its kernel is the state of every open widget (ipywidgets 8
answers the page's ``request_states`` with all of them at once); the browser then builds a model for
each and a view for each one on screen. This builds the dashboard as ``dashboard.ipynb`` does, in
this process (the shipped model on the real CIFAR-10 test images), and counts what such an answer
holds: every widget of ipywidgets' registry, its state as JSON and its binary buffers (PNG pictures).

Per panel: the models reachable from it (its children, layouts, styles, a chart's marks, axes and
scales), how many of them are Layout and Style models, and the KiB of their state; "page" is the
composition around the panels (titles, boxes, the accordion, the link button). Models that several
panels share are counted once, under "shared". Then each panel of the accordion as it is built when
the student first opens it.

Not a test: one command prints the tables.

    python benchmarks/page_weight.py
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def state_bytes(widget) -> int:
    """Bytes of ``widget``'s entry in the page's ``update_states`` answer: its state as JSON (what
    ipywidgets sends for it) and its binary buffers."""
    from ipywidgets.widgets.widget import _remove_buffers

    state, _, buffers = _remove_buffers(widget.get_state())
    entry = {"model_name": widget._model_name, "model_module": widget._model_module,
             "model_module_version": widget._model_module_version, "state": state}
    return len(json.dumps(entry)) + sum(memoryview(b).nbytes for b in buffers)


def registry() -> dict:
    """ipywidgets' registry of open widgets: model id -> widget."""
    from ipywidgets.widgets.widget import _instances

    return dict(_instances)


def weigh(widgets_: list) -> dict:
    kinds = collections.Counter(w._model_name for w in widgets_)
    return {"models": len(widgets_), "layouts": kinds["LayoutModel"],
            "styles": sum(n for k, n in kinds.items() if k.endswith("StyleModel")),
            "kib": sum(state_bytes(w) for w in widgets_) / 1024, "kinds": kinds}


def page(state):
    """The dashboard as dashboard.ipynb builds it, and the models its page receives."""
    from cnnviz_widgets import Dashboard
    from cnnviz_widgets.serving.connection import connection_watch

    before = set(registry())
    dashboard = Dashboard(state)
    connection_watch()
    sent = {k: w for k, w in registry().items() if k not in before}
    return dashboard, sent


def panel_rows(dashboard, sent: dict) -> list:
    """(name, widgets) per panel of the dashboard, then "page" for the rest of what was sent."""
    counted: dict = {}
    owners = collections.defaultdict(set)
    roots = [(key, panel) for key, panel in dashboard.panels.items()] + [("status line", dashboard.status)]
    from cnnviz_widgets.widgets.base import reachable_widgets

    for key, panel in roots:
        for w in reachable_widgets(panel):
            if w.model_id in sent:
                owners[w.model_id].add(key)
    rows = collections.defaultdict(list)
    for model_id, keys in owners.items():
        rows[next(iter(keys)) if len(keys) == 1 else "shared"].append(sent[model_id])
        counted[model_id] = True
    rows["page"] = [w for k, w in sent.items() if k not in counted]
    order = [key for key, _ in roots] + ["shared", "page"]
    return [(key, rows[key]) for key in order if rows.get(key)]


def print_table(title: str, rows: list, total=None) -> None:
    print(f"\n{title}\n")
    print("| panel | models | of which Layout | of which Style | KiB of state |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, weight in rows:
        print(f"| {name} | {weight['models']} | {weight['layouts']} | {weight['styles']} | {weight['kib']:.1f} |")
    if total is not None:
        print(f"| **total** | **{total['models']}** | **{total['layouts']}** | **{total['styles']}** "
              f"| **{total['kib']:.1f}** |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", action="store_true", help="also print the models of the first paint by kind")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not os.environ.get("CNNVIZ_CIFAR10_DIR"):
        sys.exit("set CNNVIZ_CIFAR10_DIR to the folder that holds cifar-10-batches-py")
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)
    from cnnviz_widgets import ModelState
    from cnnviz_widgets.dashboard import DEFERRED, TEXTS, TOOLS

    state = ModelState.from_default()
    # What every page of a kernel shares (the save buttons' layouts) comes with its one dashboard,
    # so it is counted with it.
    dashboard, sent = page(state)
    first = weigh(list(sent.values()))
    rows = [(name, weigh(ws)) for name, ws in panel_rows(dashboard, sent)]
    print_table("At first paint: what the page receives when it connects (dashboard.ipynb's widgets)",
                rows, first)
    if args.kinds:
        print("\nBy kind: " + ", ".join(f"{k} {n}" for k, n in first["kinds"].most_common()))

    tools = []
    for key in DEFERRED:
        before = set(registry())
        dashboard.open_section(key)
        made = [w for k, w in registry().items() if k not in before]
        tools.append((f"section {key} ({TEXTS[key][0]})", weigh(made)))
    for title, cls, _ in TOOLS:
        before = set(registry())
        dashboard.open_tool(cls.__name__)
        made = [w for k, w in registry().items() if k not in before]
        tools.append((f"{cls.__name__} ({title})", weigh(made)))
    dashboard.tools.selected_index = None
    print_table("Built when first opened (a section as the student scrolls to it, each panel of the accordion)",
                tools)
    print(f"\nEvery panel open: {len(registry())} open widgets in the kernel.")
    dashboard.close()


if __name__ == "__main__":
    main()
