"""The private APIs of Keras that cnnviz relies on, in one place.

Each function below names the private thing it uses and why no public API does the job;
``tests/test_compat.py`` exercises every one against the installed Keras.
"""
from __future__ import annotations


def input_tensor_of(tensor):
    """The symbolic input of the layer that produced the Keras tensor ``tensor`` (its first argument).

    Relies on ``KerasTensor._keras_history`` (operation, node index, tensor index) and
    ``Operation._inbound_nodes``: Keras has no public way to walk a functional graph backwards
    from a tensor to the tensor its producing layer read.
    """
    operation, node_index, _ = tensor._keras_history
    return operation._inbound_nodes[node_index].input_tensors[0]
