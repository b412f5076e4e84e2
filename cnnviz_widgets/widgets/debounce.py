"""Debouncing a callback: one call after a burst of changes (a dragged slider)."""
from __future__ import annotations

import asyncio


class Debouncer:
    """Call ``fn()`` once, ``wait`` seconds after the last ``__call__``: a slider dragged across
    twenty values costs one model pass, not twenty. Without an event loop running in this thread
    (plain Python, tests) the call happens at once."""

    def __init__(self, fn, wait: float = 0.08):
        self.fn = fn
        self.wait = float(wait)
        self._handle = None

    def __call__(self):
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or self.wait <= 0:
            self.fn()
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle = loop.call_later(self.wait, self._fire)

    def _fire(self):
        self._handle = None
        self.fn()

    def cancel(self):
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
