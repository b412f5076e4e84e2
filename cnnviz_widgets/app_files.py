"""Where the dashboard notebook and its Voilà settings are, and the environment to serve them in.

They have one source each, ``dashboard.ipynb`` and ``voila.json`` at the top of the repository: a
wheel carries copies of both inside the package (hatch_build.py); an editable install finds them
beside the package folder. Used by the ``cnnviz`` and ``cnnviz-classroom`` commands.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
NOTEBOOK = "dashboard.ipynb"
SETTINGS = "voila.json"


class AppFilesMissing(RuntimeError):
    """Neither the package nor the folder around it holds the dashboard notebook and its settings."""


def app_files(package_dir: Path = PACKAGE_DIR) -> tuple[Path, Path]:
    """(the dashboard notebook, the folder holding its voila.json).

    Inside the package in an installed wheel; in the repository folder around the package in an
    editable install or a checkout.
    """
    for folder in (package_dir, package_dir.parent):
        if (folder / NOTEBOOK).is_file() and (folder / SETTINGS).is_file():
            return folder / NOTEBOOK, folder
    raise AppFilesMissing(
        f"cnnviz cannot find {NOTEBOOK} and {SETTINGS}: they ship inside the package when it is "
        "installed with `pip install .`; reinstall it that way")


def voila_environment(settings_dir: Path, environ=None) -> dict:
    """The environment to serve in: Voilà reads voila.json from every folder on JUPYTER_CONFIG_PATH,
    so the project's folder goes first there, whatever the folder the command runs in."""
    env = dict(os.environ if environ is None else environ)
    paths = [str(settings_dir)] + [p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    # The kernels inherit it: TensorFlow's C++ start-up logs are noise to a student.
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env
