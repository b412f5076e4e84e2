"""``python -m cnnviz_widgets``: the ``cnnviz`` command (see :mod:`cnnviz_widgets.cli`)."""
from .cli import main

main()
