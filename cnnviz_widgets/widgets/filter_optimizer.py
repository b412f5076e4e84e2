"""Gradient ascent as a panel: the input a channel likes most."""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from .. import compute, render
from .base import CRISP_CSS, crisp_image, reports_errors, section, set_png
from .jobs import OWN_LAYER_NOTE, ToolWidget, picked_or, stage_options
from .sharing import Download


def _to_uint8(img) -> np.ndarray:
    """A float image (H, W, C) contrast-stretched to uint8 by its own min and max."""
    img = np.asarray(img, dtype=np.float32)
    lo, hi = float(img.min()), float(img.max())
    scaled = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    return (scaled * 255 + 0.5).astype(np.uint8)


class FilterOptimizer(ToolWidget):
    """What input does a channel like most? Gradient ascent from grey noise
    (``compute.maximize_activation``), for one channel or the first N channels as one montage.

    Results live in the state's cache, keyed by (layer, channel, steps), until the model or the
    images change.

    >>> opt = FilterOptimizer(state, blocking=True)               # doctest: +SKIP
    >>> opt.layer.value, opt.channel.value = "conv3_act", 5; opt.generate()   # doctest: +SKIP
    """

    def __init__(self, state, blocking: bool = False, **kwargs):
        super().__init__(state, blocking=blocking, **kwargs)
        self.layer = widgets.Dropdown(description="layer", layout=widgets.Layout(width="220px"))
        self.channel = widgets.IntSlider(0, min=0, max=0, description="channel", continuous_update=False)
        self.steps = widgets.IntSlider(64, min=8, max=256, step=8, description="steps", continuous_update=False)
        self.generate_button = widgets.Button(description="generate", icon="magic")
        self.grid_count = widgets.BoundedIntText(16, min=1, max=64, description="first N",
                                                 layout=widgets.Layout(width="150px"))
        self.grid_button = widgets.Button(description="grid of channels", icon="th")
        self.image = crisp_image()
        self.caption = widgets.HTML()
        self.grid_image = crisp_image()
        self.grid_caption = widgets.HTML()
        self.children = [
            widgets.HTML(CRISP_CSS),
            section("What does a channel look for?",
                    "Start from grey noise and change the pixels, step by step, so that one channel's "
                    "mean activation grows (gradient ascent, with jitter and blur against noise). "
                    "Images are contrast-stretched for display. " + OWN_LAYER_NOTE,
                    widgets.HBox([self.layer, self.channel, self.steps]),
                    widgets.HBox([self.generate_button, self.grid_count, self.grid_button]), self.job),
            widgets.HBox([self.image, self.caption]),
            Download.picture(self.image, lambda: compute.file_name(
                "cnnviz-ascent", self.layer.value, f"channel{self.channel.value}", suffix=".png")),
            self.grid_caption, self.grid_image,
            Download.picture(self.grid_image, lambda: compute.file_name(
                "cnnviz-ascent", self.layer.value, f"first{self.grid_count.value}", suffix=".png")),
        ]
        self.generate_button.on_click(lambda _b: self.generate())
        self.grid_button.on_click(lambda _b: self.generate_grid())
        for control in (self.layer, self.channel, self.steps):
            control.observe(self._on_control, names="value")
        self._observe(self._on_version, ["version"])
        self._on_version(None)

    @reports_errors
    def _on_version(self, change):
        stages = stage_options(self.state)
        self._offer(self.layer, stages, lambda: picked_or(self.state, stages, stages[-1]))
        with self._quietly():
            self._sync_channel()
        self.grid_image.layout.display = "none"
        self.grid_caption.value = ""
        self._render()

    def _sync_channel(self):
        if self.layer.value:
            count = self.state.layer_info(self.layer.value).shape[-1]
            self.channel.max = count - 1
            self.grid_count.max = count

    def _on_control(self, change):
        if self._control_changed(change, self.layer, self._sync_channel):
            self._render()

    @staticmethod
    def _key(layer, channel, steps) -> tuple:
        return ("ascent", layer, int(channel), int(steps))

    def result(self, channel=None):
        """The cached float32 image (H, W, C) of a channel at the current settings, or None."""
        channel = self.channel.value if channel is None else channel
        return self.state.cache.peek(self._key(self.layer.value, channel, self.steps.value))

    def _ascent(self, layer, steps):
        """A function ``(channel, progress) → image`` for the background job. The cache's
        generation, the model and the input range are read here, on the kernel's thread, when the
        job starts: an image made for a model that was replaced meanwhile is not cached."""
        cache = self.state.cache
        generation = cache.generation
        model, input_range = self.state.model, self.state.input_range()

        def ascent(channel, progress):
            return cache.get(self._key(layer, channel, steps), lambda: compute.maximize_activation(
                model, layer, int(channel), steps=int(steps), progress=progress, value_range=input_range),
                generation)
        return ascent

    @reports_errors
    def generate(self):
        """Run gradient ascent for the selected channel (cached)."""
        layer, channel, steps = self.layer.value, self.channel.value, self.steps.value
        version = self.state.version
        ascent = self._ascent(layer, steps)

        def done(_img):
            if version == self.state.version:
                self._render()

        self.job.start(lambda progress: ascent(channel, progress), done,
                       f"gradient ascent on {layer}, channel {channel}…")

    @reports_errors
    def generate_grid(self):
        """Run gradient ascent for the first N channels; one montage PNG."""
        layer, steps, n = self.layer.value, int(self.steps.value), int(self.grid_count.value)
        version = self.state.version
        ascent = self._ascent(layer, steps)

        def work(progress):
            return [ascent(k, lambda s, t, k=k: progress(k * steps + s, n * steps)) for k in range(n)]

        def done(images):
            if version != self.state.version:
                return
            tiles = np.stack([_to_uint8(img) for img in images])
            set_png(self.grid_image, render.labelled_montage(tiles, [f"ch {k}" for k in range(n)], cols=8, size=64),
                    alt=f"{n} images made by gradient ascent, one per channel 0 to {n - 1} of {layer}")
            self.grid_image.layout.display = None
            self.grid_caption.value = f"<b>{layer}</b>: channels 0–{n - 1}, {steps} steps each"

        self.job.start(work, done, f"gradient ascent on {n} channels of {layer}…")

    @reports_errors
    def _render(self):
        img = self.result()
        layer, channel = self.layer.value, self.channel.value
        if img is None:
            self.image.layout.display = "none"
            self.caption.value = f"<i>Press “generate” for channel {channel} of {layer}.</i>"
            return
        set_png(self.image, render.image_png(_to_uint8(img), size=192),
                alt=f"The image gradient ascent made for channel {channel} of {layer}, "
                    f"after {self.steps.value} steps from grey noise")
        self.image.layout.display = None
        noise = compute.start_noise(self.state.inspector.input_shape, self.state.input_range())
        means = compute.channel_means(self.state.model, np.stack([img, noise]), layer)[:, channel]
        self.caption.value = (f"<b>{layer}</b>, channel {channel}, {self.steps.value} steps<br>"
                              f"mean activation: <b>{means[0]:.3f}</b> for this image, "
                              f"{means[1]:.3f} for the grey noise it started from")
