"""The dashboard: every panel of the guide in its order, composed from the widget classes.

The dashboard owns nothing but layout and the short texts for the student; each panel is a
widget that works on its own in a notebook.
"""
from __future__ import annotations

import ipywidgets as widgets

from . import links
from .dashboard_style import DASHBOARD_CSS
from .loading.checkpoints import checkpoint_accuracies, checkpoint_epoch_of
from .serving.accessibility import REGION_CLASS
from .serving.page_request import current_address, when_address_known
from .widgets import (
    CnnPrimer,
    ComparisonGrid,
    ConfidenceAnalysis,
    ConvArithmetic,
    ConvolutionAnimation,
    ConvPlayground,
    DatasetMap,
    DenseBars,
    ExplanationLab,
    FeatureGrid,
    FilterGrid,
    FilterOptimizer,
    HeatmapOverlay,
    ImagePicker,
    ImageUpload,
    LayerSelector,
    LayerStrip,
    MisclassificationExplorer,
    ModelComparison,
    ModelUpload,
    NetworkOverview,
    SimilarImages,
    SoftmaxChart,
    StatsTable,
    TopImages,
    TrainingTimeline,
    TrainPanel,
    WhatIfLab,
)
from .widgets.base import CRISP_CSS, Deferred, StateWidget, close_owned, section, share_looks, shared_layout
from .widgets.charts import CONFIDENT
from .widgets.exercises import EXERCISES, ExercisePath
from .widgets.panels import heatmap_choices
from .widgets.settings import ColourSchemeSelector
from .widgets.sharing import ViewLink

#: (section title, two or three sentences for the student), in the guide's order.
TEXTS = {
    "picker": ("1 · Pick an image",
               "This is the picture the network will look at. The caption compares the true class with "
               "what the network guessed and how sure it is; ✗ (and red) means the guess is wrong."),
    "layer": ("2 · Choose a layer",
              "Sections 4, 5, 7, 10 and 11 follow the layer you pick here; the others say why not. "
              "Early layers keep a lot of detail. Later layers are smaller but mean more."),
    "colours": ("3 · Colours",
                "Every picture follows this choice. The colour-vision-safe scheme keeps maps, heatmaps "
                "and weights readable with a red–green colour deficiency (about one man in twelve)."),
    "features": ("4 · Feature maps: what each layer sees",
                 "Each small square is the output of one filter for this image. Bright means the filter "
                 "found its pattern there, dark means it did not. Deeper layers are smaller and more "
                 "abstract."),
    "filters": ("5 · Learned filters: what each layer looks for",
                "These are the weights themselves. The first layer's 3×3×3 filters can be drawn in colour "
                "and often look like edges or colour blobs; deeper filters mix many channels, so you see "
                "one channel or their mean (one colour for positive weights, another for negative: the "
                "line above the grid says which)."),
    "strip": ("6 · Layer by layer",
              "The image shrinks from 32×32 to 8×8 while the number of channels grows. Each picture "
              "is the average of a stage's maps: detail fades and meaning builds up."),
    "dense": ("7 · The dense layer",
              "After flattening, a dense layer's neurons summarise the whole image (the line above the "
              "bars says how many). Tall bars carry the evidence the classifier uses. Many neurons "
              "stay near zero for any one image."),
    "softmax": ("8 · The decision",
                "Softmax turns the last scores into probabilities that add up to 100 %. One tall bar "
                f"({100 * CONFIDENT:.0f} % or more) is a confident guess. Several medium bars are an unsure one."),
    "compare": ("9 · Comparing images",
                "Several images side by side, stage by stage. Early stages look alike for every picture; "
                "the last stage differs most between classes — that is where the network tells them "
                "apart."),
    "stats": ("10 · Statistics per layer",
              "Numbers behind the pictures: the spread of each layer's values, and how many of them are "
              "switched off (sparsity). Is each stage sparser than the one before? The line under "
              "the table says."),
    "heatmap": ("11 · Where the network looks",
                "Colours over the image show where the network looks. Activation: where the chosen "
                "layer responds. Grad-CAM: which places raised the score of one class. Switch between "
                "them above the picture, and choose the class there. A new image starts from its own "
                "guess. The note under the pictures says which colours mean important."),
}

#: The sections of the side bar, steps 1 to 3; the others follow in the main column.
SIDEBAR = ("picker", "layer", "colours")

#: The exercises and advanced topics, each built only when the student opens it.
TOOLS = [
    ("Overview · The whole network at a glance", NetworkOverview,
     "Every layer side by side, from the picture to the decision. Click a map to open its layer in every "
     "section of the page."),
    ("How a CNN works · common questions", CnnPrimer,
     "How this network turns a picture into a guess, step by step, with this model's sizes and this "
     "image's scores."),
    ("Exercise 4 · Find misclassifications", MisclassificationExplorer,
     "The confusion matrix of the whole image set. Click a cell to list the images the network mixed "
     "up, then open one to see why."),
    ("Exercise 5 · Confident or unsure?", ConfidenceAnalysis,
     "A confident right answer, an unsure right answer and a confident wrong answer side by side."),
    ("Advanced · What a filter wants to see", FilterOptimizer,
     "Start from noise and change the image step by step until one channel fires as strongly as it can "
     "(gradient ascent)."),
    ("Advanced · Convolution arithmetic", ConvArithmetic,
     "Pick one pixel of a feature map and follow the multiplications and additions that produce it."),
    ("Advanced · Convolution playground", ConvPlayground,
     "Change the input size, kernel, stride, padding and dilation and see how big the output is and how "
     "many weights the layer has. It starts on this network's first convolution."),
    ("Advanced · Convolution, step by step", ConvolutionAnimation,
     "Watch a kernel slide across the picture or a feature map, one position at a time: the products, the "
     "sum, the bias and the activation, and the output map filling in."),
    ("Advanced · Top images per channel", TopImages,
     "The nine images of the set that make one channel fire the most."),
    ("Advanced · Which explanation can you trust?", ExplanationLab,
     "Six more ways to explain the network's answer besides Grad-CAM, side by side. The curves test each "
     "map by deleting the pixels it calls important; the sanity check tests whether a map changes when "
     "the network is broken on purpose."),
    ("Advanced · What if? Change the picture", WhatIfLab,
     "Cover part of the image, change its light, blur it, move it, or nudge every pixel the way that fools "
     "the network most (an adversarial step), and watch the prediction and Grad-CAM change."),
    ("Advanced · A map of the whole image set", DatasetMap,
     "Every image as a dot, placed by what the network makes of it: similar images lie together, mistakes "
     "stand out. Hover a dot to see it, click to open it."),
    ("Advanced · Train the network", TrainPanel,
     "Train this network from the start here and watch loss and accuracy. Training makes a new model; it "
     "replaces the one on screen only when you say so, and the shipped model is one click away."),
    ("Your own model", ModelUpload,
     "Upload a .keras image classifier. Nothing in the file is executed; models the dashboard cannot show "
     "are refused with the reason."),
    ("Your own images", ImageUpload,
     "Upload photos (PNG, JPEG, GIF…); their centre is cut to the model's shape (nothing is "
     "squashed), resized to its input and added after the "
     "test images (untick “add” to see only yours). The image picker's “back” button brings the "
     "test images back."),
    ("Advanced · Which images look alike to the network?", SimilarImages,
     "The images nearest to this one in the network's last hidden layer, and the nearest one it calls "
     "something else. Click one to open it."),
]
TOOLS.append(("Watch it learn · the network epoch by epoch", TrainingTimeline,
              "Move the slider to see the network as it was during its training, from random weights "
              "(epoch 0) to the end. Every panel shows that moment; “last epoch” goes back. A run you "
              "train in “Train the network” can be replayed here too."))
TOOLS.append(("Watch it learn · two moments side by side", ModelComparison,
              "The same network after 3 epochs (a short training run) and at the end, on the same "
              "image: their guesses, the selected layer's maps and Grad-CAM, and where they disagree."))


#: How section 11 starts: the channel mean of the selected layer.
HEATMAP_MODE = "activation"

#: Each section's panel, by the key of ``TEXTS``.
PANELS = {
    "picker": lambda state: ImagePicker(state, home_name="CIFAR-10 test images"),
    "layer": LayerSelector,
    "colours": ColourSchemeSelector,
    "features": FeatureGrid,
    "filters": FilterGrid,
    "strip": LayerStrip,
    "dense": DenseBars,
    "softmax": SoftmaxChart,
    "compare": ComparisonGrid,
    "stats": StatsTable,
    "heatmap": lambda state: HeatmapOverlay(state, mode=HEATMAP_MODE),
}

#: Sections built when first opened: those below the first screen (1366 × 768). Their title and
#: text are there at once; the page's script opens each as the student scrolls near it (a button
#: does without the script), so a student who never scrolls to the comparison never costs its
#: models, its pictures, nor its work on every image change.
DEFERRED = ("filters", "strip", "dense", "softmax", "compare", "stats", "heatmap")


class StatusLine(StateWidget):
    """The one line where errors and progress appear (never a traceback)."""

    def __init__(self, state, **kwargs):
        super().__init__(state, **kwargs)
        self.html = widgets.HTML()
        self.children = [self.html]
        self.add_class("cnnviz-status")
        self._observe(self._on_status, ["status"])
        self._render()

    def _on_status(self, change):
        self._render()

    def _render(self):
        import html

        text = self.state.status
        error = text.startswith("⚠")
        css = "cnnviz-status-error" if error else ""
        self.html.value = f"<span class='{css}'>{html.escape(text)}</span>" if text else ""


class Dashboard(widgets.VBox):
    """Every panel of the guide in its order, with a sticky side bar and a status line.

    >>> Dashboard(ModelState.from_default())   # doctest: +SKIP
    """

    def __init__(self, state, **kwargs):
        super().__init__(**kwargs)
        self.state = state
        self.add_class("cnnviz-dashboard")
        #: The panels built so far, by section key; the sections of ``DEFERRED`` join when opened.
        self.panels = {key: PANELS[key](state) for key in PANELS if key not in DEFERRED}
        #: The sections not built yet, until opened (``open_section``).
        self.deferred = {}
        self.status = StatusLine(state)
        sections = {key: self._section(key) for key in PANELS}
        # Each panel of the accordion is built when first opened: until then an empty box.
        self.tools = widgets.Accordion(children=[widgets.VBox(layout=shared_layout()) for _ in TOOLS],
                                       titles=tuple(t for t, _, _ in TOOLS),
                                       layout=widgets.Layout(width="100%"))
        self.link = ViewLink(self.view_query, current_address,
                             watch=[(state, ["index", "layer", "class_index", "version"]), (self.tools, ["selected_index"])])
        sidebar = widgets.VBox([*(sections[key] for key in SIDEBAR), self.link],
                               layout=widgets.Layout(width="330px", min_width="330px", padding="0 8px 0 0"))
        sidebar.add_class("cnnviz-sidebar")
        self.tools.observe(self._on_tool_opened, names="selected_index")
        self.tool_panels: dict = {}
        #: The exercises' list with their done marks, in the start-here block.
        self.exercises = ExercisePath(state)
        main = widgets.VBox(
            [self._start_here(), sections["features"], sections["filters"], sections["strip"],
             widgets.HBox([sections["dense"], sections["softmax"]],
                          layout=widgets.Layout(width="100%", flex_flow="row wrap")),
             sections["compare"], sections["stats"], sections["heatmap"],
             self._tools_region()],
            layout=widgets.Layout(flex="1 1 auto", min_width="0", width="100%"),
        )
        main.add_class("cnnviz-main")
        columns = widgets.HBox([sidebar, main], layout=widgets.Layout(width="100%"))
        columns.add_class("cnnviz-columns")
        title = widgets.HTML("<h1 class='cnnviz-title'>cnnviz · see inside a convolutional network</h1>")
        self.children = [widgets.HTML(DASHBOARD_CSS + CRISP_CSS), title, self.status,
                         columns]
        share_looks(self)

    def _start_here(self):
        """What the page is, the order of its numbered blocks and the exercises: plain text and
        controls that cost no model work, so the first screen is as quick as without it."""
        def steps(keys):
            return ", ".join(TEXTS[key][0].split(":")[0] for key in keys)

        below = [key for key in TEXTS if key not in SIDEBAR]
        text = widgets.HTML(
            "<h2 class='cnnviz-title' style='font-size:1.25em'>Start here</h2>"
            "<p>This page shows what a trained convolutional network does with one picture: what each "
            "layer sees, what it looks for, and how it decides which of the classes it is.</p>"
            f"<p><b>Follow the numbers.</b> In the side bar: {steps(SIDEBAR)}. Then below, top to bottom: "
            f"{steps(below)}. The five exercises go along the way, each also in the section it uses; "
            "4 and 5 are panels at the bottom of the page. Tick each one when you are done.</p>"
            "<p><b>The whole network at once:</b> “The whole network at a glance”, the first panel at the "
            "bottom of the page, shows every layer side by side for this picture; a click on one of its "
            "maps opens that layer in the sections.</p>")
        box = widgets.VBox([text, self.exercises])
        box.add_class("cnnviz-start")
        box.add_class(REGION_CLASS)
        return box

    def _tools_region(self):
        region = widgets.VBox([
            widgets.HTML("<h3>Exercises, advanced topics and your own data</h3>"
                         "<div class='cnnviz-note'>Open a panel to start it (Tab to its title, then "
                         "Enter).</div>"),
            self.tools])
        region.add_class(REGION_CLASS)
        region.add_class("cnnviz-tools")
        return region

    def _section(self, key):
        title, note = TEXTS[key]
        note = " ".join([note, *(ex.note() for ex in EXERCISES if ex.section == key)])
        if key in self.panels:
            body = self.panels[key]
        else:
            # As tall as a small panel: the sections below stay out of sight until scrolled to.
            body = self.deferred[key] = Deferred(lambda: self._build(key), f"section {title}",
                                                 layout=widgets.Layout(min_height="320px"))
        box = section(title, note, body, layout=widgets.Layout(min_width="0"))
        box.add_class("cnnviz-section")
        box.add_class(REGION_CLASS)
        box.add_class(f"cnnviz-section-{key}")
        return box

    def _build(self, key):
        try:
            panel = PANELS[key](self.state)
        except Exception as exc:  # A section that cannot start must not break the others.
            self.state.status = f"⚠ {TEXTS[key][0]}: {exc}"
            raise
        self.panels[key] = panel
        share_looks(panel)
        if key == "heatmap":
            self.link.follow([(panel.mode, ["value"]), (panel.method, ["value"])])
        return panel

    def open_section(self, key: str):
        """The panel of section ``key`` (of ``TEXTS``), built now if it was not yet: what the
        student gets by scrolling to the section or pressing its button."""
        if key in self.panels:
            return self.panels[key]
        return self.deferred[key].reveal()

    def _on_tool_opened(self, change):
        i = change["new"]
        # A panel the student closed, or left for another, skips image changes until shown again.
        for j, panel in self.tool_panels.items():
            if isinstance(panel, StateWidget):
                panel.show(j == i)
        if i is None or i in self.tool_panels:
            return
        _, cls, note = TOOLS[i]
        name = cls.__name__
        note = " ".join([note, *(ex.note() for ex in EXERCISES if ex.panel == name)])
        try:
            panel = cls(self.state)
        except Exception as exc:  # A panel that cannot start must not break the others.
            self.state.status = f"⚠ {name}: {exc}"
            return
        self.tool_panels[i] = panel
        if isinstance(panel, NetworkOverview):
            panel.observe(self._on_overview_pick, names="selection")
        self.tools.children[i].children = [widgets.HTML(f"<div class='cnnviz-note'>{note}</div>"), panel]
        share_looks(self.tools.children[i])

    def _on_overview_pick(self, change):
        # The overview picks a layer and one of its maps: the feature grid shows that map large.
        if not change["new"] or "features" not in self.panels:
            return
        layer, channel = change["new"]
        grid = self.panels["features"]
        if self.state.layer == layer and self.state.layer_info(layer).spatial and channel <= grid.channel.max:
            grid.channel.value = channel

    def open_tool(self, name: str):
        """Open (and build) the tool panel named like its widget class, e.g. "TopImages"."""
        names = [cls.__name__ for _, cls, _ in TOOLS]
        self.tools.selected_index = names.index(name)
        return self.tool_panels.get(names.index(name))

    # ----- links that reopen a view --------------------------------------------------------------
    def view(self) -> links.View:
        """What the student looks at now: image, layer, heatmap method, class and open panel."""
        opened = self.tools.selected_index
        heatmap = self.panels["heatmap"].heatmap_shown if "heatmap" in self.panels else HEATMAP_MODE
        return links.View(image=self.state.index, layer=self.state.layer,
                          heatmap=heatmap, class_index=self.state.class_index,
                          panel=None if opened is None else TOOLS[opened][1].__name__,
                          epoch=self._checkpoint_on_screen())

    def _checkpoint_on_screen(self):
        """The epoch of the training checkpoint on screen, None for the final model or another."""
        epoch = checkpoint_epoch_of(self.state.model)
        epochs = self._checkpoint_epochs()
        return None if epoch is None or (epochs and epoch == epochs[-1]) else epoch

    @staticmethod
    def _checkpoint_epochs() -> tuple:
        try:
            return tuple(checkpoint_accuracies())
        except FileNotFoundError:  # A package built without checkpoints: no epoch to link to.
            return ()

    def view_query(self) -> str:
        """The address query that reopens the current view (``links.view_query``)."""
        return links.view_query(self.view(), self.state.class_names)

    def view_choices(self) -> links.Choices:
        """What a link may ask for on this dashboard."""
        return links.Choices(images=len(self.state.images), layers=tuple(i.name for i in self.state.layers),
                             heatmaps=heatmap_choices(),
                             class_names=self.state.class_names,
                             panels=tuple(cls.__name__ for _, cls, _ in TOOLS),
                             epochs=self._checkpoint_epochs())

    def open_view(self, query: str) -> links.ParsedView:
        """Show the view an address query asks for (``?image=42&layer=conv2_act&heatmap=gradcam&
        class=cat&panel=TopImages``). A query with any bad or unknown value changes nothing: the
        status line says what is wrong, and the dashboard stays on its view."""
        parsed = links.parse_view(query, self.view_choices())
        if not parsed.ok:
            self.state.status = ("⚠ This link could not be opened, so the dashboard shows its first view: "
                                 + "; ".join(parsed.problems) + ".")
            return parsed
        view, state = parsed.view, self.state
        if view.image is not None and view.image != state.index:
            state.index = view.image
        if view.layer is not None and view.layer != state.layer:
            state.layer = view.layer
        if view.heatmap is not None:
            self.open_section("heatmap").show_heatmap(view.heatmap)
        # After the image: a new image goes back to its own predicted class.
        if view.class_index is not None and view.class_index != state.class_index:
            state.class_index = view.class_index
        if view.epoch is not None:
            self.open_tool("TrainingTimeline").show_epoch(view.epoch)
        if view.panel is not None:
            self.open_tool(view.panel)
        if parsed.ignored:
            state.status = ("Left out of the link: " + ", ".join(links.shown(k) for k in parsed.ignored)
                            + f" (the dashboard reads {', '.join(links.KEYS)}).")
        return parsed

    def follow_address(self):
        """Open the view the page's address asks for: at once in a kernel started for its page,
        or, in a pre-heated kernel, as soon as a page takes it (``serving.page_request``; the
        thread that waits for it is returned, else None)."""
        return when_address_known(self._on_address)

    def _on_address(self, address: links.PageAddress):
        if address.query:
            self.open_view(address.query)

    def close(self):
        # Every panel (and its observers of the state), every section box, the accordion: all
        # that the dashboard made.
        close_owned(self)
        super().close()


class friendly_errors:
    """A context manager for notebooks: an exception inside is shown as a short message that says
    what went wrong, instead of a traceback (Voilà hides tracebacks, which would leave a student
    with nothing to go on).

    >>> with friendly_errors():                  # doctest: +SKIP
    ...     display(Dashboard(ModelState.from_default()))
    """

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            return False
        import html

        from IPython.display import HTML, display

        display(HTML(
            "<div style='color:#b71c1c;font-size:1.1em'><b>cnnviz could not start.</b><br>"
            f"{html.escape(type(exc).__name__)}: {html.escape(str(exc)).replace(chr(10), '<br>')}</div>"
        ))
        return True
