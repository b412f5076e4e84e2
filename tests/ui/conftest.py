"""Browser tests: a Voilà server on dashboard.ipynb, driven in Debian's Chromium by pytest-playwright.

Playwright's own browser downloads are never used: the tests launch /usr/bin/chromium, which
.ci/run installs from Debian's packages.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import voila_server as voila

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
#: How long a test may wait for the dashboard's cells to finish executing (TensorFlow starts slowly).
RENDER_TIMEOUT_MS = 180_000
#: Voilà scrolls inside this element, not the document, so a "full page" is as tall as its content.
SCROLLER = "#rendered_cells"


# --------------------------------------------------------------------------- Voilà server

@pytest.fixture(scope="session")
def voila_server(cifar_dir, tmp_path_factory):
    """Base URL (``http://127.0.0.1:<port>/``) of a Voilà server rendering dashboard.ipynb.

    Started by ``voila_server.start`` (tests/ui/voila_server.py), as the latency benchmark starts it.
    Its log is kept in pytest's temporary folder and shown if it fails to start.
    """
    log_path = tmp_path_factory.mktemp("voila") / "voila.log"
    proc, url = voila.start(log_path, cifar_dir)
    try:
        try:
            voila.wait_until_answering(url, proc, log_path)
        except voila.VoilaError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield url
    finally:
        voila.stop(proc)


# --------------------------------------------------------------------------- Playwright

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": VIEWPORT}


def load_dashboard(page, url: str) -> None:
    """Open the dashboard at ``url`` in ``page`` and return once every cell has executed.

    Voilà streams the page while the kernel runs the cells, behind a ``#loading`` spinner, and reveals
    ``#rendered_cells`` when the last cell is done. Navigation therefore returns at the first byte
    and the waiting is done on those two elements, with a timeout long enough for TensorFlow.
    """
    page.goto(url, wait_until="commit", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector("#loading", state="detached", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector(SCROLLER, state="visible", timeout=RENDER_TIMEOUT_MS)


def full_page_screenshot(page, path: Path) -> Path:
    """Save all of the dashboard as one PNG at ``path``, ``VIEWPORT`` wide.

    Voilà's page is one viewport tall and scrolls inside ``#rendered_cells``, so Playwright's
    ``full_page`` alone captures only the first screen: the viewport is made as tall as the content
    for the shot, then restored.
    """
    size = page.viewport_size
    height = page.evaluate(
        "s => { const el = document.querySelector(s); "
        "return Math.max(el ? el.scrollHeight : 0, document.documentElement.scrollHeight); }",
        SCROLLER,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Chromium cannot capture more than 16,384 pixels in one shot.
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(height, 16_000))})
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)
    return path


def artifact_path(request) -> Path:
    """tests/ui/artifacts/<test name>.png for the running test."""
    return ARTIFACTS / (re.sub(r"[^\w.-]+", "_", request.node.name).strip("_") + ".png")


@pytest.fixture
def dashboard_page(page, voila_server):
    """A fresh Playwright page (and so a fresh kernel) with the dashboard loaded."""
    load_dashboard(page, voila_server)
    return page


@pytest.fixture(scope="module")
def module_dashboard(browser, browser_context_args, voila_server):
    """One page with the dashboard loaded, shared by the tests of a module.

    Every page Voilà serves starts its own kernel, which runs the notebook (TensorFlow, the model,
    CIFAR-10); sharing one page per module pays that once. Tests on it run in file order and must
    read the state they start from off the page.
    """
    context = browser.new_context(**browser_context_args)
    page = context.new_page()
    try:
        load_dashboard(page, voila_server)
        yield page
    finally:
        context.close()


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


@pytest.fixture
def save_screenshot(page, request):
    """Call it to save a full-page screenshot of ``page`` as tests/ui/artifacts/<test name>.png;
    returns the path.

    If the test fails, the page as it was at the failure is saved there too, so CI shows what broke.
    """

    def save() -> Path:
        return full_page_screenshot(page, artifact_path(request))

    yield save
    if request.node.stash.get(_CALL_FAILED, False):
        save()


@pytest.fixture
def screenshot_module_dashboard(module_dashboard, request):
    """Save a full-page screenshot of the module's shared page after the test, passed or failed."""
    yield module_dashboard
    full_page_screenshot(module_dashboard, artifact_path(request))
