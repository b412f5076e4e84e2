"""Property-based tests: hostile files and random sequences of selections never break the state.

Hypothesis runs the profile's examples per test (tests/conftest.py: 100, or 500 with
``--hypothesis-profile=full``), derandomized (the same examples on every run and in CI) and without
an example database, so a failure here is reproducible by running the test again.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
import traitlets
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnviz_widgets import ImageUpload, ModelUpload, load_image
from cnnviz_widgets.compute import Inspector
from cnnviz_widgets.state import ModelState
from cnnviz_widgets.widgets.charts import SoftmaxChart

FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: How the state turns uint8 pixels into model input, written out independently of state.py.
SCALING = {"[0, 1]": lambda a: a / 255.0, "[-1, 1]": lambda a: a / 127.5 - 1.0, "none": lambda a: a}
#: Real file signatures, so that random tails reach each format's decoder and not only the sniffer.
MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"RIFF\x00\x00\x00\x00WEBPVP8 ",
         b"II*\x00", b"\x00\x00\x01\x00"]
BOGUS_LAYERS = ["", "nope", "conv1 ", "predictions/x", "image"]
# Pillow warns (and then raises or recovers) on damaged TIFF tags; the warnings are expected here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")


# --------------------------------------------------------------------------- files

@pytest.fixture(scope="module")
def real_files(cifar_test):
    """Real encodings of CIFAR-10 test images in the formats students upload."""
    images = cifar_test[0]
    out = []
    for i, (fmt, mode) in enumerate([("PNG", "RGB"), ("JPEG", "RGB"), ("GIF", "P"), ("BMP", "RGB"),
                                     ("WEBP", "RGB"), ("PNG", "L"), ("PNG", "RGBA"), ("TIFF", "RGB")]):
        img = Image.fromarray(images[i]).convert(mode)
        buf = io.BytesIO()
        img.save(buf, format=fmt)
        out.append(buf.getvalue())
    return out


@st.composite
def mutations(draw):
    """A recipe to damage a file: which real file, bytes to overwrite (often in the header) and
    where to cut it short."""
    which = draw(st.integers(0, 7))
    edits = draw(st.lists(st.tuples(st.one_of(st.integers(0, 63), st.integers(0, 1 << 16)), st.integers(0, 255)),
                          max_size=8))
    cut = draw(st.one_of(st.none(), st.integers(0, 1 << 16)))
    return which, edits, cut


def mutate(files, recipe) -> bytes:
    which, edits, cut = recipe
    data = bytearray(files[which])
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    return bytes(data)


def random_file():
    return st.tuples(st.sampled_from(MAGIC), st.binary(max_size=2048)).map(lambda t: t[0] + t[1])


def _decode_or_value_error(data, channels):
    try:
        out = load_image(data, size=(32, 32), channels=channels)
    except ValueError:
        return None
    assert out.dtype == np.uint8 and out.shape == (32, 32, channels)
    return out


@FUZZ
@given(data=random_file(), channels=st.sampled_from([1, 3]))
def test_load_image_refuses_random_bytes_with_value_error_only(data, channels):
    _decode_or_value_error(data, channels)


@FUZZ
@given(recipe=mutations(), channels=st.sampled_from([1, 3]))
def test_load_image_refuses_damaged_images_with_value_error_only(real_files, recipe, channels):
    _decode_or_value_error(mutate(real_files, recipe), channels)


# --------------------------------------------------------------------------- a small state

def _tiny(input_shape, classes, softmax, seed, name):
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    x = inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(4, 3, padding="same", name="conv1")(x)
    x = layers.ReLU(name="conv1_act")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(classes, activation="softmax" if softmax else None, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two small models of different input, classes and ending, a model the state must refuse,
    and bytes of two files ModelUpload must refuse."""
    import keras

    a = _tiny((32, 32, 3), 10, True, 0, "tiny_rgb")
    b = _tiny((16, 16, 1), 5, False, 1, "tiny_gray_logits")
    i1, i2 = keras.Input((32, 32, 3)), keras.Input((32, 32, 3))
    two = keras.Model([i1, i2], keras.layers.Dense(10)(keras.layers.Flatten()(keras.layers.Add()([i1, i2]))))
    tmp = tmp_path_factory.mktemp("fuzz")
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0, name="doubler")(inputs)
    lam = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(x)))
    lam.save(tmp / "lambda.keras")
    return {"a": a, "b": b, "two_inputs": two,
            "lambda_bytes": (tmp / "lambda.keras").read_bytes(), "garbage_bytes": b"PK\x03\x04" + bytes(300)}


@pytest.fixture(scope="module")
def small_set(cifar_test):
    images, labels, names = cifar_test
    return images[:16], labels[:16], names


def fresh_state(models, small_set):
    images, labels, names = small_set
    return ModelState(models["a"], images, labels, names)


_COMPILED: dict = {}


def _call(model, x):
    """``model(x)`` through a tf.function kept per model (an eager call costs ten times more)."""
    import tensorflow as tf

    if id(model) not in _COMPILED:
        _COMPILED[id(model)] = (model, tf.function(lambda b: model(b, training=False), reduce_retracing=True))
    return _COMPILED[id(model)][1](x)


def expected_probabilities(state, index):
    """Probabilities of image ``index`` from calling the Keras model directly."""
    model = state.model
    x = SCALING[state.preprocess_name](state.images[index:index + 1].astype(np.float32))
    out = np.asarray(_call(model, x), dtype=np.float64)[0]
    if model.layers[-1].activation.__name__ != "softmax":
        out = np.exp(out - out.max())
        out /= out.sum()
    return out


def check_consistent(state, chart):
    names = [i.name for i in state.layers]
    assert 0 <= state.index < len(state.images)
    assert state.layer in names
    assert state.class_index is None or 0 <= state.class_index < len(state.class_names)
    assert len(state.class_names) == state.inspector.num_classes
    assert state.images.dtype == np.uint8 and state.images.shape[1:] == state.inspector.input_shape
    assert state.labels is None or len(state.labels) == len(state.images)
    assert all(0 <= i < len(state.images) for i in state.compare)
    insp = state.inspection
    assert insp.index == state.index
    np.testing.assert_array_equal(insp.image, state.images[state.index])
    expected = expected_probabilities(state, state.index)
    np.testing.assert_allclose(insp.probabilities, expected, atol=1e-5)
    np.testing.assert_allclose(chart.bars.y, expected, atol=1e-5)


def sources(state):
    return (state.model, state.images, state.labels, state.class_names, state.preprocess_name, state.version)


def selections(state):
    return (state.index, state.layer, state.class_index, state.compare)


def upload_files():
    """1-3 files, each a real image, a damaged one or random bytes."""
    one = st.one_of(st.tuples(st.just("good"), st.integers(0, 7)),
                    st.tuples(st.just("damaged"), mutations()),
                    st.tuples(st.just("random"), random_file()))
    return st.lists(one, min_size=1, max_size=3)


def materialise(real_files, specs):
    out = []
    for k, (kind, value) in enumerate(specs):
        data = real_files[value] if kind == "good" else mutate(real_files, value) if kind == "damaged" else value
        out.append((f"{kind}_{k}.bin", data))
    return out


@FUZZ
@given(specs=upload_files(), append=st.booleans())
def test_image_upload_never_raises_and_keeps_the_state_consistent(models, small_set, real_files, specs, append):
    state = fresh_state(models, small_set)
    state.index = 3
    upload, chart = ImageUpload(state), SoftmaxChart(state)
    before_sources, before_selection = sources(state), selections(state)
    files = materialise(real_files, specs)
    decodable = sum(_decode_or_value_error(data, 3) is not None for _, data in files)
    added = upload.add_files(files, append=append)
    assert added == decodable
    if added == 0:
        assert sources(state) == before_sources and selections(state) == before_selection
        assert state.status.startswith("⚠ ImageUpload:")
    else:
        assert len(state.images) == added + (16 if append else 0)
        assert state.index == (16 if append else 0)
    check_consistent(state, chart)
    upload.close()
    chart.close()


# --------------------------------------------------------------------------- random sequences

STEPS = st.one_of(
    st.tuples(st.just("index"), st.integers(-3, 40)),
    st.tuples(st.just("layer"), st.integers(0, 60)),
    st.tuples(st.just("class_index"), st.one_of(st.none(), st.integers(-2, 12))),
    st.tuples(st.just("images"), st.tuples(upload_files(), st.booleans())),
    st.tuples(st.just("model"), st.sampled_from(["a", "b", "two_inputs", "lambda_bytes", "garbage_bytes"]),
              st.sampled_from(["", "x, y, z, u, v", "only, two"]), st.sampled_from(["[0, 1]", "[-1, 1]", "none"])),
)


def apply_step(step, state, image_upload, model_upload, models, real_files):
    """Drive one control path the way a widget would; refusals are expected, escapes are not."""
    kind = step[0]
    before = sources(state), selections(state)
    if kind in ("index", "layer", "class_index"):
        if kind == "layer":
            names = [i.name for i in state.layers]
            others = [i.name for m in ("a", "b") for i in Inspector.for_model(models[m]).layers]
            candidates = names + others + BOGUS_LAYERS
            value = candidates[step[1] % len(candidates)]
        else:
            value = step[1]
        try:
            setattr(state, kind, value)
        except traitlets.TraitError:
            event(f"{kind} refused")
            assert (sources(state), selections(state)) == before
            return
        event(f"{kind} accepted")
        assert getattr(state, kind) == value
    elif kind == "images":
        specs, append = step[1]
        added = image_upload.add_files(materialise(real_files, specs), append=append)
        event(f"images {'accepted' if added else 'refused'}")
        if added == 0:
            assert (sources(state), selections(state)) == before
    else:
        which, names, preprocess = step[1:]
        if which.endswith("_bytes"):
            ok = model_upload.load_bytes(models[which], names, preprocess)
        else:
            ok = model_upload.use_model(models[which], names, preprocess)
        event(f"model {'accepted' if ok else 'refused'}")
        if not ok:
            assert (sources(state), selections(state)) == before
            assert state.status.startswith("⚠ ModelUpload:")
        else:
            assert state.model is models[which] and state.preprocess_name == preprocess


@pytest.mark.slow
@FUZZ
@given(steps=st.lists(STEPS, min_size=1, max_size=10))
def test_random_sequences_of_selections_and_uploads_keep_the_state_consistent(models, small_set, real_files,
                                                                               steps):
    state = fresh_state(models, small_set)
    image_upload, model_upload, chart = ImageUpload(state), ModelUpload(state), SoftmaxChart(state)
    version = state.version
    try:
        for step in steps:
            apply_step(step, state, image_upload, model_upload, models, real_files)
            check_consistent(state, chart)
            assert state.version >= version
            version = state.version
    finally:
        for w in (image_upload, model_upload, chart):
            w.close()
