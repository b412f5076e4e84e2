"""What a student waits for in the browser: the Voilà dashboard in Chromium, end to end.

(a) start → interactive: from starting ``voila dashboard.ipynb`` (as the browser tests do, with
    ``tests/ui/voila_server.py``) to the picker's slider drawn and usable: a key press on it has
    come back from the kernel as a new caption.
(b) repaint: from pressing Enter in the picker's number box (a new image, never shown before) to
    both the feature-grid montage (its new PNG loaded) and the softmax chart (its SVG changed)
    repainted, timed in the page with ``performance.now()`` and MutationObservers; median of
    ``--changes`` changes.
(c) kernel memory: the resident set (VmRSS, and its peak VmHWM) of the ipykernel process Voilà
    started, from /proc, after the changes.
(d) websocket bytes: everything the page received over the kernel's websocket per image change
    (Playwright's ``framereceived``), split by widget model and message so a miss can be traced.

Not a test: one command prints a table of measured values against the targets.

Run from the repository root: ``python benchmarks/browser_latency.py [--changes 25] [--seed 0]``
with ``CNNVIZ_CIFAR10_DIR`` naming the CIFAR-10 folder (default: ../shared/data/cifar10 beside the
repository, as .ci/run uses). Chromium is Debian's /usr/bin/chromium, as in the browser tests.
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "ui"))
sys.path.insert(0, str(REPO))

import voila_server  # noqa: E402  (tests/ui, put on the path above)

from benchmarks.common import machine_note  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1366, "height": 768}
#: Targets of the brief.
TARGET_START_S = 8.0
TARGET_REPAINT_MS = 250.0
TARGET_KERNEL_MIB = 1024.0
TARGET_BYTES = 250 * 1024
#: Bounded waits: the page, one change, and the quiet time that ends a change's messages.
PAGE_TIMEOUT_MS = 240_000
CHANGE_TIMEOUT_MS = 30_000
SETTLE_MS = 400

SLIDER_HANDLE = ".cnnviz-section-picker .widget-slider .noUi-handle"
NUMBER_BOX = ".cnnviz-section-picker input[type=number]"
CAPTION = ".cnnviz-section-picker [class^='cnnviz-caption']"

# Runs in the page once: watches the feature montage and the softmax chart. A capture-phase
# keydown listener stamps the Enter press, so the time starts in the page, not in Playwright.
PROBE_JS = """() => {
    const probe = window.__cnnvizProbe = {t0: null, featureSrc: null, featureLoad: null, softmax: null};
    const picker = document.querySelector('.cnnviz-section-picker input[type=number]');
    picker.addEventListener('keydown', e => {
        if (e.key === 'Enter') {
            Object.assign(probe, {featureSrc: null, featureLoad: null, softmax: null});
            probe.t0 = performance.now();
        }
    }, true);
    const montage = document.querySelector('.cnnviz-section-features img.widget-image');
    new MutationObserver(() => { if (probe.t0 !== null) probe.featureSrc = performance.now(); })
        .observe(montage, {attributes: true, attributeFilter: ['src']});
    montage.addEventListener('load', () => { if (probe.t0 !== null) probe.featureLoad = performance.now(); });
    const chart = document.querySelector('.cnnviz-section-softmax .bqplot');
    new MutationObserver(() => { if (probe.t0 !== null) probe.softmax = performance.now(); })
        .observe(chart, {attributes: true, characterData: true, childList: true, subtree: true});
}"""


# --------------------------------------------------------------------------- websocket frames

#: The softmax chart the probe watches: section 8, built when the student scrolls near it.
SOFTMAX_CHART = ".cnnviz-section-softmax .bqplot"


def show_decision(page) -> None:
    """Scroll to section 8 as a student does, wait until its chart is drawn, and scroll back to
    the top (where the picker and the feature maps are)."""
    page.locator(".cnnviz-section-softmax").scroll_into_view_if_needed(timeout=PAGE_TIMEOUT_MS)
    page.wait_for_selector(SOFTMAX_CHART, state="visible", timeout=PAGE_TIMEOUT_MS)
    page.locator(".cnnviz-section-picker").scroll_into_view_if_needed()


async def show_decision_async(page) -> None:
    """``show_decision`` for Playwright's asyncio API."""
    await page.locator(".cnnviz-section-softmax").scroll_into_view_if_needed(timeout=PAGE_TIMEOUT_MS)
    await page.wait_for_selector(SOFTMAX_CHART, state="visible", timeout=PAGE_TIMEOUT_MS)
    await page.locator(".cnnviz-section-picker").scroll_into_view_if_needed()


def _parse_frame(payload) -> dict | None:
    """A Jupyter websocket frame as {channel, msg_type, content, buffers}; None if unreadable.

    Handles the v1 binary protocol of jupyter_server (u64 count of offsets, u64 offsets, then
    channel, header, parent header, metadata, content and buffers) and the legacy JSON frames.
    """
    if isinstance(payload, str):
        msg = json.loads(payload)
        return {"channel": msg.get("channel"), "msg_type": msg["header"]["msg_type"],
                "content": msg.get("content", {}), "buffers": []}
    data = bytes(payload)
    try:
        count = struct.unpack_from("<Q", data, 0)[0]
        offsets = struct.unpack_from(f"<{count}Q", data, 8)
        parts = [data[offsets[k]:offsets[k + 1]] for k in range(count - 1)]
        channel, header, _parent, _meta, content = parts[:5]
        return {"channel": channel.decode(), "msg_type": json.loads(header)["msg_type"],
                "content": json.loads(content), "buffers": [_png_size(b) for b in parts[5:]]}
    except (struct.error, ValueError, IndexError, UnicodeDecodeError):
        return None


def _png_size(buffer: bytes):
    """(width, height) from a PNG's header, or None when the buffer is not a PNG."""
    if buffer[:8] != b"\x89PNG\r\n\x1a\n" or len(buffer) < 24:
        return None
    return struct.unpack(">II", buffer[16:24])


class FrameLog:
    """Every frame the page receives, with a map of comm ids to widget model names."""

    def __init__(self):
        self.frames: list = []
        self.models: dict = {}
        self.initial_state_bytes = 0
        self.initial_models = 0
        #: Widgets made after the page connected (a section built as the student scrolls to it,
        #: a panel opened), and the bytes of their opening messages.
        self.opened_models = 0
        self.opened_bytes = 0

    def on_websocket(self, ws):
        if "/api/kernels/" in ws.url:
            ws.on("framereceived", self._on_frame)

    def _on_frame(self, payload):
        size = len(payload.encode() if isinstance(payload, str) else payload)
        msg = _parse_frame(payload)
        self.frames.append((size, msg))
        if msg and msg["msg_type"] == "comm_open":
            content = msg["content"]
            self.models[content.get("comm_id")] = (content.get("data") or {}).get("state", {}).get("_model_name", "?")
            self.opened_models += 1
            self.opened_bytes += size
        if msg and msg["msg_type"] == "comm_msg":
            data = msg["content"].get("data") or {}
            # ipywidgets 8 sends the state of every widget at once, on its control comm, when
            # the page connects.
            if data.get("method") == "update_states":
                self.initial_state_bytes += size
                self.initial_models += len(data.get("states") or {})
                for model_id, entry in (data.get("states") or {}).items():
                    self.models[model_id] = entry.get("model_name", "?")

    def mark(self) -> int:
        return len(self.frames)

    def since(self, start: int) -> list:
        return self.frames[start:]

    def label(self, msg, image_sizes: dict) -> str:
        """Who a frame is for: "ImageModel 256×224 (features) value", "status", ..."""
        if msg is None:
            return "unparsed"
        if msg["msg_type"] != "comm_msg":
            return msg["msg_type"]
        content = msg["content"]
        data = content.get("data") or {}
        model = self.models.get(content.get("comm_id"), "?")
        # Binary values (an Image's PNG) travel as buffers, named in buffer_paths, not in state.
        names = set((data.get("state") or {}).keys()) | {p[0] for p in data.get("buffer_paths") or [] if p}
        keys = ",".join(sorted(names))
        return f"{model}{image_sizes.get(content.get('comm_id'), '')} {data.get('method', '')}[{keys}]"


# --------------------------------------------------------------------------- kernel process

def kernel_pids(server_pid: int) -> list:
    """The ipykernel processes started by the Voilà server (its children, or theirs)."""
    found, todo = [], [server_pid]
    while todo:
        for child in voila_server.child_pids(todo.pop()):
            try:
                cmdline = (Path("/proc") / str(child) / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"ipykernel" in cmdline:
                found.append(child)
            else:
                todo.append(child)
    return found


def _watch_kernel(proc, seen: dict, timeout: float):
    """Note in ``seen["at"]`` the perf_counter time at which the first kernel process appears."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and proc.poll() is None:
        if kernel_pids(proc.pid):
            seen["at"] = time.perf_counter()
            return
        time.sleep(0.05)


def memory_mib(pid: int) -> tuple:
    """(VmRSS, VmHWM) of ``pid`` in MiB, from /proc/<pid>/status."""
    values = {}
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024.0
    return values["VmRSS"], values["VmHWM"]


# --------------------------------------------------------------------------- the notebook's steps

STEPS = (
    ("import cnnviz_widgets", "import cnnviz_widgets"),
    ("import tensorflow and keras", "import tensorflow, keras"),
    ("load_default_model()", "model = cnnviz_widgets.load_default_model()"),
    ("load_cifar10('test')", "images, labels, names = cnnviz_widgets.load_cifar10('test')"),
    ("ModelState(...) (checks, first forward pass)",
     "state = cnnviz_widgets.ModelState(model, images, labels, names)"),
    ("Dashboard(state)", "dashboard = cnnviz_widgets.Dashboard(state)"),
)
STEPS_SCRIPT = "\n".join(
    ["import json, time", "t = [time.time()]"]
    + [f"{code}\nt.append(time.time())" for _, code in STEPS]
    + ["print(json.dumps(t))"])


#: Packages that make the start-up slower when installed, although cnnviz does not use them.
SLOW_IMPORTS = {
    "matplotlib": "matplotlib is installed here: Keras imports matplotlib.pyplot, about 0.4 s more "
                  "in the kernel (the package does not need Matplotlib; only the bench extra does)",
    "rfc3987_syntax": "jsonschema 4.24 or newer is installed here: it imports rfc3987_syntax in "
                      "Voilà's server, about 1.2 s more before Voilà answers (pyproject.toml pins "
                      "jsonschema below 4.24)",
}


def slow_imports() -> list:
    """The notes of SLOW_IMPORTS that apply to this environment."""
    import importlib.util
    from importlib.metadata import version

    from packaging.version import Version

    notes = []
    if importlib.util.find_spec("matplotlib") is not None:
        notes.append(SLOW_IMPORTS["matplotlib"])
    if (importlib.util.find_spec("rfc3987_syntax") is not None
            and Version(version("jsonschema")) >= Version("4.24")):
        notes.append(SLOW_IMPORTS["rfc3987_syntax"])
    return notes


def notebook_steps(env) -> list:
    """[(step, seconds)] of what the notebook does, in a fresh Python process, with the process's
    own start before and its exit (TensorFlow's shutdown) after."""
    spawned = time.time()
    out = subprocess.run([sys.executable, "-c", STEPS_SCRIPT], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=600, check=True)
    ended = time.time()
    stamps = json.loads(out.stdout.strip().splitlines()[-1])
    steps = [("Python start", stamps[0] - spawned)]
    steps += [(name, b - a) for (name, _), a, b in zip(STEPS, stamps, stamps[1:])]
    return steps + [("exit (not part of the start-up)", ended - stamps[-1])]


# --------------------------------------------------------------------------- measuring

def measure(args, env) -> dict:
    import numpy as np
    from playwright.sync_api import sync_playwright

    result = {}
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="cnnviz-bench-") as tmp:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        frames = FrameLog()
        page.on("websocket", frames.on_websocket)
        log_path = Path(tmp) / "voila.log"

        # (a) The browser is ready before the clock starts: the student's browser is already open.
        t_start = time.perf_counter()
        proc, url = voila_server.start(log_path, env["CNNVIZ_CIFAR10_DIR"], extra_args=args.voila_arg)
        kernel_seen = {}
        watcher = threading.Thread(target=_watch_kernel, args=(proc, kernel_seen, PAGE_TIMEOUT_MS / 1000),
                                   daemon=True)
        watcher.start()
        try:
            voila_server.wait_until_answering(url, proc, log_path)
            t_answer = time.perf_counter()
            page.goto(url, wait_until="commit", timeout=PAGE_TIMEOUT_MS)
            t_commit = time.perf_counter()
            page.wait_for_selector("#rendered_cells", state="visible", timeout=PAGE_TIMEOUT_MS)
            t_cells = time.perf_counter()
            handle = page.locator(SLIDER_HANDLE)
            handle.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
            t_slider = time.perf_counter()
            before = page.locator(CAPTION).inner_text()
            handle.focus()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "([sel, old]) => { const c = document.querySelector(sel); return c && c.innerText !== old; }",
                arg=[CAPTION, before], timeout=PAGE_TIMEOUT_MS)
            t_usable = time.perf_counter()
            watcher.join(timeout=1)
            result["start"] = {
                "server answers HTTP": t_answer - t_start,
                "page's first byte": t_commit - t_start,
                "kernel process exists": kernel_seen.get("at", float("nan")) - t_start,
                "notebook executed (#rendered_cells shown)": t_cells - t_start,
                "slider drawn": t_slider - t_start,
                "slider usable (first change came back)": t_usable - t_start,
            }

            # (b) and (d): image changes through the number box, each image new to the kernel.
            show_decision(page)
            page.evaluate(PROBE_JS)
            page.wait_for_timeout(SETTLE_MS)
            rng = np.random.default_rng(args.seed)
            shown = {int(page.locator(NUMBER_BOX).input_value())}
            picks = [int(i) for i in rng.choice(np.setdiff1d(np.arange(10_000), list(shown)),
                                                size=args.changes, replace=False)]
            box = page.locator(NUMBER_BOX)
            repaint, features, softmax, sizes, per_change = [], [], [], [], []
            for index in picks:
                box.fill(str(index))
                start = frames.mark()
                box.press("Enter")
                page.wait_for_function(
                    "() => { const p = window.__cnnvizProbe; "
                    "return p.t0 !== null && p.featureLoad !== null && p.softmax !== null; }",
                    timeout=CHANGE_TIMEOUT_MS)
                # Late messages of the same change (other panels, the kernel's idle status) and
                # late mutations of the chart arrive within the settling time.
                page.wait_for_timeout(SETTLE_MS)
                probe = page.evaluate("() => window.__cnnvizProbe")
                features.append(probe["featureLoad"] - probe["t0"])
                softmax.append(probe["softmax"] - probe["t0"])
                repaint.append(max(probe["featureLoad"], probe["softmax"]) - probe["t0"])
                received = frames.since(start)
                sizes.append(sum(size for size, _ in received))
                per_change.append(received)
            result["repaint_ms"], result["features_ms"], result["softmax_ms"] = repaint, features, softmax
            result["bytes"] = sizes
            image_sizes = _image_sizes(page, frames)
            median_change = int(np.argsort(sizes)[len(sizes) // 2])
            breakdown = defaultdict(lambda: [0, 0])
            for size, msg in per_change[median_change]:
                entry = breakdown[frames.label(msg, image_sizes)]
                entry[0] += 1
                entry[1] += size
            result["bytes_breakdown"] = sorted(breakdown.items(), key=lambda kv: -kv[1][1])

            # (c) The kernel after the changes.
            pids = kernel_pids(proc.pid)
            result["kernel"] = [memory_mib(pid) for pid in pids]
            result["initial_state_bytes"] = frames.initial_state_bytes
        finally:
            browser.close()
            voila_server.stop(proc)
    return result


def _image_sizes(page, frames: FrameLog) -> dict:
    """comm id → " W×H (section)" for the Image widgets: the PNG sizes in the frames matched with
    the natural sizes of each section's images in the page."""
    shown = page.evaluate("""() => Array.from(
        document.querySelectorAll('[class*=cnnviz-section-] img.widget-image'),
        img => [img.closest('[class*=cnnviz-section-]').className.match(/cnnviz-section-(\\w+)/)[1],
                img.naturalWidth, img.naturalHeight])""")
    by_size = defaultdict(set)
    for section, w, h in shown:
        by_size[(w, h)].add(section)
    out = {}
    for _size, msg in frames.frames:
        if not msg or msg["msg_type"] != "comm_msg":
            continue
        comm = msg["content"].get("comm_id")
        for png in msg["buffers"]:
            if png and frames.models.get(comm) == "ImageModel":
                where = "/".join(sorted(by_size.get(tuple(png), {"not on screen"})))
                out[comm] = f" {png[0]}×{png[1]} ({where})"
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=25, help="image changes timed (default 25)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the choice of images")
    parser.add_argument("--voila-arg", action="append", default=[], metavar="OPTION",
                        help="one more Voilà option, for experiments: --voila-arg=--preheat_kernel=True")
    args = parser.parse_args(argv)
    if args.changes < 1:
        parser.error("--changes must be at least 1")
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not env.get("CNNVIZ_CIFAR10_DIR"):
        beside = REPO.parent / "shared" / "data" / "cifar10"
        if not beside.is_dir():
            sys.exit("set CNNVIZ_CIFAR10_DIR to the folder that holds cifar-10-batches-py")
        env["CNNVIZ_CIFAR10_DIR"] = str(beside)
    os.environ.update({k: env[k] for k in ("CNNVIZ_CIFAR10_DIR", "TF_CPP_MIN_LOG_LEVEL")})

    load_before = machine_note()
    r = measure(args, env)
    load_after = machine_note()
    steps = notebook_steps(env)
    report(args, r, steps, load_before, load_after)


def report(args, r, steps, load_before, load_after):
    import numpy as np

    start = r["start"]
    interactive = start["slider usable (first change came back)"]
    repaint = float(np.median(r["repaint_ms"]))
    rss = max((m[0] for m in r["kernel"]), default=float("nan"))
    per_change = float(np.median(r["bytes"]))

    def verdict(ok):
        return "met" if ok else "MISSED"

    extra = f" with {' '.join(args.voila_arg)}" if args.voila_arg else ""
    print(f"\nThe dashboard in Chromium (1366×768), served by a freshly started Voilà{extra}")
    head = f"{'measure':<52} {'measured':>22} {'target':>12}  verdict"
    print(head)
    print("-" * len(head))
    rows = [
        ("(a) voila start → slider drawn and usable", f"{interactive:.1f} s", f"≤ {TARGET_START_S:.0f} s",
         verdict(interactive <= TARGET_START_S)),
        ("(b) image change → features + softmax repainted", f"{repaint:.0f} ms median",
         f"≤ {TARGET_REPAINT_MS:.0f} ms", verdict(repaint <= TARGET_REPAINT_MS)),
        ("(c) kernel resident memory (VmRSS)", f"{rss:.0f} MiB", f"≤ {TARGET_KERNEL_MIB:.0f} MiB",
         verdict(rss <= TARGET_KERNEL_MIB)),
        ("(d) websocket bytes received per image change", f"{per_change / 1024:.1f} KiB median",
         f"≤ {TARGET_BYTES // 1024} KiB", verdict(per_change <= TARGET_BYTES)),
    ]
    for row in rows:
        print(f"{row[0]:<52} {row[1]:>22} {row[2]:>12}  {row[3]}")

    print("\n(a) where the start-up time goes (seconds after starting voila)")
    for name, seconds in start.items():
        print(f"    {name:<48} {seconds:6.1f}")
    print(f"    widget state sent when the page connects: {r['initial_state_bytes'] / 1024:.0f} KiB")
    print("    the notebook's steps, timed in a fresh Python process:")
    for name, seconds in steps:
        print(f"      {name:<46} {seconds:6.2f}")
    for note in slow_imports():
        print(f"    note: {note}")

    def spread(values):
        return (f"median {np.median(values):.0f}, p90 {np.percentile(values, 90):.0f}, "
                f"min {np.min(values):.0f}, max {np.max(values):.0f}")

    print(f"\n(b) {len(r['repaint_ms'])} image changes, ms from Enter in the number box:")
    print(f"    both repainted       {spread(r['repaint_ms'])}")
    print(f"    feature montage      {spread(r['features_ms'])} (new PNG loaded)")
    print(f"    softmax chart        {spread(r['softmax_ms'])} (last SVG change)")
    print("\n(c) kernel processes: " + ", ".join(f"VmRSS {a:.0f} MiB, peak VmHWM {b:.0f} MiB"
                                                 for a, b in r["kernel"]) if r["kernel"] else
          "\n(c) no ipykernel process found under the Voilà server")
    print(f"\n(d) bytes per change: {spread([b / 1024 for b in r['bytes']])} KiB; "
          "the median change, by message:")
    for label, (count, size) in r["bytes_breakdown"]:
        print(f"    {size / 1024:8.1f} KiB  {count:3d} × {label}")
    print(f"\n{load_before} (before)\n{load_after} (after)")


if __name__ == "__main__":
    main()
