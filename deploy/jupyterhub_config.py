"""JupyterHub on one machine for a class: every user who logs in lands in the cnnviz dashboard.

Run from a checkout of this repository, in the environment that has cnnviz installed::

    pip install -e ".[hub]"            # JupyterHub, the idle culler
    npm install -g configurable-http-proxy@5.2.0
    jupyterhub -f deploy/jupyterhub_config.py

Each user gets their own Jupyter server with the Voilà extension, which runs dashboard.ipynb in that
user's own kernel; nobody sees the notebook's code. On Kubernetes, deploy/z2jh-values.yaml sets the
same things for Zero to JupyterHub. deploy/README.md explains the figures below.

What to change for a real class is marked CHANGE.
"""
import json
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (JupyterHub provides get_config when it loads this file)

REPOSITORY = Path(__file__).resolve().parents[1]
DASHBOARD_URL = "/voila/render/dashboard.ipynb"

# --------------------------------------------------------------------------- who may log in

# CHANGE: how students log in. The default here is JupyterHub's own: accounts of this machine (PAM),
# members of the Unix group "students", each user's server running under their own account (which
# needs the hub to run as root). For a class without machine accounts, use an OAuthenticator
# (`pip install oauthenticator`; e.g. "github" with allowed_organizations, or "generic" for a
# university's single sign-on) or LTI from a learning platform (`pip install jupyterhub-ltiauthenticator`).
# The built-in "dummy" authenticator lets anyone in with any name and is for tests only.
c.JupyterHub.authenticator_class = "pam"
c.LocalAuthenticator.allowed_groups = {"students"}
c.JupyterHub.spawner_class = "localprocess"

# --------------------------------------------------------------------------- straight into Voilà

c.Spawner.notebook_dir = str(REPOSITORY)
c.Spawner.default_url = DASHBOARD_URL
# TensorFlow's C++ start-up messages would only fill the server's log. The kernel finds CIFAR-10 in
# the user's Keras cache (downloaded on first use), or in the folder the instructor names with
# CNNVIZ_CIFAR10_DIR when starting the hub, shared by every user.
c.Spawner.environment = {"TF_CPP_MIN_LOG_LEVEL": "3"}
if os.environ.get("CNNVIZ_CIFAR10_DIR"):
    c.Spawner.environment["CNNVIZ_CIFAR10_DIR"] = os.environ["CNNVIZ_CIFAR10_DIR"]

#: voila.json options that also hold inside a user's Jupyter server, and the class that owns each
#: there. voila.json is written for the standalone `voila` command; in a Jupyter server the
#: websocket limit belongs to the server itself. Options are picked one by one rather than copied
#: wholesale: a kernel pool, for instance, is right for one shared Voilà server and wrong for a
#: server that serves one user.
VOILA_OPTIONS = {
    ("VoilaConfiguration", "template"): "VoilaConfiguration",
    ("VoilaConfiguration", "show_tracebacks"): "VoilaConfiguration",
    ("VoilaConfiguration", "strip_sources"): "VoilaConfiguration",
    ("VoilaConfiguration", "theme"): "VoilaConfiguration",
    ("VoilaExecutor", "startup_timeout"): "VoilaExecutor",
    ("VoilaExecutor", "iopub_timeout"): "VoilaExecutor",
    ("VoilaExecutor", "timeout"): "VoilaExecutor",
    ("MappingKernelManager", "cull_idle_timeout"): "MappingKernelManager",
    ("MappingKernelManager", "cull_interval"): "MappingKernelManager",
    ("MappingKernelManager", "cull_connected"): "MappingKernelManager",
    ("Voila", "tornado_settings"): "ServerApp",
}


def voila_arguments(voila_json: Path) -> list:
    """Command-line options for jupyterhub-singleuser that repeat the project's voila.json."""
    settings = json.loads(Path(voila_json).read_text())
    arguments = []
    for (section, name), owner in VOILA_OPTIONS.items():
        value = settings[section][name]
        text = value if isinstance(value, str) else json.dumps(value)
        arguments.append(f"--{owner}.{name}={text}")
    return arguments


# Tracebacks hidden, code stripped, idle kernels culled after 15 minutes, uploads up to 200 MiB: the
# same as `voila dashboard.ipynb` on one machine.
c.Spawner.args = voila_arguments(REPOSITORY / "voila.json")

# --------------------------------------------------------------------------- memory and CPU

# Measured with `python -m benchmarks.hub_memory` (deploy/README.md): once the dashboard is drawn, one
# user's Jupyter server holds RSS ≈ 140 MiB and their kernel ≈ 695 MiB, 835 MiB together; the
# proportional share (PSS, TensorFlow's libraries split between the users of one machine) is
# ≈ 550 MiB. The confusion matrix over all 10,000 test images takes the kernel to ≈ 910 MiB for a
# moment; the limit leaves room for that and for a student's own uploads.
# LocalProcessSpawner only passes these on (as MEM_GUARANTEE and MEM_LIMIT); spawners that enforce
# them: systemdspawner on one machine, KubeSpawner (deploy/z2jh-values.yaml), DockerSpawner.
c.Spawner.mem_guarantee = "1G"
c.Spawner.mem_limit = "2G"
c.Spawner.cpu_limit = 1.0

# Past this many running servers the hub answers "Active user limit exceeded. Try again in a few
# minutes." instead of starting one more server that the machine cannot hold: the machine's memory,
# less 2 GiB for the system and the hub (≈ 200 MiB with its proxy), divided by one user's measured
# share rounded up.
_memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
c.JupyterHub.active_server_limit = max(1, int((_memory - 2 * 2**30) // (600 * 2**20)))

# --------------------------------------------------------------------------- idle culling

# A user's kernel is culled by their own server after voila.json's cull_idle_timeout; the server
# itself (≈ 140 MiB without a kernel) is stopped by the hub's culler after an hour of no activity.
# jupyterhub-idle-culler runs as a hub service with only the permissions it needs.
c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", "--timeout=3600", "--cull-every=300"],
    },
]
c.JupyterHub.load_roles = [
    {
        "name": "idle-culler",
        "description": "Stops servers that have been idle for an hour",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    },
]
