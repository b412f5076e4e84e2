"""Bringing your own model and images: safe loading, clear refusals, and the two upload widgets."""
from __future__ import annotations

import importlib
import inspect
import io
import json
import zipfile

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image

from cnnviz_widgets import ImageUpload, ModelUpload, load_model_file
from cnnviz_widgets.loading import load_images, resize_images
from cnnviz_widgets.state import ModelState
from cnnviz_widgets.widgets.base import StateWidget

#: Widget modules whose StateWidget classes must render after a model change.
WIDGET_MODULES = ("widgets.charts", "widgets.panels", "widgets.controls", "widgets.grids", "widgets.comparison",
                  "widgets.uploads")


# --------------------------------------------------------------------------- models and files

def small_cnn(input_shape=(32, 32, 3), classes=10, softmax=True, seed=0, name="small_cnn"):
    """A tiny CNN (two convs, pooling, dense), seeded so that two builds are the same model."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    x = inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(classes, activation="softmax" if softmax else None, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def keras_bytes(model, tmp_path, name="model.keras") -> bytes:
    path = tmp_path / name
    model.save(path)
    return path.read_bytes()


def rewrite_zip(data: bytes, replace=None, extra=()) -> bytes:
    """A copy of the zip ``data`` with members replaced ({name: bytes}) and extra (name, bytes) added."""
    replace = replace or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info.filename)))
        for name, content in extra:
            dst.writestr(name, content)
    return out.getvalue()


def png_bytes(image: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """{kind: bytes} of good and bad model files, written once."""
    import keras

    tmp = tmp_path_factory.mktemp("models")
    files = {}
    files["cnn"] = keras_bytes(small_cnn(), tmp, "cnn.keras")
    files["cnn64"] = keras_bytes(small_cnn((64, 64, 3), seed=1, name="cnn64"), tmp, "cnn64.keras")
    files["gray28"] = keras_bytes(small_cnn((28, 28, 1), seed=2, name="gray28"), tmp, "gray28.keras")
    files["three"] = keras_bytes(small_cnn(classes=3, seed=3, name="three"), tmp, "three.keras")
    a, b = keras.Input((32, 32, 3)), keras.Input((32, 32, 3))
    merged = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([a, b]))
    files["two_inputs"] = keras_bytes(
        keras.Model([a, b], keras.layers.Dense(10, activation="softmax")(merged)), tmp, "two.keras")
    v = keras.Input((20,))
    files["vector_input"] = keras_bytes(
        keras.Model(v, keras.layers.Dense(10, activation="softmax")(v)), tmp, "vector.keras")
    h5 = tmp / "cnn.h5"
    small_cnn().save(h5)
    files["h5"] = h5.read_bytes()
    good = files["cnn"]
    files["corrupt"] = bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8))
    files["truncated"] = good[: len(good) // 2]
    # Flipped bytes in the stored weights: the zip is still a zip, but its CRC no longer matches.
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        start = z.getinfo("model.weights.h5").header_offset + 2000
    flipped = bytearray(good)
    flipped[start:start + 64] = bytes(255 - v for v in flipped[start:start + 64])
    files["flipped"] = bytes(flipped)
    random_zip = io.BytesIO()
    with zipfile.ZipFile(random_zip, "w") as z:
        z.writestr("hello.txt", "not a model")
        z.writestr("data.bin", bytes(range(256)))
    files["random_zip"] = random_zip.getvalue()
    files["traversal"] = rewrite_zip(good, extra=[("../../escaped.txt", b"outside")])
    bomb = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename, src.read(info.filename))
        z.writestr("assets/padding.bin", bytes(8 * 2**20))
    files["bomb"] = bomb.getvalue()
    config = json.loads(zipfile.ZipFile(io.BytesIO(good)).read("config.json"))
    config["config"]["layers"][-1]["config"]["activation"] = {
        "module": "os", "class_name": "function", "config": "system", "registered_name": "function"}
    files["foreign_module"] = rewrite_zip(good, {"config.json": json.dumps(config).encode()})
    return files


BAD_FILES = {
    "corrupt": "not a .keras model file",
    "truncated": "not a .keras model file",
    "flipped": "could not load",
    "random_zip": "no config.json",
    "traversal": "points outside the archive",
    "bomb": "zip bomb",
    "foreign_module": "not part of Keras",
    "two_inputs": "2 inputs",
    "vector_input": "image input",
    "h5": "legacy HDF5",
}


# --------------------------------------------------------------------------- load_model_file

def test_loaded_model_predicts_like_the_original_from_bytes_and_path(tmp_path):
    model = small_cnn(seed=5)
    path = tmp_path / "mine.keras"
    model.save(path)
    x = np.random.default_rng(1).random((4, 32, 32, 3), dtype=np.float32)
    expected = np.asarray(model(x, training=False))
    for source in (path, str(path), path.read_bytes(), io.BytesIO(path.read_bytes())):
        loaded = load_model_file(source)
        assert loaded is not model
        np.testing.assert_array_equal(np.asarray(loaded(x, training=False)), expected)


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_model_files_are_refused_with_a_reason(saved, kind):
    with pytest.raises(ValueError, match=BAD_FILES[kind]):
        load_model_file(saved[kind])


def test_oversize_and_missing_files_are_refused(saved, tmp_path):
    data = saved["cnn"]
    with pytest.raises(ValueError, match="more than the limit"):
        load_model_file(data, max_bytes=len(data) - 1)
    path = tmp_path / "big.keras"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="more than the limit"):
        load_model_file(path, max_bytes=1000)
    assert load_model_file(path, max_bytes=len(data)).name == "small_cnn"
    with pytest.raises(ValueError, match="no model file"):
        load_model_file(tmp_path / "missing.keras")
    with pytest.raises(ValueError, match="empty"):
        load_model_file(b"")


def test_unpacked_size_limit_counts_every_member(saved):
    data = saved["cnn"]
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        total = sum(i.file_size for i in z.infolist())
    with pytest.raises(ValueError, match="unpack to"):
        load_model_file(data, max_unpacked_bytes=total - 1)
    assert load_model_file(data, max_unpacked_bytes=total).name == "small_cnn"


def _marker_lambda_model(marker):
    """A model whose Lambda writes ``marker`` whenever its code runs (also when Keras rebuilds it)."""
    import keras

    path = str(marker)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Lambda(lambda t: (open(path, "w").close(), t)[1], name="sneaky")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def _write_marker_named(t):
    """A named Lambda function; a loader that imported this module would run it."""
    with open(_write_marker_named.marker, "w"):
        pass
    return t


def test_a_lambda_layer_is_refused_and_its_code_never_runs(tmp_path, cifar_model, cifar_test):
    import keras

    marker = tmp_path / "ran.txt"
    path = tmp_path / "lambda.keras"
    _marker_lambda_model(marker).save(path)
    marker.unlink()  # Building the model ran the lambda once; the file must not come back.
    data = path.read_bytes()

    with pytest.raises(ValueError, match="this model contains a Lambda layer \\('sneaky'\\), whose Python "
                                         "code cnnviz will not run"):
        load_model_file(data)
    with pytest.raises(ValueError, match="Lambda layer"):
        load_model_file(path)
    images, labels, names = cifar_test
    state = ModelState(cifar_model, images[:20], labels[:20], names)
    upload = ModelUpload(state)
    assert upload.load_bytes(data) is False
    assert "Lambda layer" in upload.message.value and "Lambda layer" in state.status
    state.index = 5
    state.layer = state.layers[1].name
    state.grad_cam()
    state.predictions()
    assert state.model is cifar_model
    assert not marker.exists()

    # The control: Keras' unsafe mode does run the code, so the marker above could have appeared.
    keras.saving.load_model(path, safe_mode=False, compile=False)
    assert marker.exists()


def test_a_named_function_lambda_is_refused_before_keras_looks_for_it(tmp_path):
    import keras

    marker = tmp_path / "named.txt"
    _write_marker_named.marker = str(marker)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Lambda(_write_marker_named, name="named_fn")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    path = tmp_path / "named.keras"
    keras.Model(inputs, keras.layers.Dense(10)(x)).save(path)
    marker.unlink()
    with pytest.raises(ValueError, match="Lambda layer \\('named_fn'\\)"):
        load_model_file(path)
    assert not marker.exists()


def test_a_lambda_inside_a_nested_model_is_found(tmp_path):
    import keras

    marker = tmp_path / "nested.txt"
    inner = _marker_lambda_model(marker)
    outer = keras.Sequential([keras.Input((32, 32, 3)), inner], name="outer")
    path = tmp_path / "nested.keras"
    outer.save(path)
    marker.unlink()
    with pytest.raises(ValueError, match="Lambda layer"):
        load_model_file(path)
    assert not marker.exists()


# --------------------------------------------------------------------------- load_images

def test_load_images_keeps_the_good_files_and_names_the_bad(cifar_test):
    images = cifar_test[0]
    files = [("a.png", png_bytes(images[0])), ("notes.txt", b"hello"), ("b.png", png_bytes(images[1])),
             ("empty.jpg", b"")]
    out, errors = load_images(files, (32, 32), 3)
    assert out.dtype == np.uint8 and out.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(out, images[:2])
    assert len(errors) == 2
    assert errors[0].startswith("notes.txt: ") and "not an image" in errors[0]
    assert errors[1].startswith("empty.jpg: ") and "empty" in errors[1]
    gray, _ = load_images(files[:1], (16, 16), 1)
    expected = np.asarray(Image.fromarray(images[0]).convert("L").resize((16, 16), Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(gray[0, ..., 0], expected)
    with pytest.raises(ValueError, match="none of the 2 file"):
        load_images([("x.txt", b"x"), ("y.bin", b"\x89PNG\r\n")], (32, 32), 3)
    with pytest.raises(ValueError, match="no files"):
        load_images([], (32, 32), 3)
    small = png_bytes(np.zeros((2, 2, 3), np.uint8))
    out, errors = load_images([("big.png", png_bytes(images[0])), ("small.png", small)], (32, 32), 3,
                              max_file_bytes=len(small))
    assert len(out) == 1 and len(errors) == 1
    assert errors[0].startswith("big.png: the file is ") and "more than the limit" in errors[0]


def test_resize_images_matches_pillow(cifar_test):
    images = cifar_test[0][:5]
    out = resize_images(images, (20, 24), 1)
    assert out.shape == (5, 20, 24, 1)
    for got, img in zip(out, images):
        want = np.asarray(Image.fromarray(img).convert("L").resize((24, 20), Image.Resampling.BICUBIC))
        np.testing.assert_array_equal(got[..., 0], want)
    back = resize_images(out, (20, 24), 3)
    np.testing.assert_array_equal(back, np.repeat(out, 3, axis=-1))
    assert resize_images(images, (32, 32), 3) is images


# --------------------------------------------------------------------------- the widgets

@pytest.fixture
def small_state(cifar_model, cifar_test):
    """The shipped model on the first 300 CIFAR-10 test images, with a non-default selection."""
    images, labels, names = cifar_test
    state = ModelState(cifar_model, images[:300], labels[:300], names)
    state.index = 7
    state.layer = state.layers[2].name
    state.class_index = 3
    return state


def browser_upload(file_upload, name, data):
    """Deliver a file to a FileUpload as the browser does: through its JSON deserializer."""
    file_upload.set_state({"value": [{"name": name, "type": "", "size": len(data),
                                      "content": memoryview(data), "last_modified": 1_700_000_000_000}]})


def _snapshot(state):
    return (state.model, state.images, state.labels, state.class_names, state.index, state.layer,
            state.class_index, state.version, state.inspection)


def _probabilities(model, x):
    """Softmax probabilities of ``model`` on the batch ``x``, computed without cnnviz."""
    out = np.asarray(model(x, training=False), dtype=np.float64)
    if getattr(model.layers[-1], "activation", None) is not None and \
            model.layers[-1].activation.__name__ == "softmax":
        return out
    e = np.exp(out - out.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_model_upload_keeps_everything_on_a_bad_file(small_state, saved, kind):
    before = _snapshot(small_state)
    upload = ModelUpload(small_state)
    assert upload.load_bytes(saved[kind], "", "[0, 1]") is False
    after = _snapshot(small_state)
    assert all(a is b or a == b for a, b in zip(before, after))
    assert BAD_FILES[kind] in upload.message.value.replace("&#x27;", "'")
    assert small_state.status.startswith("⚠ ModelUpload:") and BAD_FILES[kind] in small_state.status


def test_model_upload_refuses_oversize_and_wrong_class_names(small_state, saved):
    before = _snapshot(small_state)
    upload = ModelUpload(small_state, max_bytes=1000)
    assert upload.load_bytes(saved["cnn"]) is False
    assert "more than the limit" in small_state.status
    upload = ModelUpload(small_state)
    assert upload.load_bytes(saved["three"], "cat, dog") is False
    assert "3 classes but 2 class names" in upload.message.value
    assert all(a is b or a == b for a, b in zip(before, _snapshot(small_state)))


def _all_widget_classes():
    """Every StateWidget class of the package's widget modules that exist."""
    found = []
    for name in WIDGET_MODULES:
        try:
            module = importlib.import_module(f"cnnviz_widgets.{name}")
        except ModuleNotFoundError:
            continue
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, StateWidget) and cls.__module__ == module.__name__:
                found.append(cls)
    return found


def _pngs(widget):
    out, stack = [], [widget]
    while stack:
        w = stack.pop()
        if isinstance(w, widgets.Image) and w.value:
            out.append(bytes(w.value))
        stack.extend(getattr(w, "children", ()))
    return out


def render_all(state):
    """Build every widget on ``state``; return them. Fails when one reports an error or sends a
    PNG that does not decode."""
    built = []
    for cls in _all_widget_classes():
        state.status = ""
        widget = cls(state)
        assert not state.status.startswith("⚠"), f"{cls.__name__}: {state.status}"
        for data in _pngs(widget):
            with Image.open(io.BytesIO(data)) as img:
                img.load()
        built.append(widget)
    return built


def test_model_upload_resizes_the_images_for_other_input_sizes(small_state, saved, cifar_model):
    from cnnviz_widgets.widgets.charts import SoftmaxChart

    originals, labels, names = small_state.images, small_state.labels, small_state.class_names
    upload = ModelUpload(small_state)
    chart = SoftmaxChart(small_state)
    assert upload.load_bytes(saved["cnn64"], "", "[0, 1]") is True
    assert small_state.status == ("Loaded model 'cnn64' with 10 classes (input 64×64×3); the images were "
                                  "resized from 32×32×3 to 64×64×3")
    assert small_state.images.shape == (300, 64, 64, 3)
    for i in (0, 7, 299):
        want = np.asarray(Image.fromarray(originals[i]).resize((64, 64), Image.Resampling.BICUBIC))
        np.testing.assert_array_equal(small_state.images[i], want)
    np.testing.assert_array_equal(small_state.labels, labels)
    assert small_state.class_names == names and small_state.index == 7
    x = small_state.images[7:8].astype(np.float32) / 255.0
    np.testing.assert_allclose(chart.bars.y, _probabilities(small_state.model, x)[0], atol=1e-5)
    widgets_built = render_all(small_state)
    assert any(type(w).__name__ == "SoftmaxChart" for w in widgets_built)

    # A grey 28×28 model gets grey copies of the original colour images, not of the 64×64 ones.
    assert upload.load_bytes(saved["gray28"], "", "[-1, 1]") is True
    assert small_state.images.shape == (300, 28, 28, 1) and small_state.preprocess_name == "[-1, 1]"
    want = np.asarray(Image.fromarray(originals[7]).convert("L").resize((28, 28), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(small_state.images[7, ..., 0], want)
    x = small_state.images[7:8].astype(np.float32) / 127.5 - 1.0
    np.testing.assert_allclose(small_state.inspection.probabilities, _probabilities(small_state.model, x)[0],
                               atol=1e-5)
    render_all(small_state)

    assert upload.reset_to_default() is True
    assert small_state.images is originals
    np.testing.assert_array_equal(small_state.labels, labels)
    assert small_state.class_names == names and small_state.preprocess_name == "[0, 1]"
    x = originals[7:8].astype(np.float32) / 255.0
    np.testing.assert_allclose(small_state.inspection.probabilities, _probabilities(small_state.model, x)[0],
                               atol=1e-5)
    assert small_state.model is not cifar_model and small_state.model.name == cifar_model.name


def test_training_panel_restores_the_shipped_model_after_a_grey_28_model(small_state, saved, cifar_model):
    """"Restore the shipped model" in the training panel after an upload of another input size:
    the original colour pictures come back (not an upscaled grey copy), and no error."""
    from cnnviz_widgets import TrainPanel

    originals, labels = small_state.images, small_state.labels
    assert ModelUpload(small_state).load_bytes(saved["gray28"], "", "[-1, 1]") is True
    assert small_state.images.shape == (300, 28, 28, 1)
    panel = TrainPanel(small_state)
    panel.restore_shipped()
    assert small_state.status == "The shipped CIFAR-10 model is back in every panel."
    assert small_state.images is originals
    np.testing.assert_array_equal(small_state.labels, labels)
    assert small_state.model.name == cifar_model.name and small_state.preprocess_name == "[0, 1]"
    x = originals[7:8].astype(np.float32) / 255.0
    np.testing.assert_allclose(small_state.inspection.probabilities, _probabilities(cifar_model, x)[0],
                               atol=1e-5)
    panel.close()


def test_model_upload_class_names_decide_whether_labels_stay(small_state, saved):
    upload = ModelUpload(small_state)
    assert upload.load_bytes(saved["three"], " ant , bee,cow ") is True
    assert small_state.class_names == ("ant", "bee", "cow") and small_state.labels is None
    assert small_state.class_index is None  # class 3 does not exist any more
    assert "with 3 classes" in small_state.status and "true classes are not shown" in small_state.status
    assert upload.load_bytes(saved["cnn"], "") is True
    assert small_state.class_names == tuple(f"class {i}" for i in range(10))


def test_model_upload_is_wired_to_its_file_upload(small_state, saved):
    upload = ModelUpload(small_state)
    upload.names_text.value = "a, b, c"
    upload.preprocess.value = "none"
    browser_upload(upload.upload, "three.keras", saved["three"])
    assert small_state.model.name == "three" and small_state.class_names == ("a", "b", "c")
    assert small_state.preprocess_name == "none"
    # The button still counts the file it read ("Upload .keras (1)"), without its bytes.
    assert [(f["name"], bytes(f["content"])) for f in upload.upload.value] == [("three.keras", b"")]


def test_image_upload_of_a_real_png_predicts_like_the_model(small_state, cifar_test, cifar_model):
    images, labels, _ = cifar_test
    upload = ImageUpload(small_state)
    upload.append.value = False
    assert upload.add_files([("frog.png", png_bytes(images[4]))]) == 1
    np.testing.assert_array_equal(small_state.images, images[4:5])
    assert small_state.labels is None and small_state.index == 0
    want = _probabilities(cifar_model, images[4:5].astype(np.float32) / 255.0)[0]
    np.testing.assert_allclose(small_state.inspection.probabilities, want, atol=1e-5)
    assert small_state.inspection.predicted == int(np.argmax(want))
    assert small_state.status == "Loaded 1 image at 32×32"


def test_image_upload_appends_and_selects_the_first_new_image(small_state, cifar_test):
    images = cifar_test[0]
    upload = ImageUpload(small_state)
    assert upload.append.value is True  # adding is the default
    files = [("x.jpg", png_bytes(images[10], "JPEG")), ("bad.txt", b"text"), ("y.png", png_bytes(images[11]))]
    assert upload.add_files(files) == 2
    assert len(small_state.images) == 302 and small_state.index == 300
    np.testing.assert_array_equal(small_state.images[:300], images[:300])
    np.testing.assert_array_equal(small_state.images[301], images[11])
    # The CIFAR-10 images keep their true classes; the uploaded pictures have none.
    np.testing.assert_array_equal(small_state.labels[:300], cifar_test[1][:300])
    np.testing.assert_array_equal(small_state.labels[300:], [-1, -1])
    assert small_state.inspection.label is None
    small_state.index = 299
    assert small_state.inspection.label == cifar_test[1][299]
    assert "Loaded 2 images" in upload.message.value and "bad.txt" in upload.message.value
    assert small_state.status.startswith("⚠ ImageUpload: Loaded 2 images")


def test_image_upload_of_a_text_file_keeps_the_images(small_state):
    before = _snapshot(small_state)
    upload = ImageUpload(small_state)
    assert upload.add_files([("<img src=x onerror=alert(1)>.txt", b"just some text")]) == 0
    assert all(a is b or a == b for a, b in zip(before, _snapshot(small_state)))
    assert "not an image" in upload.message.value and "<img" not in upload.message.value
    assert small_state.status.startswith("⚠ ImageUpload:") and "not an image" in small_state.status


def test_image_upload_is_wired_and_decodes_at_the_model_input(small_state, saved, cifar_test):
    ModelUpload(small_state).load_bytes(saved["gray28"])
    upload = ImageUpload(small_state)
    upload.append.value = False
    data = png_bytes(cifar_test[0][0])
    browser_upload(upload.upload, "a.png", data)
    assert small_state.images.shape == (1, 28, 28, 1)
    want = np.asarray(Image.fromarray(cifar_test[0][0]).convert("L").resize((28, 28), Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(small_state.images[0, ..., 0], want)
    # The browser draws the label from the value's length: "Upload images (1)", not "(0)".
    sent = upload.upload.get_state()["value"]
    assert len(sent) == 1 and sent[0]["name"] == "a.png" and bytes(sent[0]["content"]) == b""
    # The same file chosen again is read again (into the current images this time).
    upload.append.value = True
    browser_upload(upload.upload, "a.png", data)
    assert small_state.images.shape == (2, 28, 28, 1)
    np.testing.assert_array_equal(small_state.images[1, ..., 0], want)


def test_refusal_messages_are_short_and_name_no_internal_config(saved):
    for kind in ("flipped", "two_inputs"):
        with pytest.raises(ValueError) as info:
            load_model_file(saved[kind])
        assert len(str(info.value)) < 600 and "Full object config" not in str(info.value)


def test_picker_goes_back_to_its_images_and_counts_the_new_set(small_state, cifar_test):
    from cnnviz_widgets import MisclassificationExplorer
    from cnnviz_widgets.widgets.controls import ImagePicker

    images, labels, names = cifar_test
    home_images, home_labels = small_state.images, small_state.labels
    picker = ImagePicker(small_state, home_name="test images")
    explorer = MisclassificationExplorer(small_state, blocking=True)
    upload = ImageUpload(small_state)
    assert picker.home_button.layout.display == "none"
    ship = names.index("ship")
    picker.class_filter.value = ship
    ships = int((home_labels == ship).sum())
    assert picker.status.value.count(f"{ships:,} images of class ship") == 1

    # Uploads join the set: the class counts stay those of the labelled images.
    assert upload.add_files([("a.png", png_bytes(images[600])), ("b.png", png_bytes(images[601]))]) == 2
    assert len(small_state.images) == len(home_images) + 2 and picker.home_button.layout.display is None
    # The first upload is on screen, of no known class: the filter let go of "ship" and says so.
    assert small_state.index == len(home_images) and picker.class_filter.value == -1
    assert "no known class" in picker.status.value
    picker.class_filter.value = ship
    assert f"{ships:,} images of class ship" in picker.status.value
    assert "(2 of unknown class will be left out)" in explorer.summary.value
    explorer.compute()
    assert explorer.matrix.sum() == len(home_images) and "2 of unknown class left out" in explorer.summary.value

    # Uploads that replace the set: no true classes, so no class filter and no confusion matrix.
    upload.append.value = False
    assert upload.add_files([("c.png", png_bytes(images[602]))]) == 1
    assert small_state.labels is None and picker.class_filter.value == -1 and picker.class_filter.disabled
    assert "images of class" not in picker.status.value
    assert explorer.compute_button.disabled and "no true classes" in explorer.summary.value

    # One click brings the starting images back, labels and all.
    picker.home_button.click()
    assert small_state.images is home_images
    np.testing.assert_array_equal(small_state.labels, home_labels)
    assert picker.home_button.layout.display == "none" and not picker.class_filter.disabled
    assert picker.home_button.description == f"back to the {len(home_images):,} test images"
    for widget in (picker, explorer, upload):
        widget.close()
