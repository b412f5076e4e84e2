"""The geometry of a convolution: output sizes, padding and parameter counts, as Keras computes them.

The formulas need no model (they are checked in the tests against real ``keras.layers.Conv2D``
shapes and ``count_params()``); ``conv2d_layers`` and ``conv_settings`` read them off a model.
"""
from __future__ import annotations

from ..compat import input_tensor_of
from .arithmetic import stage_of
from .inspection import Inspector

PADDINGS = ("valid", "same")


def _check_int(name: str, value, least: int) -> int:
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(f"the {name} must be a whole number, not {value!r}")
    value = int(value)
    if value < least:
        raise ValueError(f"the {name} must be at least {least}, not {value}")
    return value


def _check_padding(padding):
    if isinstance(padding, str):
        padding = padding.lower()
        if padding not in PADDINGS:
            raise ValueError(f"padding must be 'valid', 'same' or a number of zeros, not {padding!r}")
        return padding
    return _check_int("padding", padding, 0)


def conv_output_size(size: int, kernel: int, stride: int = 1, padding="valid", dilation: int = 1) -> int:
    """The output length of a convolution along one axis, as Keras computes it.

    Parameters
    ----------
    size : the input length (rows or columns), at least 1
    kernel : the kernel length, at least 1
    stride : the step between windows, at least 1
    padding : "valid" (no zeros added), "same" (zeros added so that the output is
        ``ceil(size / stride)`` long) or an int: that many zeros on each side, then "valid"
        (``keras.layers.ZeroPadding2D`` followed by a valid convolution)
    dilation : the spacing between kernel taps, at least 1; a dilated kernel spans
        ``(kernel - 1) * dilation + 1`` inputs

    Raises ValueError, in a plain sentence, for an impossible setting: a size, kernel, stride or
    dilation below 1, a negative padding, a kernel wider than the (padded) input, or a stride and a
    dilation both above 1 (Keras refuses that layer).

    >>> conv_output_size(32, 3, stride=2, padding="same")
    16
    >>> conv_output_size(32, 5, padding=1)
    30
    """
    size = _check_int("input size", size, 1)
    kernel = _check_int("kernel size", kernel, 1)
    stride = _check_int("stride", stride, 1)
    dilation = _check_int("dilation", dilation, 1)
    padding = _check_padding(padding)
    if stride > 1 and dilation > 1:
        raise ValueError(f"Keras does not allow a stride above 1 (here {stride}) together with a "
                         f"dilation above 1 (here {dilation}); set one of them to 1")
    if padding == "same":
        return -(-size // stride)
    padded = size + 2 * (0 if padding == "valid" else padding)
    span = (kernel - 1) * dilation + 1
    if span > padded:
        wide = f"kernel {kernel}" if dilation == 1 else f"kernel {kernel} with dilation {dilation}"
        what = (f"the {size}-cell input" if padded == size
                else f"the padded input ({size} + 2 × {padding} = {padded} cells)")
        raise ValueError(f"the {wide} spans {span} cells, wider than {what}, so there is no output")
    return (padded - span) // stride + 1


def conv_padding(size: int, kernel: int, stride: int = 1, padding="valid", dilation: int = 1) -> tuple:
    """The zeros added before and after the input along one axis: ``(before, after)``.

    "same" pads as TensorFlow does, the odd extra zero after (at the bottom or right); an int pads
    that many on both sides; "valid" pads nothing. Rows or columns of the padding that no window
    reaches (a stride that does not fit the end) still count as added. Same ValueErrors as
    ``conv_output_size``.

    >>> conv_padding(32, 4, stride=2, padding="same")
    (1, 1)
    >>> conv_padding(5, 4, padding="same")
    (1, 2)
    """
    out = conv_output_size(size, kernel, stride, padding, dilation)
    padding = _check_padding(padding)
    if padding == "valid":
        return 0, 0
    if padding != "same":
        return padding, padding
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def conv_param_count(kernel: int, in_channels: int, filters: int, use_bias: bool = True) -> int:
    """The weights of a square Conv2D: ``kernel · kernel · in_channels · filters``, plus one bias
    per filter (``use_bias``). Same as ``keras.layers.Conv2D.count_params()``.

    >>> conv_param_count(3, 3, 32)
    896
    """
    kernel = _check_int("kernel size", kernel, 1)
    in_channels = _check_int("number of input channels", in_channels, 1)
    filters = _check_int("number of filters", filters, 1)
    return kernel * kernel * in_channels * filters + (filters if use_bias else 0)


def conv2d_layers(model) -> list:
    """The names of the model's plain Conv2D layers whose stage the arithmetic can show
    (``compute.stage_of``), in execution order; e.g. ``["conv1", "conv2", "conv3", "conv4"]``."""
    names = []
    for info in Inspector.for_model(model).layers:
        if info.class_name != "Conv2D":
            continue
        try:
            stage_of(model, info.name)
        except ValueError:
            continue
        names.append(info.name)
    return names


def conv_settings(model, layer_name: str) -> dict:
    """The settings of Conv2D ``layer_name`` as the playground's controls take them.

    Returns ``{"input_size", "in_channels", "kernel", "stride", "padding", "dilation", "filters",
    "use_bias"}``: the rows of its input and of its kernel, stride and dilation (a non-square
    layer gives its row values), "valid"/"same", its input channels and filters.
    """
    inspector = Inspector.for_model(model)
    layer = inspector.layer(layer_name)
    if type(layer).__name__ != "Conv2D":
        raise ValueError(f"{layer_name!r} is a {type(layer).__name__}, not a Conv2D")
    in_shape = input_tensor_of(inspector.tensor(layer_name)).shape
    return {
        "input_size": int(in_shape[1]), "in_channels": int(in_shape[-1]),
        "kernel": int(layer.kernel_size[0]), "stride": int(layer.strides[0]),
        "padding": str(layer.padding).lower(), "dilation": int(layer.dilation_rate[0]),
        "filters": int(layer.filters), "use_bias": bool(layer.use_bias),
    }
