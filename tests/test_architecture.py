"""The package's layout rules, checked on the source with ``ast`` (nothing is imported):

* no module under ``cnnviz_widgets/compute/`` imports ipywidgets or bqplot, directly or through
  another module of the package;
* no import cycle among the package's modules (imports inside functions count: they are how a
  cycle hides);
* no module longer than ``MAX_LINES`` lines;
* no ``from X import _private`` (nor ``module._private``) from one module of the package into another;
* the private APIs of Keras and traitlets (``PRIVATE_APIS``, ``PRIVATE_TRAITLETS``, ``keras.src``) appear
  in ``compat.py`` only, as attributes or as strings (``getattr(obj, "_trait_values")``);
* only ``serving/voila_adapter.py`` imports Voilà or jupyter_server (``SERVER_LIBRARIES``).

Each rule is also run on a small package written to a temporary folder that breaks it, so the
checks are shown to find what they look for.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cnnviz_widgets"
#: The longest module allowed, in lines.
MAX_LINES = 500
#: Widget libraries that pure computation must not reach.
WIDGET_LIBRARIES = ("ipywidgets", "bqplot")
#: Private attributes of Keras and traitlets objects that only ``compat.py`` may use.
PRIVATE_APIS = ("_run_through_graph", "_keras_history", "_inbound_nodes", "_trait_values", "_notify_trait",
                "_validate")
#: Other private names of traitlets' ``HasTraits`` that no module but ``compat.py`` may use (compat uses
#: none of them today).
PRIVATE_TRAITLETS = ("_trait_notifiers", "_trait_validators", "_cross_validation_lock",
                     "_static_immutable_initial_values")
#: Private modules of other packages that only ``compat.py`` may import.
PRIVATE_MODULES = ("keras.src",)
#: The server libraries whose API and internals only the adapter module may use.
SERVER_LIBRARIES = ("voila", "jupyter_server")
#: That module, relative to the package.
SERVER_ADAPTER = "serving.voila_adapter"


# ----- reading a package --------------------------------------------------------------------------

def modules_of(root: Path) -> dict:
    """``{dotted name: path}`` of every module of the package at ``root`` (packages by their
    ``__init__``)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _is_package(name: str, modules: dict) -> bool:
    return modules[name].name == "__init__.py"


def imports_of(name: str, modules: dict) -> list:
    """Every import in module ``name`` (module level or inside functions) as
    ``(imported module, names imported from it, line)``; relative imports resolved."""
    tree = ast.parse(modules[name].read_text())
    package = name if _is_package(name, modules) else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((alias.name, (), node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((target, tuple(alias.name for alias in node.names), node.lineno))
    return out


def internal_edges(name: str, modules: dict) -> set:
    """The package's modules that module ``name`` imports (``from pkg import sub`` counts as an
    import of ``pkg.sub`` when that is a module)."""
    edges = set()
    for target, names, _ in imports_of(name, modules):
        subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
        if subs:
            edges.update(subs)
        elif target in modules:
            edges.add(target)
        elif target.rpartition(".")[0] in modules:
            edges.add(target.rpartition(".")[0])
    edges.discard(name)
    return edges


# ----- the rules ----------------------------------------------------------------------------------

def widget_imports_under(root: Path, subpackage: str) -> list:
    """``(module, chain of modules, library)`` for every module under ``subpackage`` that reaches a
    widget library through its own imports and those of the package's modules it imports."""
    modules = modules_of(root)
    prefix = f"{root.name}.{subpackage}"
    problems = []
    for start in (m for m in modules if m == prefix or m.startswith(prefix + ".")):
        seen, stack = {start: [start]}, [start]
        while stack:
            current = stack.pop()
            for target, _, _ in imports_of(current, modules):
                library = target.split(".")[0]
                if library in WIDGET_LIBRARIES:
                    problems.append((start, " -> ".join(seen[current]), library))
            for nxt in internal_edges(current, modules):
                if nxt not in seen:
                    seen[nxt] = seen[current] + [nxt]
                    stack.append(nxt)
    return sorted(set(problems))


def import_cycles(root: Path) -> list:
    """Every strongly connected group of more than one module in the package's import graph
    (Tarjan's algorithm), each as a sorted list of module names."""
    modules = modules_of(root)
    graph = {m: sorted(internal_edges(m, modules)) for m in modules}
    index, low, on_stack, stack, groups, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return sorted(groups)


def long_modules(root: Path, limit: int = MAX_LINES) -> list:
    """``(module, lines)`` of every module longer than ``limit`` lines."""
    out = []
    for name, path in modules_of(root).items():
        n = len(path.read_text().splitlines())
        if n > limit:
            out.append((name, n))
    return out


def private_imports(root: Path) -> list:
    """``(module, line, what)`` for every private name one module of the package takes from another:
    ``from .x import _name`` or ``x._name`` on an imported module of the package."""
    modules = modules_of(root)
    out = []
    for name, path in modules.items():
        module_names = set()
        for target, names, line in imports_of(name, modules):
            if not (target == root.name or target.startswith(root.name + ".")):
                continue
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    out.append((name, line, f"from {target} import {n}"))
                if f"{target}.{n}" in modules:
                    module_names.add(n)
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.alias) and node.asname and node.name.split(".")[-1] in module_names:
                module_names.add(node.asname)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in module_names and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                out.append((name, node.lineno, f"{node.value.id}.{node.attr}"))
    return out


def private_api_uses(root: Path, allowed: str = "compat") -> list:
    """``(module, line, what)`` for every use of ``PRIVATE_APIS`` or ``PRIVATE_TRAITLETS`` (an
    attribute, or a string naming one) or import of ``PRIVATE_MODULES`` outside the module named
    ``allowed``."""
    modules = modules_of(root)
    out = []
    for name, path in modules.items():
        if name == f"{root.name}.{allowed}":
            continue
        for target, _, line in imports_of(name, modules):
            if any(target == m or target.startswith(m + ".") for m in PRIVATE_MODULES):
                out.append((name, line, target))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in PRIVATE_APIS + PRIVATE_TRAITLETS:
                out.append((name, node.lineno, node.attr))
            elif isinstance(node, ast.Constant) and node.value in PRIVATE_APIS + PRIVATE_TRAITLETS:
                out.append((name, node.lineno, repr(node.value)))
    return out


def server_library_imports(root: Path, adapter: str = SERVER_ADAPTER) -> list:
    """``(module, line, imported module)`` for every import of ``SERVER_LIBRARIES`` (module level or
    inside a function) by a module of the package other than ``adapter``."""
    modules = modules_of(root)
    out = []
    for name in modules:
        if name == f"{root.name}.{adapter}":
            continue
        for target, _, line in imports_of(name, modules):
            if target.split(".")[0] in SERVER_LIBRARIES:
                out.append((name, line, target))
    return out


BOXES = {"Box", "VBox", "HBox", "GridBox"}


def box_hold_syncs(root: Path) -> list:
    """``(module, line, class)`` for every ``self.hold_sync()`` in a class that is a box (ipywidgets'
    boxes, or a class of the package built on one). A box's ``hold_sync`` batches only the box's own
    traits, not its children's, so on a box it batches nothing the code changes."""
    modules = modules_of(root)
    trees = {name: ast.parse(path.read_text()) for name, path in modules.items()}
    bases = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "")
                                    for b in node.bases}
    boxes = set(BOXES)
    while True:
        more = {c for c, b in bases.items() if b & boxes} - boxes
        if not more:
            break
        boxes |= more
    out = []
    for name, tree in trees.items():
        for cls in ast.walk(tree):
            if not (isinstance(cls, ast.ClassDef) and cls.name in boxes):
                continue
            for node in ast.walk(cls):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "hold_sync" and isinstance(node.func.value, ast.Name)
                        and node.func.value.id == "self"):
                    out.append((name, node.lineno, cls.name))
    return out


# ----- the package follows them -------------------------------------------------------------------

def test_compute_reaches_no_widget_library():
    assert widget_imports_under(PACKAGE, "compute") == []
    # The rule has something to look at: compute is a package of several modules.
    assert len([m for m in modules_of(PACKAGE) if m.startswith("cnnviz_widgets.compute.")]) >= 4


def test_no_import_cycles():
    assert import_cycles(PACKAGE) == []


def test_no_module_over_the_line_limit():
    assert long_modules(PACKAGE) == []


def test_no_private_names_across_modules():
    assert private_imports(PACKAGE) == []


def test_hold_sync_only_on_what_changes_together():
    assert box_hold_syncs(PACKAGE) == []


def test_private_apis_of_other_packages_only_in_compat():
    assert private_api_uses(PACKAGE) == []
    # compat.py itself uses each of them (tests/test_compat.py exercises them there).
    text = (PACKAGE / "compat.py").read_text()
    assert all(name in text for name in PRIVATE_APIS + PRIVATE_MODULES)


def test_only_the_adapter_imports_voila_or_jupyter_server():
    assert server_library_imports(PACKAGE) == []
    # The rule has something to look at: the adapter itself reaches both libraries.
    adapter = f"{PACKAGE.name}.{SERVER_ADAPTER}"
    modules = modules_of(PACKAGE)
    assert {t.split(".")[0] for t, _, _ in imports_of(adapter, modules)} >= set(SERVER_LIBRARIES)


# ----- and the checks find a broken package -------------------------------------------------------

def _package(tmp_path: Path, files: dict) -> Path:
    root = tmp_path / "pkg"
    for rel, text in {"__init__.py": "", "compute/__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_checks_find_a_widget_import_reached_through_another_module(tmp_path):
    root = _package(tmp_path, {
        "compute/maps.py": "def f():\n    from ..helpers import g\n    return g()\n",
        "helpers.py": "import bqplot as bq\n\ndef g():\n    return bq\n",
    })
    assert widget_imports_under(root, "compute") == [
        ("pkg.compute.maps", "pkg.compute.maps -> pkg.helpers", "bqplot")]


def test_checks_find_an_import_cycle_hidden_in_a_function(tmp_path):
    root = _package(tmp_path, {
        "a.py": "from . import b\n",
        "b.py": "def f():\n    from .c import x\n    return x\n",
        "c.py": "from .a import b as x\n",
        "d.py": "from . import a\n",
    })
    assert import_cycles(root) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_checks_find_a_long_module(tmp_path):
    root = _package(tmp_path, {"long.py": "x = 1\n" * (MAX_LINES + 1), "short.py": "x = 1\n" * MAX_LINES})
    assert long_modules(root) == [("pkg.long", MAX_LINES + 1)]


@pytest.mark.parametrize("source, what", [
    ("from .a import _hidden\n", "from pkg.a import _hidden"),
    ("from . import a\n\nvalue = a._hidden\n", "a._hidden"),
    ("from pkg import a as other\n\nvalue = other._hidden\n", "other._hidden"),
])
def test_checks_find_a_private_name_taken_from_another_module(tmp_path, source, what):
    root = _package(tmp_path, {"a.py": "_hidden = 1\npublic = 2\n", "b.py": source,
                               "c.py": "from .a import public\nfrom os import _exit\n"})
    assert [(m, w) for m, _, w in private_imports(root)] == [("pkg.b", what)]


def test_checks_find_a_private_api_outside_compat(tmp_path):
    root = _package(tmp_path, {
        "compat.py": "def f(t):\n    return t._keras_history\n",
        "state.py": "def g(obj):\n    return obj._trait_values\n",
        "loading.py": "from keras.src.saving import serialization_lib\n",
        "base.py": ("def own(w):\n    return {k: v for k, v in vars(w).items() if k != '_trait_values'}\n\n"
                    "def observers(w):\n    return w._trait_notifiers\n"),
        "fine.py": "def f(w):\n    return w._trait_values_seen, '_trait_value'\n",
    })
    assert sorted((m, w) for m, _, w in private_api_uses(root)) == [
        ("pkg.base", "'_trait_values'"), ("pkg.base", "_trait_notifiers"),
        ("pkg.loading", "keras.src.saving"), ("pkg.state", "_trait_values")]


def test_checks_find_voila_or_jupyter_server_imported_outside_the_adapter(tmp_path):
    root = _package(tmp_path, {
        "serving/__init__.py": "",
        "serving/voila_adapter.py": ("from jupyter_server.services.kernels.kernelmanager import M\n\n"
                                     "def f():\n    from voila.utils import wait_for_request\n"),
        "serving/classroom.py": ("from .voila_adapter import f\n"
                                 "from jupyter_server.services.kernels.kernelmanager import M\n"),
        "serving/page.py": "def g():\n    import voila.app\n    return voila.app\n",
        "helpers.py": "import voila_server\nimport jupyter_client\n",
    })
    assert server_library_imports(root) == [
        ("pkg.serving.classroom", 2, "jupyter_server.services.kernels.kernelmanager"),
        ("pkg.serving.page", 2, "voila.app")]


def test_checks_find_hold_sync_on_a_box_but_not_on_a_mark(tmp_path):
    root = _package(tmp_path, {
        "base.py": "import ipywidgets as widgets\n\nclass Panel(widgets.VBox):\n    pass\n",
        "grid.py": ("from .base import Panel\n\nclass Grid(Panel):\n    def render(self):\n"
                    "        with self.hold_sync():\n            pass\n"),
        "mark.py": ("import ipywidgets as widgets\n\nclass Slider(widgets.IntSlider):\n    def f(self):\n"
                    "        with self.hold_sync():\n            pass\n\n"
                    "class Chart(widgets.HBox):\n    def g(self):\n        with self.bars.hold_sync():\n            pass\n"),
    })
    assert box_hold_syncs(root) == [("pkg.grid", 5, "Grid")]
