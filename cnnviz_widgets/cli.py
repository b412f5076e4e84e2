"""The ``cnnviz`` command: serve the dashboard with Voilà from any folder.

``cnnviz`` (or ``python -m cnnviz_widgets``) serves the dashboard notebook that ships inside the
package with the project's Voilà settings (``voila.json``: the cnnviz template, no code on screen,
the guarded kernel manager). ``cnnviz --classroom N`` serves a class of N students, as
``cnnviz-classroom --students N`` does.

The notebook and the settings have one source each, ``dashboard.ipynb`` and ``voila.json`` at the
top of the repository: a wheel carries copies of both inside the package (pyproject.toml's
``force-include``); an editable install finds them beside the package folder.
"""
from __future__ import annotations

import argparse
import os
import sys
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


def voila_arguments(notebook: Path, port: int, ip: str, open_browser: bool) -> list[str]:
    """Voilà's command line for one dashboard (voila.json adds the rest)."""
    args = [str(notebook), f"--port={port}", f"--Voila.ip={ip}", "--Voila.port_retries=0"]
    if not open_browser:
        args.append("--no-browser")
    return args


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cnnviz",
        description="Serve the cnnviz dashboard (see inside a convolutional neural network) in the browser.")
    p.add_argument("--port", type=int, default=8866, help="port to serve on (default 8866)")
    p.add_argument("--ip", default=None,
                   help="address to listen on (default localhost; with --classroom 0.0.0.0, every network interface)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    p.add_argument("--classroom", type=int, metavar="N", default=None,
                   help="serve a class of N students: N kernels warmed before they arrive")
    return p


def main(argv=None) -> None:
    p = parser()
    args = p.parse_args(argv)
    if not 0 < args.port < 65536:
        p.error(f"--port must be between 1 and 65535, not {args.port}")
    if args.classroom is not None and args.classroom < 1:
        p.error("--classroom must be at least 1 student")
    try:
        notebook, settings_dir = app_files()
    except AppFilesMissing as error:
        p.exit(2, f"cnnviz: {error}\n")
    os.environ.update(voila_environment(settings_dir))
    if args.classroom is not None:
        from .serving import classroom

        classroom.main(["--students", str(args.classroom), "--port", str(args.port),
                        "--ip", args.ip or "0.0.0.0", "--notebook", str(notebook)])
        return
    from .serving.voila_adapter import serve

    print(f"cnnviz: serving {notebook.name} on http://{args.ip or 'localhost'}:{args.port}/ "
          "(the first page takes about 10 seconds; Ctrl+C stops)", flush=True)
    serve(voila_arguments(notebook, args.port, args.ip or "localhost", not args.no_browser))


if __name__ == "__main__":
    main(sys.argv[1:])
