"""Saving and sharing what the dashboard shows: a download button for any file a panel can make,
and the "link to this view" field.

Both are plain ipywidgets: no JavaScript of their own. A download is a button that makes the
file when it is clicked (never before: nothing is sent to the page for a file nobody asked for)
and then offers it as a link with a ``download`` attribute, which the browser saves through its
normal download.
"""
from __future__ import annotations

import base64
import html
import mimetypes

import ipywidgets as widgets

from .base import shared

#: How the address field looks (inline: the field must look right in a notebook as well).
FIELD_STYLE = "width: 100%; box-sizing: border-box; font-family: monospace; font-size: 12px"


def _shared() -> dict:
    """The layouts and styles every save button and link shares.

    A widget's layout and style are widget models of their own, each drawn as a view in the page;
    shared, they cost a handful of models however many panels have a save button.
    """
    if _SHARED and all(w.comm is not None for w in _SHARED.values()):
        return _SHARED
    _SHARED.update(row=shared(widgets.Layout(align_items="center", flex_flow="row wrap")),
                   button=shared(widgets.Layout(width="auto")), button_style=shared(widgets.ButtonStyle()),
                   text=shared(widgets.Layout(margin="0 0 0 8px")))
    return _SHARED


_SHARED: dict = {}


def size_text(n: int) -> str:
    """A file size as a student reads it: "830 bytes", "12.4 KB", "1.2 MB"."""
    if n < 1000:
        return f"{n} bytes"
    if n < 1_000_000:
        return f"{n / 1000:.1f} KB"
    return f"{n / 1_000_000:.1f} MB"


class Download(widgets.HBox):
    """A "save" button that makes a file on click and hands it to the browser's download.

    Parameters
    ----------
    make : callable
        Returns the file's bytes; called on each click, never before. An error it raises is
        shown beside the button (e.g. "compute the confusion matrix first").
    filename : str or callable
        The name the browser saves the file under (a callable is asked on each click).
    label : str
        What the button saves, e.g. "PNG" or "CSV".
    mime : str, optional
        The file's type; by default guessed from ``filename``.
    source : widget, optional
        A widget whose ``value`` is what ``make`` saves (e.g. an ``ipywidgets.Image``): a new
        value removes the link to the old file, and the button is disabled while it is empty.

    One line adds it to a panel, e.g. for a picture (see ``Download.picture``)::

        self.children = [..., self.image, Download.picture(self.image, "cnnviz-features.png")]

    >>> Download(lambda: b"a,b\\r\\n1,2\\r\\n", "numbers.csv", label="CSV")   # doctest: +SKIP
    """

    def __init__(self, make, filename, label: str = "file", mime: str | None = None, source=None,
                 **kwargs):
        self.source = None
        shared = _shared()
        self.make = make
        self.filename = filename
        self.mime = mime
        self.button = widgets.Button(description=f"save {label}", icon="download",
                                     tooltip=f"Make the {label} file, then click its link to download it",
                                     layout=shared["button"], style=shared["button_style"])
        # The link exists from the first click on: until then the button is all the page holds.
        self.link = None
        super().__init__([self.button], layout=shared["row"], **kwargs)
        self.add_class("cnnviz-download")
        self.source = source
        self.button.on_click(self._on_click)
        if source is not None:
            source.observe(self._on_source, names="value")
            self.button.disabled = not source.value

    @classmethod
    def picture(cls, image: widgets.Image, filename, **kwargs) -> Download:
        """Save the PNG an ``ipywidgets.Image`` shows, at its own pixels (not as it is drawn)."""
        return cls(lambda: _picture_bytes(image), filename, label="PNG", mime="image/png", source=image, **kwargs)

    def name(self) -> str:
        return str(self.filename() if callable(self.filename) else self.filename)

    def _on_click(self, _button):
        try:
            data = self.make()
            name = self.name()
        except Exception as exc:  # Every error must reach the student, beside the button they pressed.
            self._show_link(f"<span class='cnnviz-caption-wrong'>⚠ {html.escape(str(exc))}</span>")
            return
        mime = self.mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
        href = f"data:{mime};base64,{base64.b64encode(bytes(data)).decode('ascii')}"
        self._show_link(f"<a download=\"{html.escape(name)}\" href=\"{href}\" "
                        f"title=\"Save {html.escape(name)}\">⬇ {html.escape(name)}</a> "
                        f"<span class='cnnviz-note'>({size_text(len(data))})</span>")

    def _show_link(self, value: str):
        if self.link is None:
            shared = _shared()
            self.link = widgets.HTML(layout=shared["text"])
            self.children = [self.button, self.link]
        self.link.value = value

    def _on_source(self, change):
        # A link made before is of the old picture: the student must not save that by mistake.
        if self.link is not None:
            self.link.value = ""
        self.button.disabled = not change["new"]

    def close(self):
        if self.source is not None:
            self.source.unobserve(self._on_source, names="value")
            self.source = None
        self.button.close()
        if self.link is not None:
            self.link.close()
        super().close()


class ChartDownload(widgets.Button):
    """A "save PNG" button for a bqplot chart: the browser draws the chart as a PNG, at ``scale``
    times its size on screen, and saves it through its normal download (bqplot's ``save_png``).

    >>> self.children = [..., self.figure, ChartDownload(self.figure, "cnnviz-probabilities.png")]  # doctest: +SKIP
    """

    def __init__(self, figure, filename, scale: float = 2.0, **kwargs):
        shared = _shared()
        super().__init__(description="save PNG", icon="download",
                         tooltip="Save this chart as a PNG picture (your browser draws it)",
                         layout=shared["button"], style=shared["button_style"], **kwargs)
        self.add_class("cnnviz-chart-download")
        self.figure, self.filename, self.scale = figure, filename, scale
        self.on_click(lambda _button: self.save())

    def name(self) -> str:
        return str(self.filename() if callable(self.filename) else self.filename)

    def save(self):
        """Ask the page to draw the chart and download it (nothing happens without a page)."""
        self.figure.save_png(self.name(), scale=self.scale)


def _picture_bytes(image: widgets.Image) -> bytes:
    if not image.value:
        raise ValueError("there is no picture to save yet")
    return bytes(image.value)


class ViewLink(widgets.VBox):
    """A "link to this view" button: once pressed, the address that reopens the current view, in
    a read-only field to select and copy, and as a link that opens it in a new tab. While shown,
    it follows every change of the view.

    Parameters
    ----------
    query : callable
        Returns the current view's query (``links.view_query``).
    address : callable
        Returns the page's ``links.PageAddress``; when it has no ``base`` the field holds the
        relative "?query" and says so (the link itself is resolved by the browser, so it is right
        either way).
    watch : list of (HasTraits, list of trait names)
        What the view is made of: a change of any of them refreshes the address.

    >>> ViewLink(lambda: "image=3", lambda: PageAddress("", "http://host:8866/"))   # doctest: +SKIP
    """

    def __init__(self, query, address, watch=(), **kwargs):
        super().__init__(**kwargs)
        shared = _shared()
        self.query = query
        self.address = address
        self.button = widgets.Button(description="link to this view", icon="link",
                                     tooltip="Show the address that reopens this image, layer, heatmap and panel",
                                     layout=shared["button"], style=shared["button_style"])
        # Made on the first click, like a download's link.
        self.field = None
        self.children = [self.button]
        self.add_class("cnnviz-view-link")
        self._watched = []
        self.follow(watch)
        self.button.on_click(self._on_click)

    def follow(self, watch) -> None:
        """Also refresh the address on every change of these ``(HasTraits, trait names)`` (a
        panel built after the link)."""
        for owner, names in watch:
            owner.observe(self._on_view, names=names)
            self._watched.append((owner, names))

    def url(self) -> str:
        """The address of the current view (absolute when the page's address is known)."""
        return self.address().link(self.query())

    def _on_click(self, _button):
        if self.field is None:
            self.field = widgets.HTML(layout=widgets.Layout(width="100%"))
            self.children = [self.button, self.field]
        self._render()

    def _on_view(self, change):
        if self.field is not None:
            self._render()

    def _render(self):
        query = self.query()
        url = self.address().link(query)
        note = ("" if not url.startswith("?") else
                "<div class='cnnviz-note'>Add this to the end of the dashboard's address (or use the "
                "link: your browser completes it).</div>")
        self.field.value = (
            f"<input type='text' readonly value=\"{html.escape(url)}\" style='{FIELD_STYLE}' "
            "aria-label='address of this view'>"
            f"<div><a href=\"{html.escape('?' + query)}\" target='_blank' rel='noopener'>open this view in a new tab</a>"
            " <span class='cnnviz-note'>· select the address and copy it (Ctrl+C) to share it</span></div>"
            f"{note}")

    def close(self):
        for owner, names in self._watched:
            owner.unobserve(self._on_view, names=names)
        self._watched = []
        self.button.close()
        if self.field is not None:
            self.field.close()
        super().close()
