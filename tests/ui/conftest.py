"""Browser tests: a Voilà server on dashboard.ipynb, driven in Debian's Chromium by pytest-playwright.

Playwright's own browser downloads are never used: the tests launch /usr/bin/chromium, which
.ci/run installs from Debian's packages.

Two checks hold for every test here, whatever pages it uses (the ``page`` fixture, the module's
shared ``module_dashboard``, or pages it opens itself with ``browser.new_context()`` or
``browser.new_page()``):

- the test fails if a page wrote an error to the browser console (``console.error``, a resource
  that failed to load) or threw an uncaught exception, with the messages in the failure;
- when the test fails, every page still open is saved as tests/ui/artifacts/<test name>.png; with
  ``CNNVIZ_SCREENSHOTS=all`` in the environment, after every test (to look at them all). Tests that
  look at a picture on purpose save their own, always.

A test that makes a page log errors on purpose takes them itself with ``page_watch.take_errors()``
and asserts on them; whatever it leaves is reported.
"""
from __future__ import annotations

import os
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
#: Save every test's pages, not only a failing test's (``CNNVIZ_SCREENSHOTS=all``).
SCREENSHOT_EVERY_TEST = os.environ.get("CNNVIZ_SCREENSHOTS") == "all"


# --------------------------------------------------------------------------- Voilà server

@pytest.fixture(scope="session")
def voila_log(tmp_path_factory) -> Path:
    """The file that receives the Voilà server's output and its kernels': what a student's terminal shows."""
    return tmp_path_factory.mktemp("voila") / "voila.log"


@pytest.fixture(scope="session")
def voila_server(cifar_dir, voila_log):
    """Base URL (``http://127.0.0.1:<port>/``) of a Voilà server rendering dashboard.ipynb.

    Started by ``voila_server.start`` (tests/ui/voila_server.py), as the latency benchmark starts it.
    Its log (``voila_log``) is shown if it fails to start.
    """
    proc, url = voila.start(voila_log, cifar_dir)
    try:
        try:
            voila.wait_until_answering(url, proc, voila_log)
        except voila.VoilaError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield url
    finally:
        voila.stop(proc)


# --------------------------------------------------------------------------- watching every page

class PageWatch:
    """Listens to every page the tests open: errors in its console, uncaught exceptions, requests.

    Errors are kept in arrival order and handed out once (``take_errors``), so each test is told
    about the errors that appeared since the previous test was checked, including those of the
    fixtures it set up. Each error says in which test and phase it appeared.
    """

    def __init__(self):
        self._errors: list[str] = []
        #: Open pages, each with the URLs it has requested so far.
        self._requests: dict = {}
        #: Where the tests are: "<test id> (setup|call|teardown)".
        self.now = "before the first test"

    def watch_context(self, context):
        """Watch every page of ``context``: those it has and those it will open (popups too)."""
        context.on("page", self.watch_page)
        for page in context.pages:
            self.watch_page(page)
        return context

    def watch_page(self, page):
        if page in self._requests:
            return
        self._requests[page] = []
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)
        page.on("request", lambda request: self._requests[page].append(request.url))
        page.on("websocket", lambda socket: self._requests[page].append(socket.url))
        page.on("close", lambda _: self._requests.pop(page, None))

    def _on_console(self, message):
        if message.type == "error":
            where = message.location
            source = f" ({where['url']}:{where['lineNumber']})" if where and where.get("url") else ""
            self._errors.append(f"[{self.now}] console error: {message.text}{source}")

    def _on_page_error(self, error):
        self._errors.append(f"[{self.now}] uncaught {error.name or 'exception'}: {error.message}")

    @property
    def open_pages(self) -> list:
        return [page for page in self._requests if not page.is_closed()]

    def requests(self, page) -> list[str]:
        """Every URL ``page`` has requested since it opened (websockets too), in order."""
        return list(self._requests[page])

    def take_errors(self) -> list[str]:
        """The errors not handed out before; they are then forgotten."""
        errors, self._errors = self._errors, []
        return errors

    @staticmethod
    def report(errors: list[str]) -> str:
        return f"the browser console shows {len(errors)} error(s):\n  " + "\n  ".join(errors)

    def check(self, errors: list[str]) -> None:
        """Fail the running test if ``errors`` (from ``take_errors``) is not empty."""
        if errors:
            pytest.fail(self.report(errors), pytrace=False)


#: The one watcher of this test session (``browser`` hands it every context and page).
WATCH = PageWatch()


def screenshot_open_pages(item) -> list[Path]:
    """Save every open page as tests/ui/artifacts/<test name>.png (then -2.png, -3.png, ...)."""
    base = artifact_path(item)
    paths = []
    for number, page in enumerate(WATCH.open_pages, start=1):
        path = base if number == 1 else base.with_name(f"{base.stem}-{number}.png")
        paths.append(full_page_screenshot(page, path))
    return paths


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    WATCH.now = f"{item.nodeid} setup"
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After the test body, while its pages are still open: screenshots, then the console check.

    Done here rather than in a fixture's teardown so that console errors fail the test itself.
    """
    WATCH.now = f"{item.nodeid} call"
    try:
        result = yield
    except BaseException as exc:
        # The test failed (or skipped): still keep its pictures and say what the console said.
        try:
            screenshot_open_pages(item)
        except Exception as shot_error:  # a crashed page must not hide the test's own failure
            exc.add_note(f"no screenshot: {shot_error}")
        errors = WATCH.take_errors()
        if errors:
            exc.add_note(WATCH.report(errors))
        raise
    # A round trip to every page (a screenshot, or an empty script), so the console messages a
    # page sent before it are in by now.
    if SCREENSHOT_EVERY_TEST:
        screenshot_open_pages(item)
    else:
        for page in WATCH.open_pages:
            page.evaluate("0")
    errors = WATCH.take_errors()
    if errors:
        screenshot_open_pages(item)
    WATCH.check(errors)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    WATCH.now = f"{item.nodeid} teardown"
    result = yield
    # Errors logged while the fixtures closed (pages, contexts, a module's shared page).
    WATCH.check(WATCH.take_errors())
    return result


# --------------------------------------------------------------------------- Playwright

@pytest.fixture(scope="session")
def browser(browser):
    """pytest-playwright's browser, with every context and page it makes watched by ``WATCH``.

    The plugin's ``context`` and ``page`` fixtures, ``module_dashboard`` and a test's own
    ``browser.new_context()`` or ``browser.new_page()`` all go through these two methods.
    """
    new_context, new_page = browser.new_context, browser.new_page

    def watched_new_context(*args, **kwargs):
        return WATCH.watch_context(new_context(*args, **kwargs))

    def watched_new_page(*args, **kwargs):
        page = new_page(*args, **kwargs)
        WATCH.watch_context(page.context)
        return page

    browser.new_context, browser.new_page = watched_new_context, watched_new_page
    yield browser
    browser.new_context, browser.new_page = new_context, new_page


@pytest.fixture
def page_watch():
    """The session's ``PageWatch``: the requests a page made, the errors not yet reported."""
    return WATCH


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
    show_every_section(page)


def show_every_section(page) -> None:
    """Open every section the dashboard builds only when the student scrolls near it (what a
    student who scrolls down the page gets), and wait until each one's panel is drawn. The
    sections' "show" buttons are pressed where they are, so the page stays scrolled as it was."""
    from cnnviz_widgets.dashboard import DEFERRED

    page.wait_for_function(
        """keys => {
            document.querySelectorAll('.cnnviz-lazy button').forEach(button => {
                if (!button.dataset.pressed) { button.dataset.pressed = '1'; button.click(); }
            });
            return keys.every(key => document.querySelector(`.cnnviz-section-${key} .cnnviz-widget`));
        }""", arg=list(DEFERRED), timeout=RENDER_TIMEOUT_MS, polling=250)


def full_page_screenshot(page, path: Path) -> Path:
    """Save all of the dashboard as one PNG at ``path``, ``VIEWPORT`` wide.

    Voilà's page is one viewport tall and scrolls inside ``#rendered_cells``, so Playwright's
    ``full_page`` alone captures only the first screen: the viewport is made as tall as the content
    for the shot, then restored.
    """
    size = page.viewport_size
    path.parent.mkdir(parents=True, exist_ok=True)
    if size is None:  # a context made with no_viewport: the window's own size
        page.screenshot(path=str(path), full_page=True)
        return path
    height = page.evaluate(
        "s => { const el = document.querySelector(s); "
        "return Math.max(el ? el.scrollHeight : 0, document.documentElement.scrollHeight); }",
        SCROLLER,
    )
    # Chromium cannot capture more than 16,384 pixels in one shot.
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(height, 16_000))})
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)
    return path


def wait_until_settled(page, timeout_ms: int = 30_000) -> None:
    """Return once every picture of the page is decoded and the browser has drawn two frames since:
    what the page was sent is laid out (in place of a fixed pause)."""
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=timeout_ms)
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def artifact_path(item) -> Path:
    """tests/ui/artifacts/<test name>.png for the test ``item``."""
    return ARTIFACTS / (re.sub(r"[^\w.-]+", "_", item.name).strip("_") + ".png")


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


@pytest.fixture
def screenshot_module_dashboard(module_dashboard):
    """``module_dashboard``, for the tests that still name this fixture: every test's pages are now
    saved after it anyway (``pytest_runtest_call``)."""
    return module_dashboard
