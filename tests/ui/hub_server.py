"""Start and stop a real JupyterHub with deploy/jupyterhub_config.py, for the browser tests.

The hub runs the shipped configuration with test-only overrides written to a configuration file in a
temporary folder: the dummy authenticator (any name logs in), the local-process spawner that needs no
system accounts, loopback addresses on free ports, its database, cookie secret and users' homes in that
folder. It needs configurable-http-proxy on PATH (``npm install -g configurable-http-proxy``; .ci/run
installs it).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import voila_server
from voila_server import free_port, log_tail

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_CONFIG = REPO_ROOT / "deploy" / "jupyterhub_config.py"
PROXY = "configurable-http-proxy"
PROXY_INSTALL = "npm install -g configurable-http-proxy"
#: Seconds the hub (and the proxy it starts) may take to answer.
HUB_START_TIMEOUT = 60

TEST_CONFIG = """\
# Written by tests/ui/hub_server.py: the shipped configuration, then what only a test may do.
load_subconfig({deploy!r})

c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {homes!r} + "/{{username}}"
c.JupyterHub.bind_url = {url!r}
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.JupyterHub.db_url = "sqlite:///" + {folder!r} + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = {folder!r} + "/jupyterhub_cookie_secret"
c.Spawner.args = [*c.Spawner.args, *{extra_args!r}]
c.JupyterHub.services = [*c.JupyterHub.services, {{"name": "test-observer", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [*c.JupyterHub.load_roles, {{
    "name": "test-observer",
    "scopes": ["list:users", "read:users", "read:servers"],
    "services": ["test-observer"],
}}]
"""


class HubError(RuntimeError):
    """A piece of the hub is missing, or the hub exited or did not answer in time."""


class Hub:
    """A running JupyterHub: its public URL, its process and a read-only API token."""

    def __init__(self, proc: subprocess.Popen, url: str, token: str, log_path: Path):
        self.proc, self.url, self.token, self.log_path = proc, url, token, log_path

    def api(self, path: str):
        """GET ``/hub/api/<path>`` as the test's observer service; the decoded JSON."""
        request = urllib.request.Request(self.url + "hub/api/" + path,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def running_servers(self) -> dict:
        """{user name: server URL} for every user whose server is running."""
        return {u["name"]: s["url"] for u in self.api("users")
                for s in u.get("servers", {}).values() if s.get("ready")}

    def log_in(self, page, name: str) -> None:
        """Log ``name`` in through the hub's own login form in ``page`` (a Playwright page).

        Returns once the form is sent; the hub then starts the user's server and sends the page on
        to it (to Spawner.default_url), which takes as long as a kernel takes to run the dashboard.
        """
        page.goto(self.url + "hub/login")
        page.fill("input[name=username]", name)
        page.fill("input[name=password]", "any")
        page.locator("form [type=submit]").click(no_wait_after=True)

    def processes(self) -> list:
        """(pid, command line) of every process the hub started, directly or not."""
        return [(pid, command_line(pid)) for pid in descendants(self.proc.pid)]


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def descendants(root: int) -> list:
    """Pids of every live process below ``root``, from /proc's parent links."""
    found, todo = [], [root]
    while todo:
        for child in voila_server.child_pids(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def start(folder: Path, cifar_dir=None) -> Hub:
    """Start JupyterHub in ``folder`` (which receives its database, secret, log and homes)."""
    proxy = shutil.which(PROXY)
    if proxy is None:
        raise HubError(f"{PROXY} is not on PATH: install it with `{PROXY_INSTALL}` "
                       "(.ci/run installs the version CI uses)")
    folder = Path(folder)
    (folder / "homes").mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    token = secrets.token_hex(32)
    # jupyter-server refuses to run as root without this; CI runs the tests as root.
    extra_args = ["--allow-root"] if os.geteuid() == 0 else []
    config = folder / "jupyterhub_config.py"
    config.write_text(TEST_CONFIG.format(
        deploy=str(DEPLOY_CONFIG), homes=str(folder / "homes"), url=url, hub_port=free_port(),
        proxy_api_port=free_port(), proxy=proxy, folder=str(folder), extra_args=extra_args,
        token=token,
    ))
    env = dict(os.environ)
    if cifar_dir is not None:
        env["CNNVIZ_CIFAR10_DIR"] = str(cifar_dir)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # The spawner starts `jupyterhub-singleuser` from PATH: the one beside this Python.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    log_path = folder / "jupyterhub.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Hub(proc, url, token, log_path)


def wait_until_answering(hub: Hub, timeout: float = HUB_START_TIMEOUT) -> None:
    """Return once the hub answers its API through the proxy; raise HubError if it exits or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hub.proc.poll() is not None:
            raise HubError(f"JupyterHub exited with code {hub.proc.returncode}:\n{log_tail(hub.log_path)}")
        try:
            hub.api("users")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise HubError(f"JupyterHub did not answer on {hub.url} within {timeout:.0f} s:\n"
                   f"{log_tail(hub.log_path)}")


def stop(hub: Hub) -> None:
    """SIGTERM the hub, which stops the users' servers and the proxy; then kill whatever is left.

    The users' servers run in Unix sessions of their own, so they are listed from /proc first,
    while the hub is still their parent.
    """
    left = hub.processes()
    if hub.proc.poll() is None:
        hub.proc.send_signal(signal.SIGTERM)
        try:
            hub.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            hub.proc.kill()
            hub.proc.wait(timeout=10)
    for pid, command in left:
        # A pid whose command line changed was reused by another process: not ours to kill.
        if command and command_line(pid) == command:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
