"""Start and stop a Voilà server on dashboard.ipynb, for the browser tests and the latency benchmark.

Plain functions with no pytest in them, so ``benchmarks/browser_latency.py`` starts the server the
same way the tests' ``voila_server`` fixture does.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Seconds the server may take to answer its first request.
SERVER_START_TIMEOUT = 120


class VoilaError(RuntimeError):
    """Voilà exited or did not answer in time; the message ends with the tail of its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


def start(log_path: Path, cifar_dir=None, port: int | None = None,
          extra_args=(), root: Path = REPO_ROOT) -> tuple[subprocess.Popen, str]:
    """Start ``voila dashboard.ipynb`` from the repository root; returns (process, base URL).

    Started from the repository root, so Voilà reads the top-level voila.json. Standalone Voilà
    needs no token and does not refuse root. Its output goes to ``log_path``. The server leads
    its own process group, so ``stop`` can signal all of it. Returns at once: call
    ``wait_until_answering`` before loading the page. ``extra_args`` are more Voilà options
    (e.g. ``--preheat_kernel=True``), after the project's own. ``root`` serves another checkout
    (its notebook, its voila.json and, first on ``PYTHONPATH``, its package), e.g. to time two
    versions in one run.
    """
    port = free_port() if port is None else port
    url = f"http://127.0.0.1:{port}/"
    # As a student starts it: without TF_CPP_MIN_LOG_LEVEL, which the package sets for itself.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if cifar_dir is not None:
        env["CNNVIZ_CIFAR10_DIR"] = str(cifar_dir)
    if Path(root).resolve() != REPO_ROOT:
        env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
    command = [
        sys.executable, "-m", "voila", "dashboard.ipynb",
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",  # fail rather than silently serve on another port
        *extra_args,
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, url


def wait_until_answering(url: str, proc: subprocess.Popen, log_path: Path,
                         timeout: float = SERVER_START_TIMEOUT) -> None:
    """Return once the server answers HTTP; raise VoilaError if it exits or stays silent."""
    # A static file answers without starting a kernel, unlike the dashboard page itself.
    probe = url + "voila/static/favicon.ico"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise VoilaError(f"Voilà exited with code {proc.returncode} before answering:\n"
                             f"{log_tail(log_path)}")
        try:
            with urllib.request.urlopen(probe, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # any HTTP status means the server is up
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise VoilaError(f"Voilà did not answer on {url} within {timeout:.0f} s:\n{log_tail(log_path)}")


def child_pids(pid: int) -> list:
    """Pids of the live processes whose parent is ``pid``, from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the parent pid follows it.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (Voilà shuts its kernels down on SIGTERM), then SIGKILL."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
