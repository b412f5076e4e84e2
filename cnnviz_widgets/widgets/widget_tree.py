"""A panel's widget tree: the widgets it holds, and the layouts and styles many widgets share
(``share_looks``: one model for the whole page instead of one per widget)."""
from __future__ import annotations

import ipywidgets as widgets

from .. import compat


def widgets_in(value):
    """The widgets held in a trait or attribute value: a widget, or a list, tuple or dict of them."""
    if isinstance(value, widgets.Widget):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from widgets_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from widgets_in(item)


def set_visible(widget, visible: bool) -> None:
    """Show or hide ``widget`` (its own layout's ``display``)."""
    widget.layout.display = None if visible else "none"


def is_shared(widget) -> bool:
    """True for a widget marked ``shared``: no panel owns it."""
    return id(widget) in _SHARED_WIDGETS


#: Widgets that many panels share on purpose (a save button's layout and style): made once per
#: kernel, never closed with a panel, or closing one dashboard would break the buttons of another.
_SHARED_WIDGETS: set = set()


def shared(widget):
    """Mark ``widget`` as shared by many panels (``close_owned`` leaves it open) and return it."""
    _SHARED_WIDGETS.add(id(widget))
    return widget


class _Frozen:
    """A layout or style that many widgets share (``share_looks``): changing it would change them
    all, so it refuses every change after it is made."""

    _frozen = False

    def __setattr__(self, name, value):
        if self._frozen and name in self.keys:
            raise AttributeError(f"this {type(self).__name__} is shared by many widgets: give the widget "
                                 f"a {type(self).__bases__[1].__name__} of its own to change its {name}")
        super().__setattr__(name, value)


#: Widgets that show text and never change their own layout once made.
TEXT_WIDGETS = (widgets.HTML, widgets.HTMLMath, widgets.Label)
_LOOKS: dict = {}


def _shared_look(cls):
    """The kernel's one frozen instance of the layout or style class ``cls``, all defaults."""
    look = _LOOKS.get(cls)
    if look is None or look.comm is None:
        look = type(f"Shared{cls.__name__}", (_Frozen, cls), {"__module__": __name__})()
        look._frozen = True
        _LOOKS[cls] = shared(look)
    return look


def shared_layout() -> widgets.Layout:
    """The kernel's one frozen default Layout, for boxes that never change theirs."""
    return _shared_look(widgets.Layout)


def _replaceable(look) -> bool:
    """True when ``look`` is a layout or style of one widget (not shared already) and no synced
    trait of it differs from its default."""
    return (isinstance(look, widgets.Widget) and not isinstance(look, _Frozen)
            and id(look) not in _SHARED_WIDGETS and not look.get_state(drop_defaults=True))


def share_looks(root) -> int:
    """Give the widgets under ``root`` that still have their default style, and those that still
    have their default layout and that no code can change later, the kernel's one shared (and
    frozen) instance instead, and close what they had. Returns how many layouts and styles it
    closed.

    ipywidgets 8 makes a Layout model for every widget and a Style model for most: each is a model
    the page receives (about 1 KiB of state for a Layout) and builds. Shared, they are one model
    per class for the whole page. cnnviz never changes a style after making its widget, nor the
    layout of a text widget; other widgets keep their own layout when an attribute names them
    (code that shows or hides ``self.body`` changes its layout). A panel that would change a
    shared one gets an error at once.
    """
    replaced = 0
    tree = reachable_widgets(root)
    named = _named_widgets(tree)
    for widget in tree:
        style = getattr(widget, "style", None) if "style" in widget.keys else None
        if _replaceable(style):
            widget.style = _shared_look(type(style))
            style.close()
            replaced += 1
        layout = widget.layout if "layout" in widget.keys else None
        if (isinstance(widget, TEXT_WIDGETS) or id(widget) not in named) and _replaceable(layout):
            widget.layout = _shared_look(widgets.Layout)
            layout.close()
            replaced += 1
    return replaced


def _named_widgets(tree) -> set:
    """Ids of the widgets that an attribute of a widget in ``tree`` names (``self.body``, a list
    of buttons, ...): the only ones its code can reach to change later. A box made inline in a
    list of children is reachable through its parent's children only."""
    named = set()
    for widget in tree:
        for value in compat.own_attributes(widget).values():
            named.update(id(w) for w in widgets_in(value))
    return named


def reachable_widgets(root) -> list:
    """``root`` and every widget its synced traits hold (children, layout, style, marks, ...),
    recursively, inner panels included."""
    seen, order, stack = set(), [], [root]
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        order.append(widget)
        for name in widget.keys:
            stack.extend(widgets_in(getattr(widget, name, None)))
    return order
