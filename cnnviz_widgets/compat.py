"""The private APIs of Keras and traitlets that cnnviz relies on, in one place.

Each is used here and nowhere else (``tests/test_architecture.py`` checks that), and
``tests/test_compat.py`` exercises every one against the installed versions, so a new release
that changes one fails there, by name:

* ``Functional._run_through_graph`` (Keras) — ``run_through_graph``: re-applies a functional model's
  own layers to a new symbolic input, one call per layer, so that the layers of a nested sub-model
  can be connected to the outer model's input. Keras has no public hook for this
  (``clone_model`` makes new layers; a sub-model's own ``.output`` is disconnected from the outer
  input).
* ``KerasTensor._keras_history`` and ``Operation._inbound_nodes`` (Keras) — ``input_tensor_of``:
  from a symbolic tensor back to the tensor its layer read. No public API walks a graph backwards.
* ``keras.src.saving.serialization_lib.SafeModeScope`` (Keras) — ``safe_mode_scope``: the
  ``safe_mode=True`` argument of ``keras.saving.load_model`` is overridden by the process-wide
  switch that ``keras.config.enable_unsafe_deserialization()`` turns off; only this scope forces
  safe mode for one load. Without it (a Keras that moved it) the file checks of
  ``loading.model_files`` still refuse every construct that could run code.
* ``keras.src.visualization`` (Keras) — ``KERAS_UNUSED_MODULES``: the modules ``import keras`` loads
  although a dashboard never uses them, deferred by ``startup.defer_until_used`` (the private
  one because ``keras.src`` imports it itself, beside the public ``keras.visualization``).
* ``TraitType._validate`` and ``HasTraits._trait_values`` (traitlets) — ``set_by_identity``: a trait
  that stores a new value and notifies without traitlets' ``old == new`` (which compares two image
  arrays element by element). The notification goes through the public ``notify_change``, not the
  private ``_notify_trait`` it wraps.
* ``HasTraits._trait_values`` (traitlets) — ``own_attributes``: traitlets keeps an object's trait
  values in this one entry of the instance's ``__dict__``; leaving it out of ``vars(obj)`` leaves
  the attributes the object's own code set.
"""
from __future__ import annotations

import contextlib

from traitlets import Bunch

# ----- Keras ----------------------------------------------------------------------------------------

#: What ``import keras`` loads that a dashboard never uses: the scikit-learn wrappers (they import
#: scikit-learn, and SciPy with it) and the plotting helpers (they import Matplotlib's pyplot);
#: about 1.2 s of a kernel's start. ``startup.defer_until_used`` runs them on first use.
KERAS_UNUSED_MODULES = ("keras.wrappers", "keras.visualization", "keras.src.visualization")


def is_graph_model(model) -> bool:
    """True when ``run_through_graph`` can re-apply ``model``'s layers (a Functional model)."""
    return hasattr(model, "_run_through_graph")


def run_through_graph(model, x, apply):
    """Re-apply the layers of the functional ``model`` to the symbolic input ``x`` in graph order.

    ``apply(operation, *args, **kwargs)`` is called for each layer instead of the layer itself and
    returns its output. Returns the model's output for ``x`` (one tensor, or the first of several).
    """
    outs = model._run_through_graph(x, operation_fn=lambda op: lambda *a, **k: apply(op, *a, **k))
    return outs[0] if isinstance(outs, (list, tuple)) else outs


def input_tensor_of(tensor):
    """The symbolic input of the layer that produced the Keras tensor ``tensor`` (its first argument)."""
    operation, node_index, _ = tensor._keras_history
    return operation._inbound_nodes[node_index].input_tensors[0]


def safe_mode_scope():
    """A context in which Keras deserialises in safe mode whatever the process-wide switch says
    (a no-op context when this Keras has no ``SafeModeScope``)."""
    try:
        from keras.src.saving.serialization_lib import SafeModeScope
    except ImportError:
        return contextlib.nullcontext()
    return SafeModeScope(True)


# ----- traitlets ------------------------------------------------------------------------------------

def set_by_identity(trait, obj, value) -> None:
    """Validate ``value`` for ``trait`` of the HasTraits ``obj``, store it, and notify observers
    when it is another object than the one stored (no ``==``)."""
    new = trait._validate(obj, value)
    old = obj._trait_values.get(trait.name, trait.default_value)
    obj._trait_values[trait.name] = new
    if old is not new:
        obj.notify_change(Bunch(name=trait.name, old=old, new=new, owner=obj, type="change"))


def own_attributes(obj) -> dict:
    """``vars(obj)`` of the HasTraits ``obj`` without traitlets' store of its trait values: the
    attributes its own code set (``self.body = ...``), and traitlets' other bookkeeping."""
    return {name: value for name, value in vars(obj).items() if name != "_trait_values"}
