"""Browser tests: a Voilà server on dashboard.ipynb, driven in Debian's Chromium by pytest-playwright.

Playwright's own browser downloads are never used: the tests launch /usr/bin/chromium, which
.ci/run installs from Debian's packages.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
# Without the networking flags Chromium keeps trying to reach Google's hosts, which this closed network
# refuses; --no-sandbox because the tests run as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1366, "height": 768}
SERVER_START_TIMEOUT = 120
#: How long a test may wait for the dashboard's cells to finish executing (TensorFlow starts slowly).
RENDER_TIMEOUT_MS = 180_000


# --------------------------------------------------------------------------- Voilà server

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _wait_until_answering(url: str, proc: subprocess.Popen, log_path: Path) -> None:
    # A static file answers without starting a kernel, unlike the dashboard page itself.
    probe = url + "voila/static/favicon.ico"
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"Voilà exited with code {proc.returncode} before answering:\n{_log_tail(log_path)}",
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(probe, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # any HTTP status means the server is up
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.25)
    pytest.fail(
        f"Voilà did not answer on {url} within {SERVER_START_TIMEOUT} s:\n{_log_tail(log_path)}",
        pytrace=False,
    )


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (Voilà shuts its kernels down on SIGTERM), then SIGKILL."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def voila_server(cifar_dir, tmp_path_factory):
    """Base URL (``http://127.0.0.1:<port>/``) of a Voilà server rendering dashboard.ipynb.

    Started from the repository root, so Voilà reads the top-level voila.json. Standalone Voilà needs
    no token and does not refuse root. Its log is kept in pytest's temporary folder and shown if it
    fails to start.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = tmp_path_factory.mktemp("voila") / "voila.log"
    env = {**os.environ, "CNNVIZ_CIFAR10_DIR": str(cifar_dir)}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    command = [
        sys.executable, "-m", "voila", "dashboard.ipynb",
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",  # fail rather than silently serve on another port
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so teardown can signal all of it
        )
    try:
        _wait_until_answering(url, proc, log_path)
        yield url
    finally:
        _stop(proc)


# --------------------------------------------------------------------------- Playwright

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": VIEWPORT}


@pytest.fixture
def dashboard_page(page, voila_server):
    """The Playwright page with the dashboard loaded: every cell has executed and the outputs are shown.

    Voilà streams the page while the kernel runs the cells, behind a ``#loading`` spinner, and reveals
    ``#rendered_cells`` when the last cell is done. Navigation therefore returns at the first byte
    and the waiting is done on those two elements, with a timeout long enough for TensorFlow.
    """
    page.goto(voila_server, wait_until="commit", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector("#loading", state="detached", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector("#rendered_cells", state="visible", timeout=RENDER_TIMEOUT_MS)
    return page


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


@pytest.fixture
def save_screenshot(page, request):
    """Call it to save a full-page screenshot as tests/ui/artifacts/<test name>.png; returns the path.

    If the test fails, the page as it was at the failure is saved there too, so CI shows what broke.
    """

    def save() -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / (re.sub(r"[^\w.-]+", "_", request.node.name).strip("_") + ".png")
        page.screenshot(path=str(path), full_page=True)
        return path

    yield save
    if request.node.stash.get(_CALL_FAILED, False):
        save()
