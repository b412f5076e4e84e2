"""Memory per student behind JupyterHub: the figures behind deploy/'s memory guarantee and limit.

Starts JupyterHub with deploy/jupyterhub_config.py the way the browser test does (tests/ui/hub_server.py:
dummy logins, local processes, loopback), logs N students in at once from Chromium, waits until every
dashboard is drawn, then reads /proc/<pid>/smaps_rollup of each student's Jupyter server and kernel
(RSS, and PSS, where libraries shared by several processes are split between them). Then one student
runs the heaviest tool, the confusion matrix over all 10,000 test images, and the peak RSS of that
kernel is sampled.

    python -m benchmarks.hub_memory [--students N]

Needs configurable-http-proxy on PATH (npm) and $CNNVIZ_CIFAR10_DIR.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "ui"))
sys.path.insert(0, str(REPO))

import hub_server  # noqa: E402  (tests/ui, put on the path above)

from benchmarks.common import machine_note  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 300_000
MIB = 1024


def memory(pid: int) -> dict:
    """{"rss": MiB, "pss": MiB} of one process, from /proc/<pid>/smaps_rollup."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, *rest = line.split()
        if key in ("Rss:", "Pss:"):
            values[key[:-1].lower()] = int(rest[0]) / MIB
    return values


def student_processes(hub, name: str) -> dict:
    """{"server": pid, "kernel": pid} of one student, found by their home folder and command."""
    found = {}
    for pid, command in hub.processes():
        if "jupyterhub-singleuser" in command and os.readlink(f"/proc/{pid}/cwd").endswith(f"/{name}"):
            found["server"] = pid
        elif "ipykernel_launcher" in command and f"/homes/{name}/" in command:
            found["kernel"] = pid
    return found


def peak_rss(pid: int, stop: threading.Event, result: list) -> None:
    while not stop.is_set():
        try:
            result.append(memory(pid)["rss"])
        except OSError:
            return
        time.sleep(0.2)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=3, help="students logged in at once (default 3)")
    args = parser.parse_args(argv)
    if not os.environ.get("CNNVIZ_CIFAR10_DIR"):
        sys.exit("set CNNVIZ_CIFAR10_DIR to the folder that holds cifar-10-batches-py")
    from playwright.sync_api import sync_playwright

    names = [f"student{k}" for k in range(1, args.students + 1)]
    with tempfile.TemporaryDirectory(prefix="cnnviz-hub-") as folder:
        hub = hub_server.start(Path(folder), os.environ["CNNVIZ_CIFAR10_DIR"])
        try:
            hub_server.wait_until_answering(hub)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                started = time.monotonic()
                pages = []
                for name in names:
                    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
                    hub.log_in(page, name)
                    pages.append(page)
                ready = []
                for page in pages:
                    page.wait_for_selector("#rendered_cells", state="visible", timeout=TIMEOUT_MS)
                    page.wait_for_selector(".cnnviz-section-softmax rect.bar", timeout=TIMEOUT_MS)
                    ready.append(time.monotonic() - started)
                time.sleep(2)
                rows = []
                for name, seconds in zip(names, ready):
                    pids = student_processes(hub, name)
                    server, kernel = memory(pids["server"]), memory(pids["kernel"])
                    rows.append((name, seconds, server, kernel))
                others = [(pid, command) for pid, command in hub.processes()
                          if "jupyterhub-singleuser" not in command and "ipykernel" not in command]
                hub_rss = memory(hub.proc.pid)["rss"] + sum(memory(pid)["rss"] for pid, _ in others)

                kernel = student_processes(hub, names[0])["kernel"]
                samples, stop = [], threading.Event()
                sampler = threading.Thread(target=peak_rss, args=(kernel, stop, samples))
                sampler.start()
                panel = pages[0].locator(".jupyter-widget-Collapse").filter(
                    has_text="Find misclassifications")
                panel.locator(".jupyter-widget-Collapse-header").click()
                panel.locator("button", has_text="compute confusion matrix").click()
                panel.locator(".widget-html-content", has_text="accuracy").wait_for(timeout=TIMEOUT_MS)
                time.sleep(1)
                stop.set()
                sampler.join()
                browser.close()
        finally:
            hub_server.stop(hub)

    print(f"\n{machine_note()}")
    print(f"{len(names)} students logged in at once through JupyterHub; "
          "memory once every dashboard is drawn (MiB)\n")
    columns = ("student", "ready s", "server RSS", "server PSS", "kernel RSS", "kernel PSS", "total RSS",
               "total PSS")
    print(f"{columns[0]:<10}" + "".join(f"{c:>12}" for c in columns[1:]))
    for name, seconds, server, kernel in rows:
        figures = (server["rss"], server["pss"], kernel["rss"], kernel["pss"],
                   server["rss"] + kernel["rss"], server["pss"] + kernel["pss"])
        print(f"{name:<10}{seconds:>12.1f}" + "".join(f"{v:>12.0f}" for v in figures))
    print(f"\nhub, proxy and idle culler together: RSS {hub_rss:.0f} MiB")
    print(f"{names[0]}'s kernel while the confusion matrix runs over 10,000 images: peak RSS "
          f"{max(samples):.0f} MiB (sampled every 0.2 s)")


if __name__ == "__main__":
    main()
