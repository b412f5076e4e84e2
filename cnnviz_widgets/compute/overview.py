"""The whole network at a glance: one column per layer, from the input to the class scores, each
holding a few of that layer's values for one image. Pure functions, no widget code."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: How many feature maps a column of a layer with maps shows (the first channels).
MAPS_PER_COLUMN = 4
#: How many values a column of a one-dimensional layer shows as bars (the first ones).
BARS_PER_COLUMN = 128


@dataclass(frozen=True, eq=False)
class OverviewColumn:
    """One column of the overview.

    name : the Keras layer name ("input" for the image itself)
    class_name : the Keras class ("InputLayer" for the image)
    shape : the layer's output shape without the batch axis, e.g. (32, 32, 32)
    params : the layer's parameter count (``layer.count_params()``; 0 for the input)
    kind : "image" (the input picture), "maps" (a stack of 2-D maps) or "bars" (a vector)
    values : float32 — "image": (H, W, C) uint8 picture; "maps": (h, w, k) the first k channels of
             the layer's output; "bars": (k,) its first k values
    total : how many channels ("maps") or values ("bars") the layer has in all
    """

    name: str
    class_name: str
    shape: tuple
    params: int
    kind: str
    values: np.ndarray
    total: int

    @property
    def shown(self) -> int:
        """How many maps or bars the column shows."""
        return 1 if self.kind == "image" else int(self.values.shape[-1])


def layer_params(model) -> dict:
    """``{layer name: layer.count_params()}`` for every layer of the unrolled model (nested layers
    under their ``outer/inner`` names)."""
    from .inspection import Inspector

    inspector = Inspector.for_model(model)
    return {info.name: int(inspector.layer(info.name).count_params()) for info in inspector.layers}


def overview_columns(layers, outputs: dict, image, params: dict, maps: int = MAPS_PER_COLUMN,
                     bars: int = BARS_PER_COLUMN) -> tuple:
    """The columns of the overview for one image, input first, in execution order.

    layers : the ``LayerInfo`` of every layer (``Inspector.layers``); outputs : ``{layer name:
    ndarray (layer shape)}`` of one image (``Inspection.outputs``); image : uint8 (H, W, C), the
    picture; params : ``{layer name: parameter count}`` (``layer_params``). ``maps`` first channels
    of each layer with maps, ``bars`` first values of each vector. No model call: a new image costs
    slicing arrays already computed. Returns a tuple of ``OverviewColumn``.
    """
    if maps < 1 or bars < 1:
        raise ValueError(f"a column shows at least one map and one bar; got maps={maps}, bars={bars}")
    image = np.asarray(image)
    columns = [OverviewColumn("input", "InputLayer", tuple(image.shape), 0, "image", image, 1)]
    for info in layers:
        if info.name not in outputs:
            raise ValueError(f"no output for layer {info.name!r}; outputs are: {', '.join(outputs)}")
        out = np.asarray(outputs[info.name], dtype=np.float32)
        if out.ndim == 3:
            kind, values = "maps", out[..., :maps]
        else:
            kind, values = "bars", out.reshape(-1)[:bars]
        columns.append(OverviewColumn(info.name, info.class_name, tuple(info.shape), int(params.get(info.name, 0)),
                                      kind, values, int(out.shape[-1]) if out.ndim == 3 else int(out.size)))
    return tuple(columns)
