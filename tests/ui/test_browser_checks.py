"""The checks tests/ui/conftest.py gives every browser test, checked on pages that misbehave on purpose.

Whatever way a test opens a page, an error in its console or an uncaught exception fails the test
with the message in the failure, and the page is saved as a screenshot (a passing test's pages only
with CNNVIZ_SCREENSHOTS=all). These tests make pages
that log errors and show that the check catches each of them, so the check cannot be silently off.
"""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

UI_DIR = Path(__file__).resolve().parent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_console_errors_and_uncaught_exceptions_of_any_page_are_caught(browser, page, page_watch, request):
    assert page_watch.take_errors() == []  # nothing left over from the fixtures

    # The page fixture's page.
    page.set_content("<p>the page fixture</p>")
    page.evaluate("console.log('a plain log'); console.warn('a warning'); "
                  "console.error('error one, from the page fixture')")
    # A page in a context the test makes itself, and a popup that page opens.
    context = browser.new_context()
    try:
        own = context.new_page()
        own.set_content("<button onclick='notDefinedAnywhere()'>go</button>")
        with own.expect_event("pageerror"):
            own.click("button")
        with own.expect_popup() as popup_info:
            own.evaluate("window.open('about:blank')")
        popup_info.value.evaluate("console.error('error three, from a popup')")
        # A page from browser.new_page(), which makes its own context.
        lone = browser.new_page()
        lone.evaluate("console.error('error four, from browser.new_page')")
        lone.close()
    finally:
        context.close()

    errors = page_watch.take_errors()
    assert len(errors) == 4, errors
    assert "console error: error one, from the page fixture" in errors[0]
    assert "uncaught ReferenceError: notDefinedAnywhere is not defined" in errors[1]
    assert "console error: error three, from a popup" in errors[2]
    assert "console error: error four, from browser.new_page" in errors[3]
    # Each says in which test it appeared; logs and warnings are not errors.
    assert all(f"[{request.node.nodeid} call]" in e for e in errors)
    assert not [e for e in errors if "a plain log" in e or "a warning" in e]

    # The check turns them into a failure that quotes every message; once reported they are gone.
    with pytest.raises(pytest.fail.Exception) as failure:
        page_watch.check(errors)
    assert "the browser console shows 4 error(s)" in str(failure.value)
    assert all(e in str(failure.value) for e in errors)
    assert page_watch.take_errors() == []


INNER_TESTS = '''
def test_clean(page):
    page.set_content("<h1>all quiet</h1>")


def test_logs_an_error(page):
    page.set_content("<h1>noisy</h1>")
    page.evaluate("console.error('deliberate error from a test')")


def test_throws_on_its_own_page(browser):
    page = browser.new_context().new_page()
    page.set_content("<script>throw new RangeError('deliberate throw')</script>")


def test_shared_page_logs_during_setup(module_page):
    pass


import pytest


@pytest.fixture(scope="module")
def module_page(browser):
    page = browser.new_context().new_page()
    page.evaluate("console.error('deliberate error while a module fixture loads')")
    yield page
'''


@pytest.mark.parametrize("screenshots", ["failures", "all"])
def test_a_test_whose_page_logs_an_error_fails_and_leaves_a_screenshot(tmp_path, screenshots):
    """Runs pytest on four small browser tests with this folder's conftest, in a fresh process."""
    for name in ("conftest.py", "voila_server.py"):
        (tmp_path / name).write_text((UI_DIR / name).read_text())
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    report = tmp_path / "report.xml"
    env = {k: v for k, v in os.environ.items() if k != "CNNVIZ_SCREENSHOTS"}
    if screenshots == "all":
        env["CNNVIZ_SCREENSHOTS"] = "all"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=",
         f"--rootdir={tmp_path}", f"--junitxml={report}", "test_inner.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )
    assert report.exists(), run.stdout + run.stderr
    cases = {case.get("name").removesuffix("[chromium]"): case
             for case in ET.parse(report).getroot().iter("testcase")}
    assert sorted(cases) == ["test_clean", "test_logs_an_error", "test_shared_page_logs_during_setup",
                             "test_throws_on_its_own_page"], run.stdout

    def failure_text(name):
        found = cases[name].find("failure")
        return None if found is None else found.get("message", "") + (found.text or "")

    assert failure_text("test_clean") is None, failure_text("test_clean")
    assert "console error: deliberate error from a test" in failure_text("test_logs_an_error")
    assert "uncaught RangeError: deliberate throw" in failure_text("test_throws_on_its_own_page")
    # An error logged while a shared fixture set up fails the first test that uses it.
    setup_failure = failure_text("test_shared_page_logs_during_setup")
    assert "deliberate error while a module fixture loads" in setup_failure
    assert "[test_inner.py::test_shared_page_logs_during_setup[chromium] setup]" in setup_failure
    assert run.returncode == 1

    for name in cases:
        shot = tmp_path / "artifacts" / f"{name}_chromium.png"
        if screenshots == "all" or failure_text(name) is not None:
            assert shot.read_bytes()[:8] == PNG_SIGNATURE, name
        else:
            assert not shot.exists(), name
