"""Links that reopen a view: the dashboard's address query, read and written.

A view is what the student looks at: an image, a layer, a heatmap method, a class for that
heatmap, an advanced panel and a training checkpoint of the shipped model, e.g.::

    ?image=42&layer=conv2_act&heatmap=gradcam&class=cat&panel=TopImages
    ?epoch=3

``parse_view`` checks such a query against what the dashboard offers and returns the view with
every problem spelled out; ``view_query`` writes the query of a view; ``page_address`` tells,
from what Voilà puts in a kernel's environment, the page's address and query. Pure functions:
no widgets, no Voilà, no network.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlencode, urlsplit

#: The query's parameters, in the order a link writes them.
KEYS = ("image", "layer", "heatmap", "class", "panel", "epoch")
#: Parameters that Voilà reads itself: not the dashboard's, and no reason for a note.
VOILA_KEYS = ("template", "theme")
#: A value longer than this is shown cut in a message (a hostile link may be long).
SHOWN_CHARS = 40
#: More parameters than this is no link the dashboard wrote.
MAX_FIELDS = 20
_DIGITS = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class View:
    """One view of the dashboard; None means "as it is" (the default).

    image : index of the image in the image set
    layer : Keras name of the layer
    heatmap : the heatmap method, as the heatmap panel names its value (e.g. "grad-cam")
    class_index : the class the heatmap explains (None: the predicted class)
    panel : widget class name of the advanced panel that is open (e.g. "TopImages")
    epoch : the training checkpoint of the shipped model on screen (None: the model as it is)
    """

    image: int | None = None
    layer: str | None = None
    heatmap: str | None = None
    class_index: int | None = None
    panel: str | None = None
    epoch: int | None = None


@dataclass(frozen=True)
class Choices:
    """What a view may name: ``images`` images, and the offered layers, heatmap methods
    (``(label, value)`` pairs, as a ToggleButtons' options), class names, panels and the epochs
    of the training checkpoints."""

    images: int
    layers: tuple
    heatmaps: tuple
    class_names: tuple
    panels: tuple
    epochs: tuple = ()


@dataclass(frozen=True)
class ParsedView:
    """``view``: what the query asks for; ``problems``: why some of it cannot be shown (one
    sentence each, empty when the whole view can be); ``ignored``: parameters that are not the
    dashboard's."""

    view: View
    problems: tuple = ()
    ignored: tuple = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def shown(value: str) -> str:
    """A value from the address as a message quotes it: cut to ``SHOWN_CHARS`` characters.
    Escaping is the job of whatever draws the message."""
    value = str(value)
    return repr(value if len(value) <= SHOWN_CHARS else value[:SHOWN_CHARS] + "…")


def _compact(name: str) -> str:
    """"Grad-CAM", "grad-cam" and "gradcam" are one name."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def _listed(names, limit: int = 12) -> str:
    names = [str(n) for n in names]
    more = f", … ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def parse_view(query: str, choices: Choices) -> ParsedView:
    """The view a query asks for, checked against ``choices``.

    ``query`` is the part of the address after "?" (with or without the "?"). Values are
    matched as follows: ``image`` a whole number in 0 … images-1; ``layer`` a layer name exactly;
    ``heatmap`` a method's value or label, ignoring case and punctuation ("gradcam" is
    "Grad-CAM"); ``class`` a class name (any case) or index, or "predicted"; ``panel`` a
    panel's widget class name (any case). A parameter given twice, an empty value or one that
    matches nothing is a problem; parameters that are not the dashboard's are ``ignored``.

    >>> choices = Choices(10, ("conv1", "dense"), (("activation", "activation"),), ("cat", "dog"), ())
    >>> parse_view("image=3&class=Dog", choices).view
    View(image=3, layer=None, heatmap=None, class_index=1, panel=None, epoch=None)
    >>> parse_view("image=99", choices).problems
    ('image 99 is out of range: the images are numbered 0 … 9',)
    """
    query = str(query or "")
    if query.startswith("?"):
        query = query[1:]
    try:
        fields = parse_qs(query, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        return ParsedView(View(), (f"the address has more than {MAX_FIELDS} parameters",))
    problems, values = [], {}
    for key in KEYS:
        given = fields.get(key)
        if not given:
            continue
        if len(given) > 1:
            problems.append(f"{key} is given {len(given)} times")
            continue
        value = given[0].strip()
        if not value:
            problems.append(f"{key} is empty")
            continue
        try:
            values[key] = _PARSERS[key](value, choices)
        except ValueError as exc:
            problems.append(str(exc))
    ignored = tuple(k for k in fields if k not in KEYS and k not in VOILA_KEYS)
    view = View(image=values.get("image"), layer=values.get("layer"), heatmap=values.get("heatmap"),
                class_index=values.get("class"), panel=values.get("panel"), epoch=values.get("epoch"))
    return ParsedView(view, tuple(problems), ignored)


def _parse_image(value: str, choices: Choices) -> int:
    if not _DIGITS.fullmatch(value):
        raise ValueError(f"image {shown(value)} is not an image number (a whole number such as 42)")
    index = int(value)
    if index >= choices.images:
        raise ValueError(f"image {index} is out of range: the images are numbered 0 … {choices.images - 1}")
    return index


def _parse_layer(value: str, choices: Choices) -> str:
    if value not in choices.layers:
        raise ValueError(f"layer {shown(value)} not found; layers are: {_listed(choices.layers)}")
    return value


def _parse_heatmap(value: str, choices: Choices) -> str:
    for label, method in choices.heatmaps:
        if _compact(value) in (_compact(label), _compact(method)):
            return method
    raise ValueError(f"heatmap {shown(value)} is not a heatmap method; methods are: "
                     f"{_listed(m for _, m in choices.heatmaps)}")


def _parse_class(value: str, choices: Choices):
    names = choices.class_names
    if _DIGITS.fullmatch(value):
        index = int(value)
        if index >= len(names):
            raise ValueError(f"class {index} is out of range: the classes are numbered 0 … {len(names) - 1}")
        return index
    if value.lower() == "predicted":
        return None
    lowered = [n.lower() for n in names]
    if value.lower() in lowered:
        return lowered.index(value.lower())
    raise ValueError(f"class {shown(value)} not found; classes are: {_listed(names)}")


def _parse_panel(value: str, choices: Choices) -> str:
    for name in choices.panels:
        if value.lower() == name.lower():
            return name
    raise ValueError(f"panel {shown(value)} not found; panels are: {_listed(choices.panels)}")


def _parse_epoch(value: str, choices: Choices) -> int:
    if not choices.epochs:
        raise ValueError("this dashboard has no training checkpoints to show an epoch of")
    if not _DIGITS.fullmatch(value) or int(value) not in choices.epochs:
        raise ValueError(f"epoch {shown(value)} has no checkpoint; epochs are: {_listed(choices.epochs)}")
    return int(value)


_PARSERS = {"image": _parse_image, "layer": _parse_layer, "heatmap": _parse_heatmap,
            "class": _parse_class, "panel": _parse_panel, "epoch": _parse_epoch}


def view_query(view: View, class_names=()) -> str:
    """The query of ``view`` (without "?"), parameters in ``KEYS`` order, None ones left out;
    a class is written by its name when ``class_names`` has it.

    >>> view_query(View(image=42, layer="conv2_act", class_index=3), ("airplane", "automobile", "bird", "cat"))
    'image=42&layer=conv2_act&class=cat'
    """
    klass = view.class_index
    if klass is not None and 0 <= klass < len(class_names):
        klass = class_names[klass]
    pairs = [("image", view.image), ("layer", view.layer), ("heatmap", view.heatmap),
             ("class", klass), ("panel", view.panel), ("epoch", view.epoch)]
    return urlencode([(k, str(v)) for k, v in pairs if v is not None], quote_via=quote)


@dataclass(frozen=True)
class PageAddress:
    """Where the page is, as far as the kernel can tell.

    query : the page's query (without "?"), None while not known (a pre-heated kernel that no
        page has taken yet)
    base : the page's address without its query ("http://host:8866/"), or None when the kernel
        cannot tell (not served by Voilà)
    """

    query: str | None
    base: str | None

    def link(self, query: str) -> str:
        """The address of the page with ``query``: absolute when ``base`` is known, else the
        relative "?query", which a browser resolves against the page's own address."""
        return f"{self.base or ''}?{query}"


def page_address(environ) -> PageAddress:
    """The page's address from a kernel's environment, as Voilà 0.5 sets it.

    A kernel that Voilà starts for a request gets ``QUERY_STRING`` and ``VOILA_REQUEST_URL``
    (the full address of that request). A pre-heated kernel (``VOILA_PREHEAT=True``) starts
    before any request: ``QUERY_STRING``, ``SERVER_NAME``, ``SERVER_PORT`` and ``SCRIPT_NAME``
    reach it only once a page takes it and it asked for them (``voila.utils.wait_for_request``),
    and the ``VOILA_REQUEST_URL`` it was started with is another page's. Voilà passes no scheme
    then: the address is written with http.

    >>> page_address({"QUERY_STRING": "image=4", "VOILA_REQUEST_URL": "http://h:8866/?image=4"})
    PageAddress(query='image=4', base='http://h:8866/')
    """
    query = environ.get("QUERY_STRING")
    if environ.get("VOILA_PREHEAT") == "True":
        host = environ.get("SERVER_NAME")
        if query is None or not host:
            return PageAddress(query, None)
        port = environ.get("SERVER_PORT") or ""
        path = environ.get("SCRIPT_NAME") or "/"
        return PageAddress(query, f"http://{host}{':' + port if port else ''}{path}")
    url = environ.get("VOILA_REQUEST_URL")
    if not url:
        return PageAddress(query, None)
    parts = urlsplit(url)
    if query is None:
        query = parts.query
    return PageAddress(query, parts._replace(query="", fragment="").geturl())
