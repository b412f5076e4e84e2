"""A class on one server, in Chromium: several students at once, a killed kernel, a full server,
and the classroom command's warm pool.

Each student is a browser context of its own (own cookies, own kernel). What a page shows is
checked against the model's own answer for the image, computed here in the test process.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import voila_server as voila
from conftest import RENDER_TIMEOUT_MS, full_page_screenshot, load_dashboard
from linked_view import LINKED_QUERY, check_linked_view
from playwright.sync_api import expect

from cnnviz_widgets.serving.capacity import cpu_seconds
from cnnviz_widgets.serving.classroom import FULL_MESSAGE
from cnnviz_widgets.serving.connection import KERNEL_LOST

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
STUDENTS = 4
UPDATE_MS = 60_000
#: A killed kernel is noticed by the server's next check (10 s) and by the page's next look (3 s).
LOST_MS = 60_000
READY_TIMEOUT_S = 300
#: The classroom's address: loopback, but not the 127.0.0.1 Voilà's kernels assume.
CLASSROOM_IP = "127.0.0.2"

CAPTION = ".cnnviz-section-picker [class^='cnnviz-caption']"
NUMBER_BOX = ".cnnviz-section-picker input[type=number]"
MONTAGE = ".cnnviz-section-features img.widget-image >> nth=0"
SOFTMAX_BARS = ".cnnviz-section-softmax rect.bar"
SLIDER = ".cnnviz-section-picker .widget-slider"


# --------------------------------------------------------------------------- helpers

def expected_caption(cifar_model, cifar_test, i: int) -> str:
    """The picker's caption for test image ``i``, from a plain Keras call."""
    images, labels, names = cifar_test
    probs = np.asarray(cifar_model(images[i:i + 1].astype(np.float32) / 255.0, training=False))[0]
    pred = int(np.argmax(probs))
    return f"True: {names[int(labels[i])]} · Predicted: {names[pred]} ({100 * float(probs[pred]):.1f} %)"


def check_drawn(page) -> None:
    """Widgets drawn: the picker's slider, a loaded feature montage, and, once the student scrolls
    to section 8 (built as it comes near), ten softmax bars with widths."""
    expect(page.locator(SLIDER)).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    page.wait_for_function("s => { const i = document.querySelector(s); return i && i.naturalWidth > 0; }",
                           arg=".cnnviz-section-features img.widget-image", timeout=RENDER_TIMEOUT_MS)
    page.locator(".cnnviz-section-softmax").scroll_into_view_if_needed(timeout=RENDER_TIMEOUT_MS)
    expect(page.locator(SOFTMAX_BARS)).to_have_count(10, timeout=RENDER_TIMEOUT_MS)
    widths = [float(w or 0) for w in page.locator(SOFTMAX_BARS).evaluate_all(
        "bars => bars.map(b => b.getAttribute('width'))")]
    assert max(widths) > 0


def show_image(page, i: int, caption: str) -> None:
    """Type image ``i`` in the picker and wait until the caption reads ``caption``."""
    box = page.locator(NUMBER_BOX)
    box.fill(str(i))
    box.press("Enter")
    expect(page.locator(CAPTION)).to_have_text(caption, timeout=UPDATE_MS)


def kernel_id(page) -> str:
    return page.evaluate("JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId")


def kernel_pid(kid: str) -> int | None:
    """The process of the kernel whose connection file names ``kid``."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"kernel-{kid}.json" in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    return int(entry.name)
            except OSError:
                continue
    return None


def open_at_once(pages, url: str) -> None:
    """Start every page's navigation without waiting for any, as a class clicking the link together."""
    for page in pages:
        page.goto("about:blank")
    for page in pages:
        page.evaluate("u => { window.location.href = u; }", url)
    for page in pages:
        page.wait_for_url(url + "*", timeout=RENDER_TIMEOUT_MS, wait_until="commit")
        page.wait_for_selector("#loading", state="detached", timeout=RENDER_TIMEOUT_MS)
        page.wait_for_selector("#rendered_cells", state="visible", timeout=RENDER_TIMEOUT_MS)


# --------------------------------------------------------------------------- several students

@pytest.fixture(scope="module")
def students(browser, browser_context_args, voila_server):
    """``STUDENTS`` pages, each in its own browser context, opened on the server at once."""
    contexts = [browser.new_context(**browser_context_args) for _ in range(STUDENTS)]
    pages = [c.new_page() for c in contexts]
    try:
        open_at_once(pages, voila_server)
        yield pages
    finally:
        for context in contexts:
            context.close()


def test_every_student_gets_an_interactive_dashboard_of_their_own(students, cifar_model, cifar_test):
    first = expected_caption(cifar_model, cifar_test, 0)
    for page in students:
        check_drawn(page)
        expect(page.locator(CAPTION)).to_have_text(first, timeout=UPDATE_MS)
    assert len({kernel_id(p) for p in students}) == STUDENTS

    # One student changes image: their page repaints, nobody else's changes.
    picks = [17, 42, 101, 256][:STUDENTS]
    montages = [p.locator(MONTAGE).get_attribute("src") for p in students]
    show_image(students[0], picks[0], expected_caption(cifar_model, cifar_test, picks[0]))
    expect(students[0].locator(MONTAGE)).not_to_have_attribute("src", montages[0], timeout=UPDATE_MS)
    for page, montage in zip(students[1:], montages[1:]):
        assert page.locator(CAPTION).inner_text() == first
        assert page.locator(MONTAGE).get_attribute("src") == montage

    # Every student on an image of their own: each page shows its own.
    for page, i in zip(students[1:], picks[1:]):
        show_image(page, i, expected_caption(cifar_model, cifar_test, i))
    for page, i in zip(students, picks):
        assert page.locator(CAPTION).inner_text() == expected_caption(cifar_model, cifar_test, i)
        assert page.locator(".cnnviz-kernel-lost").count() == 0
    assert len({p.locator(MONTAGE).get_attribute("src") for p in students}) == STUDENTS
    for k, page in enumerate(students):
        full_page_screenshot(page, ARTIFACTS / f"test_classroom_student_{k}.png")


def test_a_killed_kernel_is_reported_to_its_student_only(students, cifar_model, cifar_test, page_watch):
    victim, other = students[1], students[2]
    pid = kernel_pid(kernel_id(victim))
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    banner = victim.locator(".cnnviz-kernel-lost")
    expect(banner.locator("span")).to_have_text(KERNEL_LOST, timeout=LOST_MS)
    expect(banner).to_be_in_viewport()
    full_page_screenshot(victim, ARTIFACTS / "test_classroom_killed_kernel.png")
    # Another student still works, without a banner.
    show_image(other, 7, expected_caption(cifar_model, cifar_test, 7))
    assert other.locator(".cnnviz-kernel-lost").count() == 0
    # The banner's button does what it says: a fresh dashboard on a new kernel.
    old = kernel_id(victim)
    with victim.expect_navigation(wait_until="commit", timeout=RENDER_TIMEOUT_MS):
        banner.get_by_role("button", name="Reload").click()
    victim.wait_for_selector("#rendered_cells", state="visible", timeout=RENDER_TIMEOUT_MS)
    check_drawn(victim)
    assert kernel_id(victim) != old and victim.locator(".cnnviz-kernel-lost").count() == 0
    # The lost kernel's page logged its failed requests; nothing else may have.
    errors = page_watch.take_errors()
    assert errors and all(old in e for e in errors), errors


def test_a_reloaded_page_frees_its_old_kernel(students):
    page = students[3]
    old = kernel_id(page)
    old_pid = kernel_pid(old)
    assert old_pid is not None
    page.reload(wait_until="commit", timeout=RENDER_TIMEOUT_MS)
    # The page's own shutdown request on unload passes the XSRF check: the old kernel goes at once
    # (the server's disconnection check alone would take up to 30 s).
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and Path(f"/proc/{old_pid}").exists():
        time.sleep(0.2)
    assert not Path(f"/proc/{old_pid}").exists()
    page.wait_for_selector("#rendered_cells", state="visible", timeout=RENDER_TIMEOUT_MS)
    assert kernel_id(page) != old
    check_drawn(page)


# --------------------------------------------------------------------------- a full server

def test_a_full_server_says_so(page, cifar_dir, tmp_path, page_watch):
    """With no memory to spare (all of it reserved), the first student already finds it full."""
    log = tmp_path / "voila.log"
    proc, url = voila.start(log, cifar_dir, extra_args=["--GuardedKernelManager.reserve_mib=1e9"])
    try:
        voila.wait_until_answering(url, proc, log)
        response = page.goto(url, timeout=RENDER_TIMEOUT_MS)
        assert response.status == 503
        heading = page.locator("h1")
        expect(heading).to_have_text(f"503: {FULL_MESSAGE}")
        expect(page.locator("p")).to_contain_text("tries again by itself in a minute")
        refresh = page.locator("meta[http-equiv=refresh]").get_attribute("content")
        assert refresh == "60"
        full_page_screenshot(page, ARTIFACTS / "test_classroom_server_full.png")
        # The browser logs the 503 itself, and nothing else: the page asks for nothing more.
        errors = page_watch.take_errors()
        assert len(errors) == 1 and "status of 503" in errors[0], errors
        assert page_watch.requests(page) == [url]
        assert "Refusing a new kernel: memory" in log.read_text()
        assert "Kernel started" not in log.read_text()
    finally:
        voila.stop(proc)


# --------------------------------------------------------------------------- classroom command

@pytest.fixture(scope="module")
def classroom(cifar_dir, tmp_path_factory):
    """``python -m cnnviz_widgets.classroom --students 2`` on one loopback address that is not
    127.0.0.1 (as a teacher's ``--ip 192.168.1.20``: a warm kernel must be told where to ask for
    its page's request), once it printed ``ready:``.

    Yields (base URL, every line it printed up to and including the ready line, log path).
    """
    folder = tmp_path_factory.mktemp("classroom")
    out, log = folder / "stdout.txt", folder / "voila.log"
    port = voila.free_port()
    env = {**os.environ, "CNNVIZ_CIFAR10_DIR": str(cifar_dir), "TF_CPP_MIN_LOG_LEVEL": "3"}
    with open(out, "wb") as stdout, open(log, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cnnviz_widgets.classroom", "--students", "2", "--port", str(port),
             "--ip", CLASSROOM_IP],
            cwd=voila.REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
            start_new_session=True)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            lines = out.read_text().splitlines()
            if any(line.startswith("ready:") for line in lines) or proc.poll() is not None:
                break
            time.sleep(0.5)
        lines = out.read_text().splitlines()
        if not any(line.startswith("ready:") for line in lines):
            pytest.fail(f"no ready line; stdout:\n{out.read_text()}\nlog:\n{voila.log_tail(log)}", pytrace=False)
        yield f"http://{CLASSROOM_IP}:{port}/", lines, log
    finally:
        voila.stop(proc)


def test_classroom_prints_capacity_then_ready(classroom):
    url, lines, _log = classroom
    ready = next(k for k, line in enumerate(lines) if line.startswith("ready:"))
    assert lines[ready] == f"ready: 2 students, {url}"
    assert not any(line.lower().startswith("ready") for line in lines[:ready])
    estimate = "\n".join(lines[:ready])
    cores = os.cpu_count()
    assert f"this machine: {cores} cores" in estimate
    match = re.search(r"one student costs (\d+) MiB \(PSS\) and ([\d.]+) CPU-seconds", estimate)
    assert match, estimate
    # A kernel with TensorFlow, the model and CIFAR-10 loaded: hundreds of MiB, seconds of CPU.
    assert 150 < int(match.group(1)) < 2000 and float(match.group(2)) > 1.0


def test_classroom_serves_a_warm_kernel_at_once_and_it_is_interactive(classroom, page, cifar_model,
                                                                      cifar_test):
    url, _lines, log = classroom
    start = time.perf_counter()
    with urllib.request.urlopen(url + "?student=a", timeout=120) as reply:
        html = reply.read().decode()
    elapsed = time.perf_counter() - start
    print(f"whole page from the pool in {elapsed * 1000:.0f} ms")
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                  html, re.S).group(1))
    # The kernel existed before the request and had already run the dashboard: seconds of CPU.
    pid = kernel_pid(config["kernelId"])
    assert pid is not None and cpu_seconds(pid) > 1.0
    assert html.rstrip().endswith("</html>") and "application/vnd.jupyter.widget-view+json" in html
    assert "Using pre-heated kernel: " + config["kernelId"] in log.read_text()

    # The second warm kernel, in Chromium, on a link to a view (and a parameter the dashboard does
    # not need): the kernel ran the dashboard before the request, yet the page opens on the view,
    # from its first drawing on.
    load_dashboard(page, url + "?" + LINKED_QUERY + "&student=b")
    check_linked_view(page, cifar_model, cifar_test)
    check_drawn(page)
    expect(page.locator(".cnnviz-status")).to_have_text(
        "Left out of the link: 'student' (the dashboard reads image, layer, heatmap, class, panel, epoch).")
    full_page_screenshot(page, ARTIFACTS / "test_classroom_warm_kernel_link.png")
    show_image(page, 5, expected_caption(cifar_model, cifar_test, 5))
    full_page_screenshot(page, ARTIFACTS / "test_classroom_warm_kernel.png")
    assert f"Using pre-heated kernel: {kernel_id(page)}" in log.read_text()
