"""The private APIs of Keras and traitlets that ``cnnviz_widgets.compat`` relies on, exercised
against the installed versions. A failure here names what a new release changed:

* ``Functional._run_through_graph``           -> compat.run_through_graph / is_graph_model
* ``KerasTensor._keras_history``, ``Operation._inbound_nodes`` -> compat.input_tensor_of
* ``keras.src.saving.serialization_lib.SafeModeScope``         -> compat.safe_mode_scope
* ``TraitType._validate``, ``HasTraits._trait_values``         -> compat.set_by_identity
* ``HasTraits._trait_values``                                   -> compat.own_attributes
* ``keras.src.visualization`` and the other modules Keras loads   -> compat.KERAS_UNUSED_MODULES
"""
from __future__ import annotations

import keras
import numpy as np
import pytest
import traitlets

from cnnviz_widgets import compat


def _branching_model():
    """Two branches joined by an Add, so graph order is more than a chain."""
    x = keras.Input((4, 4, 3), name="x")
    a = keras.layers.Conv2D(2, 3, padding="same", name="a")(x)
    b = keras.layers.Conv2D(2, 1, name="b")(x)
    s = keras.layers.Add(name="sum")([a, b])
    y = keras.layers.Dense(3, name="out")(keras.layers.Flatten(name="flat")(s))
    return keras.Model(x, y)


def test_run_through_graph_reapplies_every_layer_in_graph_order():
    """Relies on ``Functional._run_through_graph(inputs, operation_fn=...)``."""
    model = _branching_model()
    assert compat.is_graph_model(model)
    assert not compat.is_graph_model(keras.layers.Dense(2))
    seen = []

    def apply(op, *args, **kwargs):
        seen.append(op.name)
        return op(*args, **kwargs)

    x = keras.Input((4, 4, 3), name="again")
    rebuilt = keras.Model(x, compat.run_through_graph(model, x, apply))
    # Every layer of the model once; "sum" after both of its inputs, "flat" and "out" last.
    assert sorted(seen) == ["a", "b", "flat", "out", "sum"]
    assert seen.index("sum") > max(seen.index("a"), seen.index("b"))
    assert seen[-2:] == ["flat", "out"]
    # The same layers (same weights) on a new input: the original model's own answer.
    batch = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(rebuilt.predict(batch, verbose=0), model.predict(batch, verbose=0), rtol=1e-6)


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


def test_safe_mode_scope_overrides_the_process_wide_switch(tmp_path):
    """Relies on ``keras.src.saving.serialization_lib.SafeModeScope``: without it, a process that
    called ``keras.config.enable_unsafe_deserialization()`` loads a Lambda layer (Python code from
    the file) even with ``safe_mode=True``."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda t: t * 2.0, name="double")])
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(ValueError, match="(?i)lambda"):
        keras.saving.load_model(path, safe_mode=True)
    # The outer scope puts the process-wide switch back as it was when the test ends.
    with compat.safe_mode_scope():
        keras.config.enable_unsafe_deserialization()
        loaded = keras.saving.load_model(path, safe_mode=True)
        np.testing.assert_allclose(loaded.predict(np.ones((1, 2)), verbose=0), [[2.0, 2.0]])
        with compat.safe_mode_scope(), pytest.raises(ValueError, match="(?i)lambda"):
            keras.saving.load_model(path, safe_mode=True)
    with pytest.raises(ValueError, match="(?i)lambda"):
        keras.saving.load_model(path, safe_mode=True)


class _NoEquality:
    """An object that refuses ``==``: traitlets' own ``set`` would call it."""

    def __eq__(self, other):
        raise AssertionError("compared with ==")

    __hash__ = object.__hash__


class _IdentityTrait(traitlets.Any):
    def set(self, obj, value):
        compat.set_by_identity(self, obj, value)


class _Holder(traitlets.HasTraits):
    value = _IdentityTrait(allow_none=True)


class _ValidatedTrait(traitlets.Int):
    def set(self, obj, value):
        compat.set_by_identity(self, obj, value)


class _Counted(traitlets.HasTraits):
    n = _ValidatedTrait(0)

    @traitlets.validate("n")
    def _validate_n(self, proposal):
        if proposal["value"] < 0:
            raise traitlets.TraitError("n must not be negative")
        return proposal["value"]


def test_set_by_identity_notifies_for_a_new_object_only_and_never_compares():
    """Relies on ``TraitType._validate`` (validation, cross-validation) and
    ``HasTraits._trait_values`` (the stored values); notifies through public ``notify_change``."""
    holder = _Holder()
    changes = []
    holder.observe(changes.append, names="value")
    first, second = _NoEquality(), _NoEquality()
    holder.value = first
    holder.value = first
    holder.value = second
    assert [(c["old"], c["new"]) for c in changes] == [(None, first), (first, second)]
    assert holder.value is second
    # Two equal arrays are two objects: a change, found without comparing 10,000 images.
    a, b = np.zeros((3, 2)), np.zeros((3, 2))
    holder.value = a
    holder.value = b
    assert [c["new"] for c in changes[2:]] == [a, b] and changes[-1]["new"] is b
    # Notifications held by hold_trait_notifications arrive when it ends.
    with holder.hold_trait_notifications():
        holder.value = first
        assert len(changes) == 4
    assert len(changes) == 5 and changes[-1]["new"] is first
    # A value the trait type refuses, and one a @validate method refuses, leave the value as it was.
    counted = _Counted()
    counted.n = 3
    with pytest.raises(traitlets.TraitError):
        counted.n = "three"
    with pytest.raises(traitlets.TraitError, match="negative"):
        counted.n = -1
    assert counted.n == 3


class _Owner(traitlets.HasTraits):
    held = traitlets.Any()


def test_own_attributes_leave_out_the_trait_values_only():
    """Relies on ``HasTraits._trait_values``: traitlets keeps trait values in the instance's
    ``__dict__``, so ``vars`` reaches a trait's value as well as the object's own attributes."""
    in_trait, in_attribute = object(), object()
    owner = _Owner(held=in_trait)
    owner.mine = in_attribute

    def reaches(mapping, target):
        return any(v is target or (isinstance(v, dict) and any(x is target for x in v.values()))
                   for v in mapping.values())

    # What the function exists for: the trait's value is reachable through vars().
    assert reaches(vars(owner), in_trait)
    own = compat.own_attributes(owner)
    assert own["mine"] is in_attribute
    assert not reaches(own, in_trait)
    # Only the store of values is left out: every other entry of vars() stays.
    assert len(vars(owner)) - len(own) == 1


def test_each_unused_keras_module_is_one_keras_imports_itself():
    """Relies on ``keras.wrappers``, ``keras.visualization`` and ``keras.src.visualization`` being
    modules that ``import keras`` loads (so deferring them saves their imports)."""
    import importlib.util
    import sys

    for name in compat.KERAS_UNUSED_MODULES:
        assert importlib.util.find_spec(name) is not None, name
        assert name in sys.modules, name
