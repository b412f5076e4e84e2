"""The ``cnnviz`` command: serve the dashboard with Voilà from any folder.

``cnnviz`` (or ``python -m cnnviz_widgets``) serves the dashboard notebook that ships inside the
package with the project's Voilà settings (``voila.json``: the cnnviz template, no code on screen,
the guarded kernel manager). ``cnnviz --classroom N`` serves a class of N students, as
``cnnviz-classroom --students N`` does.

The notebook and its settings: :mod:`cnnviz_widgets.app_files`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .app_files import AppFilesMissing, app_files, voila_environment


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
