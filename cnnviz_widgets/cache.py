"""The one cache of a ``ModelState``: every result computed from its model and its images.

One policy for all of them: entries are keyed by an explicit tuple whose first element names the
kind of result (``("inspection", index)``, ``("grad_cam", index, layer, class)``,
``("predictions",)``, ``("channel_means", layer)``, ``("ascent", layer, channel, steps)``); the
least recently used entries go first once the cache holds more than ``max_entries`` entries or
more than ``max_bytes`` bytes of arrays; and the state clears the whole cache whenever its model,
its images or its preprocessing change. A result computed for the old model while the cache was
cleared (a background job that was still running) is handed back to its caller but never stored.

Nothing else in the package keeps results of a model: compiled functions live on the model's
``compute.Inspector``, which holds the model only weakly and goes away with it.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import fields, is_dataclass

import numpy as np

#: Bounds of a state's cache: a few dozen inspections of a large model, or hundreds of small ones.
MAX_ENTRIES = 256
MAX_BYTES = 256 * 2 ** 20


def size_of(value) -> int:
    """Bytes held by the arrays in ``value`` (arrays, dataclasses, dicts, lists and tuples of
    them); anything else counts as nothing."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(size_of(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(size_of(v) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        return sum(size_of(getattr(value, f.name)) for f in fields(value))
    return 0


class Cache:
    """A bounded least-recently-used store keyed by tuples, safe to use from several threads.

    >>> cache = Cache(max_entries=2)
    >>> cache.get(("square", 3), lambda: 9)
    9
    >>> cache.get(("square", 3), lambda: 0)    # a hit: ``make`` is not called
    9
    >>> cache.clear(); len(cache)
    0
    """

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES):
        self.max_entries = int(max_entries)
        self.max_bytes = int(max_bytes)
        self._data: OrderedDict = OrderedDict()
        self._sizes: dict = {}
        self._bytes = 0
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, key: tuple, make, generation: int | None = None):
        """The value stored under ``key``, else ``make()`` — stored unless ``clear`` was called
        while it ran (then the value belongs to a model or images the state no longer has).

        A caller that reads the model before calling (a background job) passes the
        ``generation`` it read first: a value computed from a model that was replaced in between
        is then returned but not stored.
        """
        with self._lock:
            if generation is None:
                generation = self._generation
            if generation == self._generation and key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = make()
        self.put(key, value, generation)
        return value

    def peek(self, key: tuple, default=None):
        """The value stored under ``key`` (counts as a use), or ``default``; never computes."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return default

    def put(self, key: tuple, value, generation: int | None = None) -> bool:
        """Store ``value`` under ``key``; False (and nothing stored) when ``generation`` is given
        and the cache was cleared since, or when the value alone is larger than ``max_bytes``."""
        size = size_of(value)
        with self._lock:
            if generation is not None and generation != self._generation:
                return False
            if size > self.max_bytes:
                return False
            if key in self._data:
                self._bytes -= self._sizes[key]
            self._data[key] = value
            self._data.move_to_end(key)
            self._sizes[key] = size
            self._bytes += size
            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                old, _ = self._data.popitem(last=False)
                self._bytes -= self._sizes.pop(old)
        return True

    def clear(self) -> None:
        """Forget everything (the model, the images or the preprocessing changed)."""
        with self._lock:
            self._data.clear()
            self._sizes.clear()
            self._bytes = 0
            self._generation += 1

    @property
    def generation(self) -> int:
        """How many times the cache was cleared: a job compares it before and after its work."""
        return self._generation

    @property
    def nbytes(self) -> int:
        """Bytes of arrays held now (at most ``max_bytes``)."""
        return self._bytes

    def keys(self, kind: str | None = None) -> list:
        """The keys held, least recently used first; only those of ``kind`` when given."""
        with self._lock:
            return [k for k in self._data if kind is None or k[0] == kind]

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._data

    def __len__(self) -> int:
        return len(self._data)
