"""The one way a panel makes a bqplot chart."""
from __future__ import annotations

import bqplot as bq

from .images import INDEX_CHART_CLASS


def figure(index_axis: bool = False, **kwargs) -> bq.Figure:
    """A ``bq.Figure`` without bqplot's pan-and-zoom toolbar.

    On charts this small the toolbar covered the curves and bars it sat on, its pan-and-zoom
    fought the dataset map's own selection, and each panel already has its own "save" button.
    ``index_axis``: a chart of one bar per index (``images.INDEX_CHART_CLASS``: its axes draw no line).
    """
    chart = bq.Figure(display_toolbar=False, **kwargs)
    if index_axis:
        chart.add_class(INDEX_CHART_CLASS)
    return chart
