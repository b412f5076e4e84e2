"""What every cnnviz widget shares: observing the state safely, closing cleanly, crisp images."""
from __future__ import annotations

import functools
import io

import ipywidgets as widgets
import traitlets

from .. import compat, render
from ..compute import describe

#: CSS that keeps upscaled small images crisp in the browser; added once per widget tree.
CRISP_CSS = (
    "<style>.cnnviz-crisp img, img.cnnviz-crisp {image-rendering: pixelated; "
    "image-rendering: crisp-edges;} .cnnviz-caption-wrong {color: #c62828; font-weight: 600;} "
    ".cnnviz-caption-right {color: #2e7d32; font-weight: 600;} "
    ".cnnviz-note {color: #555; font-size: 0.9em;}</style>"
)


def png_size(data: bytes) -> tuple:
    """(width, height) of PNG bytes, read from the header."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.size


class DescribedImage(widgets.Image):
    """An ``ipywidgets.Image`` whose ``tooltip`` is its text alternative (the ``title`` of its ``<img>``).

    ipywidgets 8.1's Image has no ``alt``; its ``tooltip`` is written as the element's ``title``
    (which screen readers read as the image's name when there is no alt, and a mouse shows on
    hover) by the code every widget view shares, which first reads the model's ``description``,
    a trait an Image lacks: the view then fails to render at all. An empty synced
    ``description`` is all that code needs. An ``HTML`` widget holding ``<img alt=…>`` would
    instead resend the picture as base64 text with every change, a third more bytes.

    >>> DescribedImage(format="png", tooltip="conv1_act, 32 feature maps")   # doctest: +SKIP
    """

    description = traitlets.Unicode("", help="Always empty: see the class docstring.").tag(sync=True)


def crisp_image(**kwargs) -> widgets.Image:
    """An empty PNG image that is shown at its own pixel size, never blurred; its ``tooltip``
    is its text alternative (``DescribedImage``)."""
    img = DescribedImage(format="png", **kwargs)
    img.add_class("cnnviz-crisp")
    return img


def set_png(image: widgets.Image, data: bytes, scale: float = 1.0, alt: str | None = None) -> None:
    """Show PNG bytes at ``scale`` times their pixel size (an explicit width stops the stretching
    an Image does inside a Box), with ``alt`` as its text alternative when given."""
    width, _ = png_size(data)
    image.value = data
    if alt is not None:
        image.tooltip = alt
    image.layout.width = f"{int(round(width * scale))}px"
    image.layout.height = "auto"


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


def _widgets_in(value):
    """The widgets held in a trait or attribute value: a widget, or a list, tuple or dict of them."""
    if isinstance(value, widgets.Widget):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _widgets_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _widgets_in(item)


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
            named.update(id(w) for w in _widgets_in(value))
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
            stack.extend(_widgets_in(getattr(widget, name, None)))
    return order


def owned_widgets(root) -> list:
    """Every widget ``root`` made, deepest first: whatever its traits hold (children, layout and
    style, a figure's marks, axes and scales, a mark's scales and tooltip, ...), recursively, and
    the widgets held in ``root``'s own attributes (a chart kept off the page, a job bar).

    A widget that is a ``StateWidget`` of its own is listed but not entered: its own ``close``
    closes what it made.
    """
    found: dict = {}
    held = [*vars(root).values(), *(getattr(root, name, None) for name in root.keys)]
    stack = [(w, not isinstance(w, StateWidget)) for w in _widgets_in(held)]
    order = []
    while stack:
        widget, enter = stack.pop()
        if widget is root or id(widget) in found or id(widget) in _SHARED_WIDGETS:
            continue
        found[id(widget)] = widget
        order.append(widget)
        if not enter:
            continue
        for name in widget.keys:
            for child in _widgets_in(getattr(widget, name, None)):
                stack.append((child, not isinstance(child, StateWidget)))
    return order[::-1]


def close_owned(root) -> None:
    """Close every widget ``root`` made (``owned_widgets``), not ``root`` itself."""
    for widget in owned_widgets(root):
        widget.close()


def section(title: str, note: str, *body, **kwargs) -> widgets.VBox:
    """A titled panel: heading, two or three sentences for the student, then the body."""
    head = widgets.HTML(f"<h3 style='margin:4px 0'>{title}</h3><div class='cnnviz-note'>{note}</div>")
    return widgets.VBox([head, *body], **kwargs)


#: CSS classes of a ``Deferred`` box before it is opened, and of its button: the page's script
#: (``serving.accessibility``) presses the button as the box comes near the visible part of the page.
DEFERRED_CLASS = "cnnviz-lazy"
DEFERRED_BUTTON_CLASS = "cnnviz-lazy-open"


class Deferred(widgets.VBox):
    """A box that builds its content only when it is first opened: until then a button.

    ``build()`` makes the content (any widget) on the first ``reveal()`` — the button's click, or a
    call — and the box shows it from then on. Nothing of the content exists before: no widget model
    in the page, no observer of the state, no rendering.

    >>> box = Deferred(lambda: FeatureGrid(state), "feature maps")   # doctest: +SKIP
    >>> box.reveal()                                                 # doctest: +SKIP
    FeatureGrid(...)
    """

    def __init__(self, build, label: str, **kwargs):
        super().__init__(**kwargs)
        self.build = build
        self.content = None
        self.button = widgets.Button(description=f"show {label}", icon="chevron-down",
                                     tooltip=f"Build and show {label}", layout=shared_layout())
        self.button.add_class(DEFERRED_BUTTON_CLASS)
        self.button.on_click(lambda _button: self.reveal())
        self.children = [self.button]
        self.add_class(DEFERRED_CLASS)

    @property
    def built(self) -> bool:
        return self.content is not None

    def reveal(self):
        """Build the content (once) and show it; returns the content."""
        if self.content is None:
            self.content = self.build()
            if self.layout.min_height:  # kept for the space the content was to take: it has it now
                self.layout.min_height = None
            self.children = [self.content]
            self.remove_class(DEFERRED_CLASS)
            self.button.close()
        return self.content

    def close(self):
        if self.content is None:
            self.button.close()
        else:
            self.content.close()
        super().close()
