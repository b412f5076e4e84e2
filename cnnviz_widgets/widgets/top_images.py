"""The images of the set that excite one channel most, as a panel."""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from .. import compute, render
from .base import CRISP_CSS, crisp_image, reports_errors, section, set_png
from .charts import default_dense_layer
from .jobs import OWN_LAYER_NOTE, ToolWidget, picked_or, stage_options
from .sharing import Download


class TopImages(ToolWidget):
    """The nine images of the state's set that activate a channel most (by mean activation), as
    one 3×3 montage with their indices and classes; a button under each opens it.

    One batched pass per layer (``ModelState.channel_means``, kept in the state's cache), after
    which every channel of that layer is a look-up.

    >>> top = TopImages(state, blocking=True)   # doctest: +SKIP
    >>> top.find(); top.indices                 # doctest: +SKIP
    array([5961, 6234, ...])
    """

    def __init__(self, state, k: int = 9, blocking: bool = False, **kwargs):
        super().__init__(state, blocking=blocking, **kwargs)
        self.k = int(k)
        self.indices: np.ndarray | None = None
        self._active = False
        self.layer = widgets.Dropdown(description="layer", layout=widgets.Layout(width="220px"))
        self.channel = widgets.IntSlider(0, min=0, max=0, description="channel", continuous_update=False)
        self.find_button = widgets.Button(description="find top images", icon="search")
        self.montage = crisp_image()
        self.caption = widgets.HTML()
        self.open_buttons = [widgets.Button(description="", disabled=True, layout=widgets.Layout(width="110px"))
                             for _ in range(self.k)]
        for slot, button in enumerate(self.open_buttons):
            button.on_click(lambda _b, s=slot: self.open_image(s))
        self.buttons = widgets.GridBox(self.open_buttons, layout=widgets.Layout(
            grid_template_columns="repeat(3, 115px)", grid_gap="2px"))
        self.children = [
            widgets.HTML(CRISP_CSS),
            section("Which images excite this channel most?",
                    "Every image of the set goes through the network once; the images with the "
                    "highest mean activation of the channel are shown, highest first. " + OWN_LAYER_NOTE,
                    widgets.HBox([self.layer, self.channel, self.find_button]), self.job),
            widgets.HBox([self.montage, widgets.VBox([self.caption, self.buttons])]),
            Download.picture(self.montage, lambda: compute.file_name(
                "cnnviz-top-images", self.layer.value, f"channel{self.channel.value}", suffix=".png")),
        ]
        self.find_button.on_click(lambda _b: self.find())
        for control in (self.layer, self.channel):
            control.observe(self._on_control, names="value")
        self._observe(self._on_version, ["version"])
        self._on_version(None)

    def layer_options(self) -> list:
        """Conv stages, then the first dense stage when there is one."""
        options = list(stage_options(self.state))
        try:
            dense = default_dense_layer(self.state.layers)
        except ValueError:
            dense = None
        if dense and dense not in options:
            options.append(dense)
        return options

    @reports_errors
    def _on_version(self, change):
        options = self.layer_options()
        stages = stage_options(self.state)
        self._offer(self.layer, options,
                    lambda: picked_or(self.state, options, stages[-1] if stages else options[0]))
        with self._quietly():
            self._sync_channel()
        self._render()

    def _sync_channel(self):
        if self.layer.value:
            self.channel.max = self.state.layer_info(self.layer.value).shape[-1] - 1

    def _on_control(self, change):
        if not self._control_changed(change, self.layer, self._sync_channel):
            return
        if self._means() is None and self._active:
            self.find()
        else:
            self._render()

    def _means(self):
        """The selected layer's channel means (N, channels) when already computed, else None."""
        return self.state.cache.peek(("channel_means", self.layer.value))

    @reports_errors
    def find(self):
        """Compute the layer's per-image channel means (in the background, cached) and show."""
        self._active = True
        layer, version, state = self.layer.value, self.state.version, self.state
        if self._means() is not None:
            self._render()
            return

        def work(progress):
            return state.channel_means(layer, progress)

        def done(_means):
            if version == self.state.version:
                self._render()

        self.job.start(work, done, f"running {len(self.state.images):,} images up to {layer}…")

    @reports_errors
    def _render(self):
        means = self._means()
        if means is None:
            self.indices = None
            self.montage.layout.display = "none"
            self.caption.value = "<i>Press “find top images”.</i>"
            for button in self.open_buttons:
                button.description, button.disabled = "", True
                # A button with no words has no name for a screen reader: out of the page.
                button.layout.display = "none"
            return
        ch = self.channel.value
        order = np.argsort(-means[:, ch], kind="stable")[: self.k]
        self.indices = order.astype(np.int64)
        names = self.state.class_names
        labels = self.state.labels
        captions = [f"#{i} {names[labels[i]] if labels is not None and labels[i] >= 0 else ''}\n"
                    f"{means[i, ch]:.3f}" for i in order]
        set_png(self.montage, render.labelled_montage(self.state.images[order], captions, cols=3, size=96),
                alt=f"The {len(order)} images that excite channel {ch} of {self.layer.value} most: "
                    + ", ".join(c.replace(chr(10), " mean ") for c in captions))
        self.montage.layout.display = None
        self.caption.value = (f"<b>{self.layer.value}</b>, channel {ch}: mean activation "
                              f"{means[order[0], ch]:.3f} … {means[order[-1], ch]:.3f} "
                              f"(set average {means[:, ch].mean():.3f})")
        for slot, button in enumerate(self.open_buttons):
            if slot < len(order):
                button.description, button.disabled = f"open #{order[slot]}", False
                button.layout.display = None
            else:
                button.description, button.disabled = "", True
                button.layout.display = "none"

    @reports_errors
    def open_image(self, slot: int):
        """Select the image in montage position ``slot`` (0 = the highest) in the state."""
        if self.indices is None or slot >= len(self.indices):
            raise ValueError("press “find top images” first")
        if self.state.index != int(self.indices[slot]):
            self.state.index = int(self.indices[slot])
