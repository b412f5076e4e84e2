"""Controls that write the state's selections: the image (section 3) and the layer (sections 4, 5, 11)."""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from .. import render
from ..compute import describe, stage_starts
from .base import CRISP_CSS, StateWidget, crisp_image, reports_errors, set_png
from .jobs import JobBar

#: Value of the class filter that lets every image through.
ALL_CLASSES = -1


def shape_text(shape) -> str:
    """A layer's output shape as the guide writes it: (32, 32, 32) → "32×32×32"."""
    return "×".join(str(d) for d in shape)


def layer_label(info, start) -> str:
    """The dropdown label of one layer: "conv · conv1_act — 32×32×32".

    The group is the kind of the stage the layer belongs to (conv or dense), else its Keras class
    (e.g. "Flatten"), so a student sees at a glance which layers belong to which convolution.
    """
    group = start.kind if start is not None else info.class_name
    return f"{group} · {info.name} — {shape_text(info.shape)}"


class ImagePicker(StateWidget):
    """Choose the image every panel shows (guide section 3), with its thumbnail and caption.

    An index slider and a number box follow ``state.index`` both ways; a class filter restricts
    "◀ previous", "next ▶" and "random" to images of one true class; "next misclassified" jumps
    to the next image the model gets wrong (the first time it classifies every image, in the
    background behind a progress bar with a Cancel button; ``wait()`` waits for it). The caption is
    green when the prediction is right, red when it is wrong.

    Parameters
    ----------
    state : ModelState
    seed : int or None
        Seed of the random button's generator, so a session can be replayed.
    thumbnail_size : int
        About how many pixels wide the (crisply upscaled) thumbnail is.
    home_name : str
        What to call the images the state has when the picker is made, on the button that goes
        back to them once uploads have changed the set (e.g. "CIFAR-10 test images").
    blocking : bool
        Classify the images for "next misclassified" in the calling thread (tests, scripts).

    >>> picker = ImagePicker(state, seed=0)   # doctest: +SKIP
    >>> picker.next_button.click()             # doctest: +SKIP
    >>> state.index                            # doctest: +SKIP
    1
    """

    def __init__(self, state, seed=None, thumbnail_size: int = 128, home_name: str = "first images",
                 blocking: bool = False, **kwargs):
        super().__init__(state, **kwargs)
        self.rng = np.random.default_rng(seed)
        self._home = (state.images, state.labels)
        self.home_button = widgets.Button(
            description=f"back to the {len(state.images):,} {home_name}", icon="undo",
            tooltip="Show the images the dashboard started with again (your uploads are dropped)",
            layout=widgets.Layout(width="auto", display="none"))
        self.thumbnail_size = int(thumbnail_size)
        # True while this widget adjusts its own controls to the state: their observers must not
        # write those transient values (e.g. a slider clamped by a smaller max) back to the state.
        self._syncing = False
        last = len(state.images) - 1
        # The slider has a row of its own, as wide as the side bar: 10,000 images on a short track
        # would be a hundred images per pixel. The number box and the buttons step exactly.
        self.slider = widgets.IntSlider(value=state.index, min=0, max=last, description="",
                                        tooltip="image number (the arrow keys step one image)",
                                        continuous_update=False,
                                        layout=widgets.Layout(width="100%", margin="0"))
        self.slider.add_class("cnnviz-image-slider")
        self.number = widgets.BoundedIntText(value=state.index, min=0, max=last, description="image",
                                             style={"description_width": "42px"},
                                             layout=widgets.Layout(width="140px"))
        self.count = widgets.HTML()
        self.class_filter = widgets.Dropdown(description="class", options=self._class_options(),
                                             value=ALL_CLASSES, style={"description_width": "42px"},
                                             layout=widgets.Layout(width="180px"))
        self.prev_button = widgets.Button(description="◀ previous", layout=widgets.Layout(width="auto"))
        self.next_button = widgets.Button(description="next ▶", layout=widgets.Layout(width="auto"))
        self.random_button = widgets.Button(description="random", icon="random",
                                            layout=widgets.Layout(width="auto"))
        self.misclassified_button = widgets.Button(description="next misclassified",
                                                   layout=widgets.Layout(width="auto"))
        self.image = crisp_image()
        self.caption = widgets.HTML()
        # Right or wrong in words and a sign, not only in the caption's colour.
        self.verdict = widgets.HTML()
        self.status = widgets.HTML()
        row = {"flex_flow": "row wrap", "align_items": "center"}
        # Shown only while the images are being classified.
        self.job = JobBar(self._report_error, blocking=blocking,
                          layout=widgets.Layout(display="none", **row))
        self.children = [
            widgets.HTML(CRISP_CSS),
            self.slider,
            widgets.HBox([self.number, self.count], layout=widgets.Layout(**row)),
            widgets.HBox([self.prev_button, self.next_button, self.random_button],
                         layout=widgets.Layout(**row)),
            widgets.HBox([self.class_filter, self.misclassified_button], layout=widgets.Layout(**row)),
            self.job,
            self.home_button,
            widgets.HBox([self.image, widgets.VBox([self.caption, self.verdict, self.status])],
                         # A box that scrolls must be reachable by keyboard; this one need not scroll.
                         layout=widgets.Layout(align_items="center", overflow="visible")),
        ]
        self.slider.observe(self._on_slider, names="value")
        self.number.observe(self._on_number, names="value")
        self.class_filter.observe(self._on_class_filter, names="value")
        self.prev_button.on_click(self._on_prev)
        self.next_button.on_click(self._on_next)
        self.random_button.on_click(self._on_random)
        self.misclassified_button.on_click(self._on_misclassified)
        self.home_button.on_click(self._on_home)
        self._observe(self._on_index, ["index"])
        self._observe(self._on_version, ["version"])
        self._observe(self._on_inspection, ["inspection"])
        self._render_labels()
        self._render()

    # ----- controls → state ---------------------------------------------------------------------
    @reports_errors
    def select(self, index: int):
        """Show image ``index`` (a no-op when it is already shown)."""
        index = int(index)
        if index != self.state.index:
            self.state.index = index

    def _on_slider(self, change):
        if not self._syncing:
            self.select(change["new"])

    def _on_number(self, change):
        if not self._syncing:
            self.select(change["new"])

    @reports_errors
    def _on_class_filter(self, change):
        if self._syncing:
            return
        pool = self.candidates()
        # Choosing a class shows one of its images at once, rather than leaving another class's
        # image on screen until the student presses "next".
        if pool is not None and len(pool) and self.state.index not in pool:
            self._step(+1)
        else:
            self._report_pool(pool)

    @reports_errors
    def _on_home(self, button):
        images, labels = self._home
        self.state.set_images(images, labels)
        self.state.status = f"Back to the {len(images):,} images the dashboard started with."

    def _on_prev(self, button):
        self._step(-1)

    def _on_next(self, button):
        self._step(+1)

    @reports_errors
    def _on_random(self, button):
        pool = self.candidates()
        if pool is None:
            pool = np.arange(len(self.state.images))
        others = pool[pool != self.state.index]
        if len(others):
            self.select(int(self.rng.choice(others)))
        self._report_pool(pool)

    def _report_error(self, exc):
        self.state.status = f"⚠ {type(self).__name__}: {exc}"

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the classification behind "next misclassified" (if one runs) to end."""
        return self.job.wait(timeout)

    @reports_errors
    def _on_misclassified(self, button):
        state = self.state
        if state.labels is None:
            return
        version = state.version
        if ("predictions",) in state.cache:
            self._jump_to_misclassified(version, state.predictions())
            return

        def work(progress):
            def both(done, total):
                progress(done, total)
                self.job.call(self._show_progress, done, total)
            return state.predictions(progress=both)

        self.misclassified_button.disabled = True
        self.job.layout.display = None
        self.job.start(work, lambda probs: self._jump_to_misclassified(version, probs),
                       f"classifying {len(state.images):,} images…", end=self._on_classified)

    def _on_classified(self):
        self.misclassified_button.disabled = self.state.labels is None
        self.job.layout.display = "none"

    def _jump_to_misclassified(self, version, probs):
        state = self.state
        if version != state.version:
            raise ValueError("the model or the images changed meanwhile; press “next misclassified” again")
        known = state.labels >= 0  # a picture of unknown class is neither right nor wrong
        wrong = np.flatnonzero((probs.argmax(axis=1) != state.labels) & known)
        pool = self.candidates()
        if pool is not None:
            wrong = np.intersect1d(wrong, pool)
        total = int(known.sum()) if pool is None else len(pool)
        where = self._filter_words()
        if not len(wrong):
            self.status.value = f"<span class='cnnviz-note'>The model classifies every image{where} correctly.</span>"
            return
        self.select(_next_after(wrong, state.index, +1))
        self.status.value = (f"<span class='cnnviz-note'>{len(wrong):,} of {total:,} images{where} "
                             f"are misclassified ({100 * len(wrong) / total:.1f} %).</span>")

    def _show_progress(self, done, total):
        self.status.value = (f"<span class='cnnviz-note'>Classifying every image to find the mistakes… "
                             f"{done:,} / {total:,}</span>")

    def _step(self, direction: int):
        pool = self.candidates()
        if pool is None:
            self.select((self.state.index + direction) % len(self.state.images))
        elif len(pool):
            self.select(_next_after(pool, self.state.index, direction))
        self._report_pool(pool)

    def candidates(self):
        """Indices of the images of the chosen true class (sorted), or None when every image is allowed."""
        chosen = self.class_filter.value
        if chosen == ALL_CLASSES or self.state.labels is None:
            return None
        return np.flatnonzero(self.state.labels == chosen)

    def _filter_words(self) -> str:
        chosen = self.class_filter.value
        if chosen == ALL_CLASSES or self.state.labels is None:
            return ""
        return f" of class {html.escape(self.state.class_names[chosen])}"

    def _report_pool(self, pool):
        if pool is None:
            self.status.value = ""
        elif not len(pool):
            self.status.value = f"<span class='cnnviz-note'>There is no image{self._filter_words()}.</span>"
        else:
            self.status.value = f"<span class='cnnviz-note'>{len(pool):,} images{self._filter_words()}.</span>"

    # ----- state → controls ---------------------------------------------------------------------
    def _on_index(self, change):
        if self.slider.value != change["new"]:
            self.slider.value = change["new"]
        if self.number.value != change["new"]:
            self.number.value = change["new"]
        self._follow_class(change["new"])

    @reports_errors
    def _follow_class(self, index: int):
        """When the image shown is not of the filter's class (typed in the number box, opened
        from an exercise), the filter follows the image, and says so."""
        chosen, labels = self.class_filter.value, self.state.labels
        if chosen == ALL_CLASSES or labels is None or labels[index] == chosen:
            return
        label = int(labels[index])
        self._syncing = True
        try:
            self.class_filter.value = label if label >= 0 else ALL_CLASSES
        finally:
            self._syncing = False
        if label >= 0:
            self._report_pool(self.candidates())
            self.status.value += (f"<span class='cnnviz-note'> The class filter now follows image "
                                  f"#{index:,}.</span>")
        else:
            self.status.value = (f"<span class='cnnviz-note'>Image #{index:,} has no known class, so the "
                                 "class filter was set to all classes.</span>")

    def _on_version(self, change):
        self._render_labels()
        # The counts under the filter are of the new image set.
        self._report_pool(self.candidates())

    def _class_options(self):
        return [("all classes", ALL_CLASSES)] + [(n, i) for i, n in enumerate(self.state.class_names)]

    @reports_errors
    def _render_labels(self):
        """Fit the controls to the current images, labels and class names."""
        state = self.state
        last = len(state.images) - 1
        index = state.index
        self._syncing = True
        try:
            # A smaller max clamps a control's value; _syncing keeps that clamped value
            # from reaching the state, which has already chosen its index.
            for control in (self.slider, self.number):
                with control.hold_sync():
                    control.max = last
                    control.value = index
            self.count.value = f"<span class='cnnviz-note'>of {last + 1:,} (0 … {last:,})</span>"
            chosen = self.class_filter.value
            options = self._class_options()
            self.class_filter.options = options
            labelled = state.labels is not None
            self.class_filter.value = chosen if labelled and chosen < len(state.class_names) else ALL_CLASSES
            self.class_filter.disabled = not labelled
            self.misclassified_button.disabled = not labelled
            no_labels = "These images have no true classes"
            self.class_filter.tooltip = "" if labelled else no_labels
            self.misclassified_button.tooltip = (
                "Jump to the next image whose predicted class is not its true class"
                if labelled else f"{no_labels}, so no prediction can be called wrong")
            self.home_button.layout.display = None if state.images is not self._home[0] else "none"
        finally:
            self._syncing = False

    @reports_errors
    def _render(self):
        insp = self.state.inspection
        text = html.escape(self.state.caption(insp))
        style = ("cnnviz-caption" if insp.correct is None else
                 "cnnviz-caption-right" if insp.correct else "cnnviz-caption-wrong")
        names = self.state.class_names
        alt = describe.image_alt(insp.index, None if insp.label is None else names[insp.label],
                                 names[insp.predicted], insp.confidence)
        with self.image.hold_sync():
            set_png(self.image, render.image_png(insp.image, self.thumbnail_size), alt=alt)
        self.caption.value = f"<div class='{style}'>{text}</div>"
        mark = describe.verdict_mark(insp.correct)
        self.verdict.value = f"<div class='cnnviz-verdict'>{mark}</div>" if mark else ""


def _next_after(pool, index: int, direction: int) -> int:
    """The first element of the sorted ``pool`` after ``index`` (before it when ``direction`` < 0),
    wrapping around at the ends."""
    if direction > 0:
        pos = int(np.searchsorted(pool, index, side="right"))
        return int(pool[pos % len(pool)])
    pos = int(np.searchsorted(pool, index, side="left")) - 1
    return int(pool[pos % len(pool)])


class LayerSelector(StateWidget):
    """Choose the layer the panels show, in execution order, labelled with its stage and shape.

    Each option reads like "conv · conv1_act — 32×32×32": the stage the layer belongs to (conv,
    dense, or the layer's class when it belongs to none), its Keras name and its output shape.
    "spatial layers only" (on by default) hides the layers without feature maps, since most
    panels show maps; it is switched off by itself when another control selects such a layer.

    >>> selector = LayerSelector(state)          # doctest: +SKIP
    >>> selector.dropdown.value = "conv2_act"    # doctest: +SKIP
    >>> state.layer                              # doctest: +SKIP
    'conv2_act'
    """

    def __init__(self, state, **kwargs):
        super().__init__(state, **kwargs)
        self._syncing = False
        # Stacked and at most the side bar's width, so that long labels are never cut off.
        self.dropdown = widgets.Dropdown(description="layer", style={"description_width": "40px"},
                                         layout=widgets.Layout(width="auto", max_width="340px"))
        self.spatial_only = widgets.Checkbox(value=True, description="spatial layers only", indent=False,
                                             layout=widgets.Layout(width="auto"))
        self.children = [self.dropdown, self.spatial_only]
        self.dropdown.observe(self._on_dropdown, names="value")
        self.spatial_only.observe(self._on_spatial_only, names="value")
        self._observe(self._on_layers, ["layers", "version"])
        self._observe(self._on_layer, ["layer"])
        self._render()

    @reports_errors
    def _on_dropdown(self, change):
        if not self._syncing and change["new"] is not None and change["new"] != self.state.layer:
            self.state.layer = change["new"]

    @reports_errors
    def _on_spatial_only(self, change):
        if self._syncing:
            return
        layers = self.state.layers
        names = [i.name for i in layers]
        if change["new"] and self.state.layer in names and not layers[names.index(self.state.layer)].spatial:
            # Keep the student near where they were: the last spatial layer before the current one.
            pos = names.index(self.state.layer)
            before = [i.name for i in layers[:pos] if i.spatial]
            after = [i.name for i in layers[pos:] if i.spatial]
            self.state.layer = (before or after)[-1 if before else 0]
        self._render()

    def _on_layers(self, change):
        self._render()

    def _on_layer(self, change):
        self._render()

    @reports_errors
    def _render(self):
        layers = self.state.layers
        current = next((i for i in layers if i.name == self.state.layer), None)
        any_spatial = any(i.spatial for i in layers)
        self._syncing = True
        try:
            with self.spatial_only.hold_sync(), self.dropdown.hold_sync():
                self.spatial_only.disabled = not any_spatial
                if self.spatial_only.value and (not any_spatial or (current is not None and not current.spatial)):
                    self.spatial_only.value = False
                only = self.spatial_only.value
                options = tuple((layer_label(i, s), i.name)
                                for i, s in zip(layers, stage_starts(layers)) if i.spatial or not only)
                if self.dropdown.options != options:
                    self.dropdown.options = options
                value = current.name if current is not None else None
                if self.dropdown.value != value:
                    self.dropdown.value = value
        finally:
            self._syncing = False
