"""Small helpers shared by the widget tests (import them: ``from helpers import observers_of``)."""
from __future__ import annotations


def observers_of(state, widget) -> list:
    """Every observer registered on ``state`` that is a bound method of ``widget``."""
    found = []
    for by_type in state._trait_notifiers.values():
        for handlers in by_type.values():
            found += [h for h in handlers if getattr(h, "__self__", None) is widget]
    return found
