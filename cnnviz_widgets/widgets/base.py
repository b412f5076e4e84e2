"""What every cnnviz widget shares: observing the state safely and closing cleanly (here), crisp
images (``images``), the widget tree and the looks many widgets share (``widget_tree``), titled
sections and boxes built when opened (``deferred``). The names panels use from those modules are
importable from here too."""
from __future__ import annotations

import functools

import ipywidgets as widgets

from .. import render
from ..compute import describe
from .deferred import DEFERRED_BUTTON_CLASS, DEFERRED_CLASS, Deferred, section
from .images import CRISP_CSS, DescribedImage, crisp_image, note_html, png_size, set_png
from .widget_tree import (
    TEXT_WIDGETS,
    is_shared,
    reachable_widgets,
    set_visible,
    share_looks,
    shared,
    shared_layout,
    widgets_in,
)

__all__ = [
    "CRISP_CSS", "DEFERRED_BUTTON_CLASS", "DEFERRED_CLASS", "DEFERRED_TRAITS", "TEXT_WIDGETS", "Deferred",
    "DescribedImage", "StateWidget", "close_owned", "crisp_image", "describe_subject", "note_html",
    "owned_widgets", "png_size", "reachable_widgets", "reports_errors", "scheme_cmap", "section", "set_png",
    "set_visible", "share_looks", "shared", "shared_layout",
]


def describe_subject(state, index: int | None = None) -> str:
    """How text alternatives name the selected image (or image ``index``): "image 12 (a frog)"."""
    i = state.index if index is None else int(index)
    label = None if state.labels is None else int(state.labels[i])
    return describe.subject(i, state.class_names[label] if label is not None and label >= 0 else None)


def scheme_cmap(state, role: str) -> str:
    """The colour map of ``role`` ("maps", "heat", "signed") in the state's colour scheme."""
    return render.scheme_colormap(state.colour_scheme, role)


def reports_errors(method):
    """Route an exception raised by an observer or callback to ``state.status`` (an exception in
    an observer is invisible in a browser) and leave the state as it was."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # Every error must reach the student, not a hidden log.
            self.state.status = f"⚠ {type(self).__name__}: {exc}"
            return None

    return wrapper


#: State traits whose observers a hidden panel defers (``StateWidget.show``): a new image is what
#: every panel redraws, and what a class of students changes every few seconds.
DEFERRED_TRAITS = frozenset({"inspection"})


class _Deferrable:
    """An observer of the state that runs only while its panel is shown, and otherwise keeps the
    last change of each trait it missed, to run once when the panel is shown again.

    Like a bound method it has ``__self__`` (the panel), so whoever lists a state's observers
    sees whose it is.
    """

    def __init__(self, panel, handler):
        self.__self__ = panel
        self.handler = handler
        self.missed: dict = {}

    def __call__(self, change):
        if self.__self__.shown:
            self.handler(change)
        else:
            # Only the newest change of a trait matters; a later one replaces it, in its turn.
            self.missed.pop(change["name"], None)
            self.missed[change["name"]] = change

    def catch_up(self):
        missed, self.missed = self.missed, {}
        for change in missed.values():
            self.handler(change)


class StateWidget(widgets.VBox):
    """Base of every cnnviz widget: a VBox that observes a ``ModelState``.

    Subclasses build their children once in ``__init__``, register observers with ``_observe``
    (bound methods named ``_on_<trait>``) and update in place. ``close()`` unobserves the state and
    closes every widget the panel made (``close_owned``), so neither the kernel's widget registry
    nor a long-lived state keeps closed widgets alive.
    """

    def __init__(self, state, **kwargs):
        super().__init__(**kwargs)
        self.state = state
        self._observers: list = []
        self.add_class("cnnviz-widget")

    #: Whether the panel is on screen (``show``); a hidden panel defers its image changes.
    shown = True

    def _observe(self, handler, names):
        names = list(names)
        if DEFERRED_TRAITS & set(names):
            handler = _Deferrable(self, handler)
        self.state.observe(handler, names=names)
        self._observers.append((handler, names))

    def show(self, shown: bool = True) -> None:
        """Tell the panel whether the student can see it (the dashboard does, as a section opens or
        closes). While hidden, a change of the image (``DEFERRED_TRAITS``) renders nothing; once
        shown again, the panel catches up once with the latest change it missed."""
        self.shown = bool(shown)
        if self.shown:
            for handler, _ in self._observers:
                if isinstance(handler, _Deferrable):
                    handler.catch_up()

    def _on_inspection(self, change):
        """Most widgets show the current image: a new inspection is one re-render."""
        self._render()

    def close(self):
        for handler, names in self._observers:
            self.state.unobserve(handler, names=names)
        self._observers = []
        close_owned(self)
        super().close()


def owned_widgets(root) -> list:
    """Every widget ``root`` made, deepest first: whatever its traits hold (children, layout and
    style, a figure's marks, axes and scales, a mark's scales and tooltip, ...), recursively, and
    the widgets held in ``root``'s own attributes (a chart kept off the page, a job bar).

    A widget that is a ``StateWidget`` of its own is listed but not entered: its own ``close``
    closes what it made.
    """
    found: dict = {}
    held = [*vars(root).values(), *(getattr(root, name, None) for name in root.keys)]
    stack = [(w, not isinstance(w, StateWidget)) for w in widgets_in(held)]
    order = []
    while stack:
        widget, enter = stack.pop()
        if widget is root or id(widget) in found or is_shared(widget):
            continue
        found[id(widget)] = widget
        order.append(widget)
        if not enter:
            continue
        for name in widget.keys:
            for child in widgets_in(getattr(widget, name, None)):
                stack.append((child, not isinstance(child, StateWidget)))
    return order[::-1]


def close_owned(root) -> None:
    """Close every widget ``root`` made (``owned_widgets``), not ``root`` itself."""
    for widget in owned_widgets(root):
        widget.close()
