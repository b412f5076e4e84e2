"""Boxes for the dashboard's layout: a titled section, and a box built only when first opened."""
from __future__ import annotations

import ipywidgets as widgets

from .widget_tree import shared_layout


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
