"""A whole class on one machine: N simulated students on loopback, in the default mode and in
classroom mode.

For each mode a fresh server is started twice:

* **http** — all N students request the page over plain HTTP at the same moment (threads behind
  a barrier): pages complete N/N (the whole HTML, widget outputs in it, no timeout or error
  output) and the time to the page's last byte.
* **browser** — N Chromium pages (Playwright, Debian's /usr/bin/chromium), one browser context
  each, navigate at the same moment: time to page (the navigation's ``responseEnd``), time to
  interactive (the picker drawn and a first image change come back from the kernel), then every
  student scrolls to section 8 (built as it comes near) and changes image about every
  ``--interval`` seconds for ``--rounds`` rounds, and each
  repaint (features and softmax redrawn, timed in the page as benchmarks/browser_latency.py
  does) is collected. After that: RSS and PSS of every kernel (``/proc/*/smaps_rollup``), the
  peak of the whole server (Voilà and its kernels, PSS summed, read when every page is up and
  when the phase ends), the peak number of kernels (counted every second), CPU-seconds used by
  the browsers (their renderers apart), by the server and by the benchmark itself while the class opened
  the page, and the widgets and bytes of widget state a page receives when it connects.

Default mode is ``voila dashboard.ipynb`` with the project's voila.json (tests/ui/voila_server.py
starts it, as the browser tests do); classroom mode is ``python -m cnnviz_widgets.serving.classroom
--students N``, timed from its ``ready:`` line (the pool is warm, as before a lesson).

Not a test: one command prints a Markdown table, and the README's lines ready to paste.

    python benchmarks/classroom.py --students 10 --mode both
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "ui"))
sys.path.insert(0, str(REPO))

import voila_server  # noqa: E402  (tests/ui, put on the path above)

from benchmarks.browser_latency import (  # noqa: E402
    CAPTION,
    CHROMIUM,
    CHROMIUM_ARGS,
    NUMBER_BOX,
    PROBE_JS,
    SLIDER_HANDLE,
    VIEWPORT,
    FrameLog,
    show_decision_async,
)
from benchmarks.common import machine_note  # noqa: E402
from cnnviz_widgets.serving.capacity import cpu_seconds, pss_mib, rss_mib  # noqa: E402

PAGE_TIMEOUT_S = 600
CHANGE_TIMEOUT_MS = 60_000
READY_TIMEOUT_S = 1200
#: How often Playwright checks a page for the end of a change, in ms: its default, every animation
#: frame, keeps 20 pages drawing 60 frames a second while they wait, on the cores they share.
POLL = 100
#: Text in a page that means a cell did not finish (Voilà's and nbclient's wording).
BROKEN_MARKS = ("Timeout waiting for IOPub", "Cell execution timed out", "DeadKernelError", "Traceback")


# --------------------------------------------------------------------------- servers

class Server:
    """A Voilà server in one mode, its log and a sampler of its memory."""

    def __init__(self, mode: str, students: int, folder: Path):
        self.mode, self.students = mode, students
        self.log = folder / f"{mode}-{time.monotonic_ns()}.log"
        self.peak_pss = self.peak_kernels = 0.0
        self._stop = threading.Event()
        self.ready_s = None

    def __enter__(self):
        start = time.perf_counter()
        if self.mode == "default":
            self.proc, self.url = voila_server.start(self.log)
            voila_server.wait_until_answering(self.url, self.proc, self.log)
        else:
            port = voila_server.free_port()
            self.url = f"http://127.0.0.1:{port}/"
            out = self.log.with_suffix(".out")
            with open(out, "wb") as stdout, open(self.log, "wb") as stderr:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "cnnviz_widgets.serving.classroom", "--students", str(self.students),
                     "--port", str(port), "--ip", "127.0.0.1"],
                    cwd=REPO, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True)
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not any(line.startswith("ready:") for line in out.read_text().splitlines()):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    voila_server.stop(self.proc)
                    raise RuntimeError(f"classroom did not get ready:\n{voila_server.log_tail(self.log)}")
                time.sleep(0.5)
            self.estimate = [line for line in out.read_text().splitlines() if not line.startswith("ready:")]
        self.ready_s = time.perf_counter() - start
        self.look_pss()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._sampler.join(timeout=5)
        self.look_pss()
        voila_server.stop(self.proc)

    def kernels(self) -> list:
        return [pid for pid, command in _descendants(self.proc.pid) if b"ipykernel" in command]

    def _sample(self):
        # A cheap look only: the number of kernels. Reading a kernel's smaps_rollup (its PSS) walks
        # its ~2,000 mappings, about 25 ms of CPU per kernel: sampled every second for a class of 20
        # it took half a core from the browsers it measures. PSS is read by look_pss() when a phase
        # ends instead (every kernel of the class exists then: the peak).
        while not self._stop.wait(1.0):
            self.peak_kernels = max(self.peak_kernels, len(self.kernels()))

    def look_pss(self):
        """The server's PSS now (Voilà and its kernels, summed), kept if it is the largest yet."""
        pids = [self.proc.pid] + self.kernels()
        self.peak_kernels = max(self.peak_kernels, len(pids) - 1)
        self.peak_pss = max(self.peak_pss, _sum_memory(pids, pss_mib))

    def cpu(self) -> float:
        """CPU-seconds of the server and its kernels (the living ones)."""
        return sum(_tree_cpu_by_kind(self.proc.pid).values())


def _sum_memory(pids, measure) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += measure(pid)
        except (OSError, ValueError):
            pass
    return total


def _descendants(root: int, skip: int | None = None) -> list:
    """(pid, command line) of every living process below ``root`` and of ``root`` itself, from one
    pass over /proc; ``skip`` and what is below it left out."""
    parent, command = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the parent pid follows it.
        parent[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    children = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid == skip:
            continue
        if pid in command:
            found.append((pid, command[pid]))
        todo.extend(children.get(pid, []))
    return found


def _tree_cpu_by_kind(root: int, skip: int | None = None) -> dict:
    """CPU-seconds of a process tree by kind: Chromium's renderers, Chromium's other processes
    (browser, GPU, network, utilities), Playwright's driver (node) and anything else (this Python
    process, Voilà, its kernels)."""
    kinds = {}
    for pid, command in _descendants(root, skip):
        try:
            used = cpu_seconds(pid)
        except (OSError, ValueError):
            continue
        program = Path(command.split(b" ")[0].decode(errors="replace")).name
        if "chrom" in program:
            kind = "renderers" if b"--type=renderer" in command else "chromium"
        else:
            kind = "node" if program == "node" else "python"
        kinds[kind] = kinds.get(kind, 0.0) + used
    return kinds


def _spread(values, q=(50, 100)) -> list:
    if not values:
        return [float("nan")] * len(q)
    values = sorted(values)
    return [values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))] if p < 100 else values[-1]
            for p in q]


# --------------------------------------------------------------------------- http phase

def http_phase(server: Server, n: int) -> dict:
    barrier = threading.Barrier(n + 1)
    results = [None] * n

    def student(k):
        barrier.wait()
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(f"{server.url}?student={k}", timeout=PAGE_TIMEOUT_S) as reply:
                html = reply.read().decode(errors="replace")
            complete = (html.rstrip().endswith("</html>")
                        and "application/vnd.jupyter.widget-view+json" in html
                        and not any(mark in html for mark in BROKEN_MARKS))
        except Exception as exc:  # a refused or broken page counts as incomplete
            html, complete = str(exc), False
        results[k] = (complete, time.perf_counter() - start)

    threads = [threading.Thread(target=student, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join()
    return {"complete": sum(ok for ok, _ in results), "page_s": [s for _, s in results]}


# --------------------------------------------------------------------------- browser phase

async def browser_phase(server: Server, n: int, rounds: int, interval: float, seed: int) -> dict:
    import numpy as np
    from playwright.async_api import async_playwright

    rng = np.random.default_rng(seed)
    picks = rng.choice(10_000, size=(n, rounds + 1), replace=False).tolist()
    go = asyncio.Event()
    out = {"page_s": [], "interactive_s": [], "repaint_ms": [], "complete": 0, "widgets": [], "state_kib": [],
           "later_widgets": [], "later_kib": [], "first_screen_widgets": []}

    async def student(k, browser):
        context = await browser.new_context(viewport=VIEWPORT)
        page = await context.new_page()
        frames = FrameLog()
        if k == 0:  # the widgets a page receives, counted on the first student's (all pages get the same)
            page.on("websocket", frames.on_websocket)
        await page.goto("about:blank")
        await go.wait()
        t0 = time.time()
        try:
            await page.goto(f"{server.url}?student={k}", wait_until="commit", timeout=PAGE_TIMEOUT_S * 1000)
            await page.wait_for_selector(SLIDER_HANDLE, state="visible", timeout=PAGE_TIMEOUT_S * 1000)
            nav = await page.evaluate("() => performance.timeOrigin + "
                                      "performance.getEntriesByType('navigation')[0].responseEnd")
            out["page_s"].append(nav / 1000 - t0)
            before = await page.locator(CAPTION).inner_text()
            box = page.locator(NUMBER_BOX)
            await box.fill(str(picks[k][0]))
            await box.press("Enter")
            await page.wait_for_function(
                "([sel, old]) => { const c = document.querySelector(sel); return c && c.innerText !== old; }",
                arg=[CAPTION, before], timeout=CHANGE_TIMEOUT_MS, polling=POLL)
            out["interactive_s"].append(time.time() - t0)
            out["complete"] += 1
            if frames.initial_models:
                out["widgets"].append(frames.initial_models)
                out["first_screen_widgets"].append(frames.opened_models)
                out["state_kib"].append(frames.initial_state_bytes / 1024)
        except Exception as exc:
            print(f"  student {k}: no interactive dashboard ({type(exc).__name__})", file=sys.stderr)
            await context.close()
            return
        await interactive.wait()  # the repaint rounds start when every page is up
        # The probe watches the softmax chart, built when the student scrolls to section 8.
        opened = frames.opened_models, frames.opened_bytes
        await show_decision_async(page)
        if frames.initial_models:
            out["later_widgets"].append(frames.opened_models - opened[0])
            out["later_kib"].append((frames.opened_bytes - opened[1]) / 1024)
        await page.evaluate(PROBE_JS)
        await asyncio.sleep(rng.uniform(0, interval))  # students do not click in step
        for index in picks[k][1:]:
            started = time.monotonic()
            await box.fill(str(index))
            await box.press("Enter")
            try:
                await page.wait_for_function(
                    "() => { const p = window.__cnnvizProbe; "
                    "return p.t0 !== null && p.featureLoad !== null && p.softmax !== null; }",
                    timeout=CHANGE_TIMEOUT_MS, polling=POLL)
                await page.wait_for_timeout(300)  # late mutations of the same change
                probe = await page.evaluate("() => window.__cnnvizProbe")
                out["repaint_ms"].append(max(probe["featureLoad"], probe["softmax"]) - probe["t0"])
            except Exception:
                out["repaint_ms"].append(float("inf"))
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
        await context.close()

    interactive = asyncio.Event()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tasks = [asyncio.create_task(student(k, browser)) for k in range(n)]
        await asyncio.sleep(1.0)  # every context open and waiting
        cpu_server, kinds = server.cpu(), _tree_cpu_by_kind(os.getpid(), skip=server.proc.pid)
        go.set()
        # A task that ends before the repaint rounds is a student whose page never came up.
        while len(out["interactive_s"]) + sum(t.done() for t in tasks) < n:
            await asyncio.sleep(0.2)
        out["cpu_server_s"] = server.cpu() - cpu_server
        used = {k: v - kinds.get(k, 0.0) for k, v in _tree_cpu_by_kind(os.getpid(), skip=server.proc.pid).items()}
        out["cpu_renderers_s"] = used.get("renderers", 0.0)
        out["cpu_browsers_s"] = used.get("renderers", 0.0) + used.get("chromium", 0.0)
        out["cpu_harness_s"] = used.get("node", 0.0) + used.get("python", 0.0)
        memory = []
        for pid in server.kernels():
            try:
                memory.append((rss_mib(pid), pss_mib(pid)))
            except (OSError, ValueError):
                pass
        out["memory"] = memory
        server.look_pss()
        interactive.set()
        await asyncio.gather(*tasks)
        await browser.close()
    return out


# --------------------------------------------------------------------------- report

def run(args) -> list:
    rows = []
    with tempfile.TemporaryDirectory(prefix="cnnviz-classroom-") as tmp:
        for mode in (["default", "classroom"] if args.mode == "both" else [args.mode]):
            if args.phase in ("http", "both"):
                with Server(mode, args.students, Path(tmp)) as server:
                    print(f"{mode}: {args.students} students over HTTP at once ...", file=sys.stderr)
                    http = http_phase(server, args.students)
                    server.look_pss()
                    rows.append(dict(mode=mode, phase="http", ready_s=server.ready_s, **http,
                                     peak_pss=server.peak_pss, peak_kernels=server.peak_kernels,
                                     estimate=getattr(server, "estimate", [])))
            if args.phase in ("browser", "both"):
                with Server(mode, args.students, Path(tmp)) as server:
                    print(f"{mode}: {args.students} students in Chromium at once ...", file=sys.stderr)
                    browser = asyncio.run(browser_phase(server, args.students, args.rounds, args.interval,
                                                        args.seed))
                    server.look_pss()
                    rows.append(dict(mode=mode, phase="browser", ready_s=server.ready_s, **browser,
                                     peak_pss=server.peak_pss, peak_kernels=server.peak_kernels,
                                     estimate=getattr(server, "estimate", [])))
    return rows


def report(args, rows, before: str, after: str) -> None:
    n = args.students
    print(f"\n{n} students on loopback, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB\n")
    print("| mode | students | pages complete | time to page p50 / max | interactive p50 / max "
          "| repaint p50 / p95 | kernel RSS / PSS (median) | server peak (PSS) | peak kernels |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    readme = []
    for r in rows:
        page = _spread(r["page_s"])
        how = "HTTP" if r["phase"] == "http" else "Chromium"
        cells = [f"{r['mode']}", f"{n} ({how})", f"{r['complete']}/{n}",
                 f"{page[0]:.2f} s / {page[1]:.2f} s"]
        if r["phase"] == "browser":
            inter = _spread(r["interactive_s"])
            rep = _spread(r["repaint_ms"], (50, 95))
            rss = statistics.median(m[0] for m in r["memory"]) if r["memory"] else float("nan")
            pss = statistics.median(m[1] for m in r["memory"]) if r["memory"] else float("nan")
            cells += [f"{inter[0]:.1f} s / {inter[1]:.1f} s", f"{rep[0]:.0f} ms / {rep[1]:.0f} ms",
                      f"{rss:.0f} / {pss:.0f} MiB"]
        else:
            cells += ["–", "–", "–"]
        cells += [f"{r['peak_pss'] / 1024:.1f} GiB", f"{r['peak_kernels']:.0f}"]
        line = "| " + " | ".join(cells) + " |"
        print(line)
        readme.append(line)
    print()
    for r in rows:
        if r["phase"] == "browser" and r.get("cpu_server_s") is not None:
            total = r["cpu_server_s"] + r["cpu_browsers_s"]
            share = r["cpu_browsers_s"] / total if total else float("nan")
            widgets = statistics.median(r["widgets"]) if r["widgets"] else float("nan")
            state = statistics.median(r["state_kib"]) if r["state_kib"] else float("nan")
            first = statistics.median(r["first_screen_widgets"]) if r["first_screen_widgets"] else float("nan")
            later = statistics.median(r["later_widgets"]) if r["later_widgets"] else float("nan")
            later_kib = statistics.median(r["later_kib"]) if r["later_kib"] else float("nan")
            print(f"- {r['mode']}, Chromium: until every page was interactive the browsers used "
                  f"{r['cpu_browsers_s']:.0f} CPU-s (their pages' renderers {r['cpu_renderers_s']:.0f}) and "
                  f"the server with its kernels {r['cpu_server_s']:.0f} CPU-s ({share:.0%} browsers; the "
                  f"benchmark itself, Playwright included, {r['cpu_harness_s']:.0f} CPU-s); "
                  f"a page receives {widgets:.0f} widgets, "
                  f"{state:.0f} KiB of widget state when it connects, {first:.0f} widgets more until "
                  f"it is interactive (sections in its first screen), and {later:.0f} widgets, "
                  f"{later_kib:.0f} KiB more as the student scrolls to section 8 (sections built on the way)")
        if r["mode"] == "classroom" and r["estimate"] and r["phase"] == "browser":
            print(f"- classroom warm-up: ready after {r['ready_s']:.0f} s; the command said: "
                  + " / ".join(r["estimate"][1:]))
    print(f"\n{before} (before)\n{after} (after)")
    print("\nREADME lines (paste under the table header of \"Teach with it\"):\n")
    print("\n".join(readme))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=4, help="students simulated (default 4)")
    parser.add_argument("--mode", choices=("default", "classroom", "both"), default="both")
    parser.add_argument("--phase", choices=("http", "browser", "both"), default="both",
                        help="all over HTTP, all in Chromium, or both (default)")
    parser.add_argument("--rounds", type=int, default=10, help="image changes per student (default 10)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between a student's changes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.students < 1 or args.rounds < 1:
        parser.error("--students and --rounds must be at least 1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not os.environ.get("CNNVIZ_CIFAR10_DIR"):
        beside = REPO.parent / "shared" / "data" / "cifar10"
        if not beside.is_dir():
            sys.exit("set CNNVIZ_CIFAR10_DIR to the folder that holds cifar-10-batches-py")
        os.environ["CNNVIZ_CIFAR10_DIR"] = str(beside)
    before = machine_note()
    rows = run(args)
    report(args, rows, before, machine_note())


if __name__ == "__main__":
    main()
