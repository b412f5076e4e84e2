"""The installable app: the wheel carries the dashboard and its settings, and `cnnviz` serves them
from a folder that is not the repository.

The wheel is built from this checkout and installed (without its dependencies) into a fresh
virtual environment in a temporary folder; that environment borrows the dependencies of the one
running the tests through a ``.pth`` line, so the test spends no time downloading TensorFlow again.
Everything cnnviz itself brings (the package, the notebook, voila.json, the Voilà template, the
console scripts) comes from the wheel alone.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest
from helpers import environ_without_tf_log_level

from cnnviz_widgets import app_files, cli

ROOT = Path(__file__).resolve().parents[1]
# Builds a wheel and serves two dashboards from it: tens of seconds.
pytestmark = pytest.mark.slow
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CDN_FONT = "cdn.jsdelivr.net/npm/@fortawesome"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(ROOT)], check=True)
    (built,) = out.glob("cnnviz-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment outside the checkout with the wheel installed in it."""
    env_dir = tmp_path_factory.mktemp("fresh") / "venv"
    venv.create(env_dir, with_pip=False)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(env_dir), "platbase": str(env_dir)}))
    # The dependencies, borrowed from this environment; its own cnnviz (an editable install, mapped
    # by an import hook that only this environment's site folder starts) is not among them.
    (site / "borrowed.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"), "install",
                    "--no-deps", "--no-index", "-q", str(wheel)], check=True)
    return env_dir


def test_the_wheel_carries_the_notebook_and_settings_of_the_repository(wheel):
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("cnnviz_widgets/dashboard.ipynb") == (ROOT / "dashboard.ipynb").read_bytes()
        assert archive.read("cnnviz_widgets/voila.json") == (ROOT / "voila.json").read_bytes()
        names = archive.namelist()
    assert any(n.endswith("/data/share/jupyter/voila/templates/cnnviz/index.html.j2") for n in names)
    assert "cnnviz_widgets/assets/cifar_cnn.keras" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as archive:
        scripts = archive.read(entry_points).decode()
    assert "cnnviz = cnnviz_widgets.cli:main" in scripts
    assert "cnnviz-classroom = cnnviz_widgets.serving.classroom:main" in scripts


def test_the_installed_package_finds_its_files_in_itself_not_in_a_checkout(installed, tmp_path):
    out = subprocess.run(
        [str(installed / "bin" / "python"), "-c",
         "from cnnviz_widgets.app_files import app_files; import cnnviz_widgets, json;"
         "print(json.dumps([str(p) for p in app_files()] + [cnnviz_widgets.__file__]))"],
        cwd=tmp_path, capture_output=True, text=True, check=True)
    notebook, settings_dir, package = map(Path, json.loads(out.stdout))
    assert package.parent == settings_dir and notebook == settings_dir / "dashboard.ipynb"
    assert installed in package.parents and ROOT not in package.parents


def _serve(installed: Path, folder: Path, *args: str, ready: str = "") -> tuple[str, str]:
    """(the page, the command's output) of ``cnnviz *args`` run in ``folder``; the page is asked
    for once the output holds ``ready``."""
    port = _free_port()
    log = folder / "cnnviz.log"
    env = environ_without_tf_log_level(CNNVIZ_CIFAR10_DIR=os.environ["CNNVIZ_CIFAR10_DIR"])
    env.pop("JUPYTER_CONFIG_PATH", None)
    # The borrowed dependencies' data files (Voilà's own templates, which cnnviz's extends) are in
    # this environment's share/jupyter, where a full install would have put them beside cnnviz's.
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(installed / "bin" / "cnnviz"), f"--port={port}", "--ip=127.0.0.1", *args],
                                cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while ready not in log.read_text(errors="replace") and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        page = _get(f"http://127.0.0.1:{port}/", proc, log)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    return page, log.read_text(errors="replace")


def _assert_the_dashboard_as_configured(page: str, folder: Path) -> None:
    # The dashboard ran: its widget is on the page, and nothing went wrong on the way.
    assert WIDGET_VIEW in page and '"text/plain": "Dashboard(children=' in page
    assert "Traceback" not in page and "application/vnd.jupyter.stderr" not in page
    # The project's voila.json applied although the folder has none: the cnnviz template (no CDN
    # fonts, unlike Voilà's lab template) and no code on screen.
    assert not (folder / "voila.json").exists()
    assert CDN_FONT not in page
    assert "ModelState.from_default()" not in page


def test_cnnviz_serves_the_dashboard_from_a_folder_outside_the_repository(installed, tmp_path):
    page, output = _serve(installed, tmp_path, "--no-browser")
    _assert_the_dashboard_as_configured(page, tmp_path)
    assert "serving dashboard.ipynb on http://127.0.0.1:" in output


def test_cnnviz_serves_a_class_from_a_folder_outside_the_repository(installed, tmp_path):
    page, output = _serve(installed, tmp_path, "--classroom", "1", ready="ready: 1 students")
    _assert_the_dashboard_as_configured(page, tmp_path)
    # The page came from the kernel warmed before it was asked for.
    assert "warming 1 kernels" in output and "ready: 1 students, http://127.0.0.1:" in output


def test_cli_rejects_impossible_settings_with_a_sentence(capsys):
    for argv, message in ((["--port", "70000"], "--port must be between 1 and 65535"),
                          (["--classroom", "0"], "--classroom must be at least 1 student")):
        with pytest.raises(SystemExit) as stop:
            cli.main(argv)
        assert stop.value.code == 2
        assert message in capsys.readouterr().err


def test_app_files_say_how_to_fix_a_package_without_them(tmp_path):
    (tmp_path / "pkg").mkdir()
    with pytest.raises(app_files.AppFilesMissing, match="pip install ."):
        app_files.app_files(tmp_path / "pkg")


def test_voila_environment_puts_the_project_settings_first_once():
    env = app_files.voila_environment(Path("/app"), {"JUPYTER_CONFIG_PATH": os.pathsep.join(["/a", "/app"])})
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep) == ["/app", "/a"]
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "3"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, proc: subprocess.Popen, log: Path, timeout: float = 240) -> str:
    """The page, once the server answers (the first page runs the dashboard: tens of seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"cnnviz exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            # Voilà answers once the notebook has run: on a busy machine, tens of seconds.
            with urllib.request.urlopen(url, timeout=max(1.0, deadline - time.monotonic())) as response:
                return _read_until(response, deadline).decode()
        except (ConnectionError, urllib.error.URLError):
            time.sleep(0.5)
    raise AssertionError(f"cnnviz gave no whole page within {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


def _read_until(response, deadline: float) -> bytes:
    """The whole body; a page that stops half way (a template error) fails at the deadline."""
    chunks = []
    while chunk := response.read1(65536):
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise AssertionError("the page did not finish: " + b"".join(chunks)[-500:].decode(errors="replace"))
    return b"".join(chunks)
