"""Serving the dashboard to a class: the Voilà kernel managers and the ``cnnviz-classroom``
command (``classroom``), the capacity measures and decisions behind them (``capacity``), and the
page's watch for a lost kernel (``connection``)."""
