"""A cold page: from opening the dashboard's address to the widgets of its first screen drawn.

Each round starts a new ``voila dashboard.ipynb`` (``tests/ui/voila_server.py``, as the browser tests
start it), waits until it answers, then opens the page in a new Chromium context: the clock starts
at the navigation, so every round pays for a new kernel (no pre-heated one) that imports
TensorFlow, loads the model and the images and builds the dashboard, and for the page drawing it.
"Ready" is the first screen's widgets drawn: the picker's image and slider and the feature montage,
each image loaded (timed in the page with ``performance.now()``, which counts from the navigation).
Voilà streams the page while the kernel runs the notebook, so the page's last byte marks the
notebook run; what follows is the page's own scripts connecting and drawing the widgets.

Then, in the same round, where a kernel's time goes: a kernel started with jupyter_client (as Voilà
starts one) runs the notebook's steps one by one, timed inside it, with the time and number of
the garbage collector's full collections; each checkout with its own package and, as its own
notebook does, inside ``start_up()`` when the package has it.

In the same round, ``python -c "import tensorflow"`` with the same environment: the floor a kernel
cannot go below (from starting Python to the import done; TensorFlow's exit is not counted). The
target is ready ≤ that + 2.5 s. With ``--against PATH`` another checkout (e.g. the main branch's) is
timed in the same rounds, the order alternating round by round, so the ratio comes from one run.

Not a test: one command prints a table. Run from the repository root with ``CNNVIZ_CIFAR10_DIR``
naming the CIFAR-10 folder: ``python benchmarks/cold_start.py --rounds 5 --against ../main``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "ui"))
sys.path.insert(0, str(REPO))

import voila_server  # noqa: E402  (tests/ui, put on the path above)

from benchmarks.browser_latency import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    _watch_kernel,
)
from benchmarks.common import machine_note  # noqa: E402

#: Target of the issue: ready at most this many seconds after TensorFlow's own import time.
TARGET_MARGIN_S = 2.5
TF_ROW = "python -c 'import tensorflow' (start → imported)"
PAGE_TIMEOUT_MS = 240_000

# Runs in every page before its own scripts: notes when the first screen's widgets are all drawn
# (each image loaded, the slider there) and when the first widget of the dashboard appeared.
READY_JS = """(() => {
    const probe = window.__cnnvizCold = {firstWidget: null, ready: null};
    const loaded = sel => {
        const img = document.querySelector(sel);
        return img !== null && img.complete && img.naturalWidth > 0;
    };
    const check = () => {
        if (probe.firstWidget === null && document.querySelector('.cnnviz-dashboard'))
            probe.firstWidget = performance.now();
        if (probe.ready === null && loaded('.cnnviz-section-picker img.widget-image')
                && loaded('.cnnviz-section-features img.widget-image')
                && document.querySelector('.cnnviz-section-picker .widget-slider .noUi-handle')) {
            probe.ready = performance.now();
            observer.disconnect();
        }
    };
    const observer = new MutationObserver(check);
    observer.observe(document, {childList: true, subtree: true, attributes: true, attributeFilter: ['src']});
    document.addEventListener('load', check, true);  // an image's load does not bubble
})()"""


# Runs in the kernel: the notebook's steps one by one, and what the garbage collector did meanwhile.
STEPS_CODE = r"""
import contextlib, gc, json, time
collections = {"count": 0, "seconds": 0.0, "started": 0.0}
def _watch(phase, info):
    if info["generation"] == 2:
        if phase == "start":
            collections["started"] = time.perf_counter()
        else:
            collections["count"] += 1
            collections["seconds"] += time.perf_counter() - collections["started"]
gc.callbacks.append(_watch)
t = [time.perf_counter()]
from cnnviz_widgets import Dashboard, ModelState, accessibility_support
from cnnviz_widgets.serving.connection import connection_watch
t.append(time.perf_counter())
try:
    from cnnviz_widgets import start_up
except ImportError:
    start_up = contextlib.nullcontext
with start_up():
    import keras
    t.append(time.perf_counter())
    from cnnviz_widgets.loading.cifar10 import load_cifar10
    from cnnviz_widgets.loading.shipped_model import load_default_model
    images, labels, names = load_cifar10("test")
    t.append(time.perf_counter())
    model = load_default_model()
    t.append(time.perf_counter())
    state = ModelState(model, images, labels, names)
    t.append(time.perf_counter())
    dashboard = Dashboard(state)
    dashboard.follow_address()
    display(dashboard)
    display(connection_watch())
    display(accessibility_support())
    t.append(time.perf_counter())
gc.callbacks.remove(_watch)
print("STEPS" + json.dumps([b - a for a, b in zip(t, t[1:])] + [collections["seconds"], collections["count"]]))
"""
STEP_NAMES = ("kernel started (its first answer)", "import cnnviz_widgets", "import keras (and TensorFlow)",
              "read CIFAR-10", "load the model", "ModelState (first forward pass)",
              "Dashboard built and shown", "  full garbage collections (s)", "  full garbage collections (n)")


def kernel_steps(root: Path, env) -> list:
    """Seconds of each of ``STEP_NAMES`` in a new kernel running the package at ``root``."""
    from jupyter_client.manager import start_new_kernel

    env = dict(env, PYTHONPATH=os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")])))
    t0 = time.perf_counter()
    # The kernel's own start-up warnings would only clutter the table; its errors come as messages.
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(root), env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.perf_counter() - t0
    try:
        client.execute(STEPS_CODE)
        while True:
            msg = client.get_iopub_msg(timeout=600)
            content = msg["content"]
            if msg["msg_type"] == "stream" and content["text"].startswith("STEPS"):
                return [started] + json.loads(content["text"][len("STEPS"):])
            if msg["msg_type"] == "error":
                sys.exit("the notebook's steps failed in the kernel:\n" + "\n".join(content["traceback"]))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def tensorflow_import(env) -> tuple[float, float]:
    """(seconds from starting ``python -c "import tensorflow"`` to the import done, seconds of the
    import alone), in a fresh process with ``env``."""
    script = "import time; t = time.time(); import tensorflow; print(t, time.time())"
    spawned = time.time()
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=300, check=True)
    started, done = (float(v) for v in out.stdout.split())
    return done - spawned, done - started


def cold_page(browser, root: Path, cifar_dir: str, tmp: Path, extra_args=()) -> dict:
    """One cold page of the checkout at ``root``: seconds from the navigation to each milestone."""
    log = tmp / f"voila-{root.name}-{time.monotonic_ns()}.log"
    proc, url = voila_server.start(log, cifar_dir, root=root, extra_args=extra_args)
    context = browser.new_context(viewport=VIEWPORT)
    try:
        voila_server.wait_until_answering(url, proc, log)
        context.add_init_script(READY_JS)
        page = context.new_page()
        kernel = {}
        watcher = threading.Thread(target=_watch_kernel, args=(proc, kernel, PAGE_TIMEOUT_MS / 1000),
                                   daemon=True)
        t0 = time.perf_counter()
        watcher.start()
        page.goto(url, wait_until="commit", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_function("() => window.__cnnvizCold && window.__cnnvizCold.ready !== null",
                               polling=200, timeout=PAGE_TIMEOUT_MS)
        probe = page.evaluate("""() => {
            const nav = performance.getEntriesByType('navigation')[0];
            return Object.assign({responseStart: nav.responseStart, responseEnd: nav.responseEnd},
                                 window.__cnnvizCold);
        }""")
        watcher.join(timeout=1)
        return {
            "first byte of the page": probe["responseStart"] / 1000,
            "kernel process started": kernel.get("at", float("nan")) - t0,
            "last byte of the page (notebook run)": probe["responseEnd"] / 1000,
            "first widget drawn": probe["firstWidget"] / 1000,
            "ready": probe["ready"] / 1000,
        }
    except voila_server.VoilaError as exc:
        sys.exit(str(exc))
    finally:
        context.close()
        voila_server.stop(proc)


def median(values) -> float:
    return statistics.median(values)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="cold pages per checkout (default 5)")
    parser.add_argument("--against", type=Path, metavar="PATH",
                        help="another checkout, timed in the same rounds (e.g. the main branch's)")
    parser.add_argument("--voila-arg", action="append", default=[], metavar="OPTION",
                        help="one more Voilà option for this checkout's server, for experiments: "
                             "--voila-arg=--VoilaConfiguration.progressive_rendering=True")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    cifar_dir = os.environ.get("CNNVIZ_CIFAR10_DIR")
    if not cifar_dir:
        sys.exit("set CNNVIZ_CIFAR10_DIR to the folder that holds cifar-10-batches-py")
    env = dict(os.environ, CNNVIZ_CIFAR10_DIR=cifar_dir)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    roots = {"this checkout": REPO}
    if args.against is not None:
        if not (args.against / "dashboard.ipynb").is_file():
            sys.exit(f"{args.against} has no dashboard.ipynb")
        roots["against"] = args.against.resolve()

    from playwright.sync_api import sync_playwright

    load_before = machine_note()
    pages = {name: [] for name in roots}
    steps = {name: [] for name in roots}
    tf_total, tf_import = [], []
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="cnnviz-cold-") as tmp:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for round_ in range(args.rounds):
                names = list(roots) if round_ % 2 == 0 else list(reversed(roots))
                for name in names:
                    extra = args.voila_arg if name == "this checkout" else ()
                    pages[name].append(cold_page(browser, roots[name], cifar_dir, Path(tmp), extra))
                for name in names:
                    steps[name].append(kernel_steps(roots[name], env))
                total, alone = tensorflow_import(env)
                tf_total.append(total)
                tf_import.append(alone)
                print(f"round {round_ + 1}/{args.rounds}: "
                      + ", ".join(f"{n} ready {pages[n][-1]['ready']:.2f} s" for n in names)
                      + f"; python -c 'import tensorflow' {total:.2f} s", flush=True)
        finally:
            browser.close()
    load_after = machine_note()
    report(args, roots, pages, steps, tf_total, tf_import, load_before, load_after)


def report(args, roots, pages, steps, tf_total, tf_import, load_before, load_after):
    floor = median(tf_total)
    print(f"\nA cold page in Chromium (1366×768), a new Voilà server and kernel each round; "
          f"seconds from the navigation, median of {args.rounds}")
    milestones = list(next(iter(pages.values()))[0])
    head = f"{'milestone':<44}" + "".join(f"{name:>16}" for name in roots)
    print(head)
    print("-" * len(head))
    for key in milestones:
        print(f"{key:<44}" + "".join(f"{median([p[key] for p in pages[n]]):>16.2f}" for n in roots))
    print(f"{TF_ROW:<44}{floor:>16.2f}")
    print(f"{'  of which the import itself':<44}{median(tf_import):>16.2f}")
    print(f"\nWhere a kernel's time goes: the notebook's steps in a new kernel, seconds, median of {args.rounds}")
    head = f"{'step':<44}" + "".join(f"{name:>16}" for name in roots)
    print(head)
    print("-" * len(head))
    for k, step in enumerate(STEP_NAMES):
        cells = "".join(f"{median([s[k] for s in steps[n]]):>16.2f}" for n in roots)
        print(f"{step:<44}{cells}")
    for name in roots:
        ready = [p["ready"] for p in pages[name]]
        margin = median(ready) - floor
        verdict = "met" if margin <= TARGET_MARGIN_S else "MISSED"
        print(f"\n{name} ({roots[name]}): ready {median(ready):.2f} s (min {min(ready):.2f}, "
              f"max {max(ready):.2f}) = TensorFlow's import + {margin:.2f} s; target "
              f"≤ + {TARGET_MARGIN_S:.1f} s: {verdict}")
    if "against" in roots:
        ours = [p["ready"] for p in pages["this checkout"]]
        theirs = [p["ready"] for p in pages["against"]]
        paired = median([a / b for a, b in zip(ours, theirs)])
        print(f"this checkout / against: {median(ours) / median(theirs):.2f} (ratio of medians), "
              f"{paired:.2f} (median of the rounds' ratios)")
    print("\nrounds (ready, s): " + json.dumps({n: [round(p["ready"], 2) for p in pages[n]] for n in roots}))
    print(f"python -c 'import tensorflow' per round (s): {[round(t, 2) for t in tf_total]}")
    print(f"{load_before} (before)\n{load_after} (after)")


if __name__ == "__main__":
    main()
