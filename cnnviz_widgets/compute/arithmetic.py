"""The arithmetic of one convolution output, step by step: no widget code here.

``conv_arithmetic`` works through one value of a conv stage (window × kernel, sum, bias, BatchNorm,
activation); ``stage_of`` names the layers of a stage.
"""
from __future__ import annotations

import numpy as np

from ..compat import input_tensor_of
from .inspection import Inspector, conv_stages, layer_outputs, stage_starts
from .teaching import layer_probe

#: Layers that do nothing at inference time.
_IDENTITY_CLASSES = ("Dropout", "SpatialDropout2D", "SpatialDropout1D", "GaussianNoise", "GaussianDropout")


# ----- the arithmetic of one convolution output -----------------------------------------------------

def conv_arithmetic(model, x, layer_name: str, channel: int, row: int, col: int, outputs=None) -> dict:
    """One output value of a conv stage, step by step: window × kernel, sum, + bias, BatchNorm,
    activation.

    ``layer_name`` is any layer of a conv stage: the Conv2D itself or a BatchNormalization /
    activation / dropout after it (e.g. ``conv2`` or ``conv2_act``); the whole stage is worked
    through, ending at the layer ``compute.conv_stages`` names (the one the feature grid shows).

    Parameters
    ----------
    x : float32 (H, W, C), one preprocessed image
    channel, row, col : the output channel and position in the stage's (h, w, channels) output
    outputs : ``compute.layer_outputs(model, x)`` when the caller already has it (a dashboard's
        inspection), so that no second forward pass is made

    Returns
    -------
    dict with
      ``stage`` (layer names, conv first), ``conv``, ``row``, ``col``, ``channel``,
      ``strides`` (sh, sw), ``padding`` "same"/"valid", ``dilation`` (dh, dw),
      ``pad`` (top, left): the zero rows/columns added before the input,
      ``input_layer``: the layer whose output the conv reads ("input" for the image),
      ``input_shape`` (H_in, W_in, in_c),
      ``origin`` (r0, c0): the window's top-left corner in input coordinates (negative in the padding),
      ``window`` float32 (kh, kw, in_c): the input values the kernel sees (zero padding as zeros),
      ``padded`` bool (kh, kw): True where the window lies in the zero padding,
      ``kernel`` float32 (kh, kw, in_c): the kernel of ``channel``,
      ``products`` float32 (kh, kw, in_c): window × kernel, elementwise,
      ``channel_sums`` float32 (in_c,): the products summed per input channel,
      ``sum``: all products summed, ``bias``: the channel's bias (0.0 without one), ``z``: sum + bias,
      ``steps``: one dict per stage layer after the sum ``{"layer", "class_name", "formula",
      "params", "input", "output"}``; the conv's own fused activation, if any, comes first,
      ``value``: the final number, the stage's output at (row, col, channel),
      ``layer_outputs`` ``{layer name: float}``: every stage layer's real output at that position,
      from ``compute.layer_outputs``, for cross-checking.

    >>> r = conv_arithmetic(model, x, "conv2_act", channel=3, row=0, col=15)   # doctest: +SKIP
    >>> r["sum"] + r["bias"] == r["z"]                                         # doctest: +SKIP
    True
    """
    inspector = Inspector.for_model(model)
    inspector.check_layer(layer_name)
    stage = _stage_of(inspector, layer_name)
    conv_name = stage[0].name
    conv = inspector.layer(conv_name)
    h, w, out_c = stage[0].shape
    for what, value, count in (("row", row, h), ("column", col, w), ("channel", channel, out_c)):
        if not 0 <= int(value) < count:
            raise ValueError(f"{what} {value} is out of range 0..{count - 1} "
                             f"(the output of {conv_name!r} is {h}×{w}×{out_c})")
    row, col, channel = int(row), int(col), int(channel)

    x = np.asarray(x, dtype=np.float32)
    if x.shape != tuple(inspector.input_shape):
        raise ValueError(f"x must have the model's input shape {inspector.input_shape}, not {x.shape}")
    source = layer_probe(model, conv_name, "input")
    conv_input = x if source.identity else source(x[None])[0]
    in_h, in_w, in_c = conv_input.shape

    kernel_all = np.asarray(conv.kernel, dtype=np.float64)
    kh, kw = kernel_all.shape[:2]
    sh, sw = (int(s) for s in conv.strides)
    dh, dw = (int(d) for d in conv.dilation_rate)
    padding = str(conv.padding).lower()
    if padding == "same":
        pad_top = max((h - 1) * sh + (kh - 1) * dh + 1 - in_h, 0) // 2
        pad_left = max((w - 1) * sw + (kw - 1) * dw + 1 - in_w, 0) // 2
    else:
        pad_top = pad_left = 0
    r0, c0 = row * sh - pad_top, col * sw - pad_left
    rows = r0 + np.arange(kh) * dh
    cols = c0 + np.arange(kw) * dw
    inside = ((rows >= 0) & (rows < in_h))[:, None] & ((cols >= 0) & (cols < in_w))[None, :]
    window = np.zeros((kh, kw, in_c), dtype=np.float64)
    rr, cc = np.nonzero(inside)
    window[rr, cc] = conv_input[rows[rr], cols[cc]]
    kernel = kernel_all[:, :, :, channel]
    products = window * kernel
    total = float(products.sum())
    bias = float(np.asarray(conv.bias)[channel]) if getattr(conv, "use_bias", False) else 0.0
    z = total + bias

    if outputs is None:
        outputs = layer_outputs(model, x)
    real = {info.name: float(outputs[info.name][row, col, channel]) for info in stage}
    steps = []
    value = z
    activation = getattr(conv, "activation", None)
    if activation is not None and getattr(activation, "__name__", "") != "linear":
        out = _apply_activation(activation, value)
        steps.append({"layer": conv_name, "class_name": "activation",
                      "formula": f"{activation.__name__}(z)", "params": {},
                      "input": value, "output": out})
        value = out
    for info in stage[1:]:
        layer = inspector.layer(info.name)
        formula, params, out = _elementwise(layer, info.shape, value, row, col, channel, real[info.name])
        steps.append({"layer": info.name, "class_name": info.class_name, "formula": formula,
                      "params": params, "input": value, "output": out})
        value = out

    input_layer = "input"
    if not source.identity:
        producer = input_tensor_of(inspector.tensor(conv_name))
        matches = [info.name for info in inspector.layers if inspector.tensor(info.name) is producer]
        input_layer = matches[0] if matches else "?"
    return {
        "stage": [info.name for info in stage],
        "conv": conv_name,
        "row": row, "col": col, "channel": channel,
        "strides": (sh, sw), "padding": padding, "dilation": (dh, dw), "pad": (pad_top, pad_left),
        "input_layer": input_layer,
        "input_shape": (int(in_h), int(in_w), int(in_c)),
        "origin": (int(r0), int(c0)),
        "window": window.astype(np.float32),
        "padded": ~inside,
        "kernel": kernel.astype(np.float32),
        "products": products.astype(np.float32),
        "channel_sums": products.sum(axis=(0, 1)).astype(np.float32),
        "sum": total,
        "bias": bias,
        "z": z,
        "steps": steps,
        "value": float(value),
        "layer_outputs": real,
    }


def stage_of(model, layer_name: str) -> list:
    """The layer names of the conv stage holding ``layer_name``, the Conv2D first and the layer the
    feature grid shows last (e.g. ``["conv2", "conv2_bn", "conv2_act"]`` for ``"conv2_bn"``).
    ValueError listing the conv stages when ``layer_name`` is in none."""
    inspector = Inspector.for_model(model)
    inspector.check_layer(layer_name)
    return [info.name for info in _stage_of(inspector, layer_name)]


def _stage_of(inspector, layer_name: str) -> list:
    """The LayerInfos of the conv stage holding ``layer_name`` (``compute.stage_starts``): the
    Conv2D first, then every same-shaped BatchNorm/activation/dropout layer after it, each reading
    the one before."""
    infos = inspector.layers
    starts = stage_starts(infos)
    conv = starts[infos.index(inspector.check_layer(layer_name))]
    if conv is None or conv.kind != "conv":
        raise ValueError(f"layer {layer_name!r} is not part of a conv stage; conv stages are: "
                         f"{', '.join(conv_stages(inspector.model))}")
    if conv.class_name != "Conv2D":
        raise ValueError(f"{conv.name!r} is a {conv.class_name}; the arithmetic is shown for Conv2D layers")
    layer = inspector.layer(conv.name)
    if getattr(layer, "groups", 1) != 1 or getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ValueError(f"{conv.name!r} uses groups or channels-first data; the arithmetic is shown "
                         "for plain channels-last convolutions")
    stage = [info for info, start in zip(infos, starts) if start is conv]
    for before, after in zip(stage, stage[1:]):
        producer = input_tensor_of(inspector.tensor(after.name))
        if producer is not inspector.tensor(before.name):
            raise ValueError(f"{after.name!r} does not read {before.name!r}'s output; the stage "
                             "arithmetic needs a simple chain of layers")
    return stage


def _apply_activation(fn, value: float) -> float:
    from keras import ops

    return float(ops.convert_to_numpy(fn(np.full((1, 1), value, dtype=np.float32)))[0, 0])


def _elementwise(layer, shape, value: float, row: int, col: int, channel: int, real: float):
    """(formula text, parameters, output) of one stage layer applied to one value."""
    cls = type(layer).__name__
    if cls == "BatchNormalization":
        axis = layer.axis if isinstance(layer.axis, int) else layer.axis[-1]
        if axis not in (-1, 3):
            raise ValueError(f"{layer.name!r} normalises axis {axis}; only channels-last BatchNorm is shown")
        mean = float(np.asarray(layer.moving_mean)[channel])
        var = float(np.asarray(layer.moving_variance)[channel])
        gamma = float(np.asarray(layer.gamma)[channel]) if layer.scale else 1.0
        beta = float(np.asarray(layer.beta)[channel]) if layer.center else 0.0
        eps = float(layer.epsilon)
        out = (value - mean) / np.sqrt(var + eps) * gamma + beta
        return ("(z − moving_mean) / √(moving_var + ε) · γ + β",
                {"moving_mean": mean, "moving_var": var, "epsilon": eps, "gamma": gamma, "beta": beta},
                float(out))
    if cls == "LeakyReLU":
        slope = float(layer.negative_slope)
        return (f"z if z > 0 else {slope:g} · z", {"negative_slope": slope},
                value if value > 0 else slope * value)
    if cls == "ReLU":
        threshold = float(layer.threshold)
        slope = float(layer.negative_slope)
        top = None if layer.max_value is None else float(layer.max_value)
        if value >= threshold:
            out = value if top is None else min(value, top)
        else:
            out = slope * (value - threshold)
        text = "max(z, 0)" if (threshold == 0 and slope == 0 and top is None) else \
            f"z if z ≥ {threshold:g} else {slope:g} · (z − {threshold:g}), at most {top}"
        return text, {"threshold": threshold, "negative_slope": slope, "max_value": top}, float(out)
    if cls == "ELU":
        alpha = float(layer.alpha)
        return (f"z if z > 0 else {alpha:g} · (eᶻ − 1)", {"alpha": alpha},
                value if value > 0 else alpha * float(np.expm1(value)))
    if cls == "PReLU":
        alphas = np.broadcast_to(np.asarray(layer.alpha), tuple(shape))
        alpha = float(alphas[row, col, channel])
        return (f"z if z > 0 else {alpha:.4g} · z (learned slope)", {"alpha": alpha},
                value if value > 0 else alpha * value)
    if cls == "Activation" and getattr(layer.activation, "__name__", "") not in ("softmax", "log_softmax"):
        name = getattr(layer.activation, "__name__", "activation")
        return f"{name}(z)", {}, _apply_activation(layer.activation, value)
    if cls in _IDENTITY_CLASSES:
        return "unchanged (dropout is off when the network predicts)", {}, value
    # Softmax and layer/group normalisation mix channels: one value alone does not determine the
    # result, so the real output is shown.
    return (f"{cls} depends on every channel at this position: taken from the layer's output", {}, real)
