"""The private APIs of Keras and traitlets that ``cnnviz_widgets.compat`` relies on, exercised
against the installed versions. A failure here names what a new release changed."""
from __future__ import annotations

import keras

from cnnviz_widgets import compat


def test_input_tensor_of_walks_back_one_layer():
    """Relies on ``KerasTensor._keras_history`` and ``Operation._inbound_nodes``."""
    x = keras.Input((4, 4, 3), name="x")
    conv = keras.layers.Conv2D(2, 3, name="conv")(x)
    act = keras.layers.ReLU(name="act")(conv)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(act)
    # The graph was built by hand above: each layer reads the tensor made just before it.
    assert compat.input_tensor_of(pooled) is act
    assert compat.input_tensor_of(act) is conv
    assert compat.input_tensor_of(conv) is x
