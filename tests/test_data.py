"""Tests for cnnviz_widgets.loading: CIFAR-10 loading and user-image decoding.

CIFAR-10 tests use the real data set named by $CNNVIZ_CIFAR10_DIR (see tests/conftest.py). The expected
pixel values come from the data set's README and the published CIFAR-10: a batch row is 3,072 bytes,
row-major, the R plane (1,024 bytes) then G then B. Image tests build their inputs with Pillow and
compare against values computed independently of load_image.
"""
from __future__ import annotations

import io
import os
import pickle
import shlex
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnviz_widgets.loading import cifar10, load_cifar10, load_image
from cnnviz_widgets.loading import images as image_files

CIFAR_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]
BATCHES = "cifar-10-batches-py"


def _raw_batch(cifar_dir: Path, name: str) -> dict:
    """One batch read with the plain unpickler (the shared copy is trusted), keys as bytes."""
    with open(cifar_dir / BATCHES / name, "rb") as f:
        return pickle.load(f, encoding="bytes")


def _raw_pixel(row: np.ndarray, y: int, x: int, channel: int) -> int:
    """Pixel (y, x) of one channel in a raw 3,072-byte CIFAR-10 row: R plane, then G, then B."""
    return int(row[channel * 1024 + y * 32 + x])


# =========================================================================== load_cifar10

class TestCifarTestSplit:
    def test_shapes_dtypes_and_names(self, cifar_test):
        images, labels, names = cifar_test
        assert images.shape == (10000, 32, 32, 3)
        assert images.dtype == np.uint8
        assert images.flags["C_CONTIGUOUS"]
        assert labels.shape == (10000,)
        assert np.issubdtype(labels.dtype, np.integer)
        assert names == CIFAR_NAMES

    def test_one_thousand_images_per_class(self, cifar_test):
        _, labels, _ = cifar_test
        assert np.bincount(labels, minlength=10).tolist() == [1000] * 10

    def test_first_image_has_the_published_pixels_and_labels(self, cifar_test):
        images, labels, names = cifar_test
        # The README: test[0] starts 158 159 165 166 160 156 162 159 158 (the first nine bytes of the
        # raw row, i.e. the red values of the top row's first nine pixels).
        assert images[0, 0, :9, 0].tolist() == [158, 159, 165, 166, 160, 156, 162, 159, 158]
        # The original test order starts cat, ship, ship, airplane, frog, frog, automobile, frog, cat,
        # automobile.
        assert labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
        assert names[labels[0]] == "cat"

    def test_images_follow_the_raw_row_layout(self, cifar_test, cifar_dir):
        images, labels, _ = cifar_test
        raw = _raw_batch(cifar_dir, "test_batch")
        rng = np.random.default_rng(0)
        for i in (0, 1, 999, 1000, 5000, 9999):
            row = raw[b"data"][i]
            for y, x, c in rng.integers(0, [32, 32, 3], size=(20, 3)):
                assert images[i, y, x, c] == _raw_pixel(row, y, x, c), (i, y, x, c)
        assert labels.tolist() == list(raw[b"labels"])


def test_train_split(cifar_dir):
    images, labels, names = load_cifar10("train")
    assert images.shape == (50000, 32, 32, 3)
    assert images.dtype == np.uint8
    assert labels.shape == (50000,)
    assert np.bincount(labels, minlength=10).tolist() == [5000] * 10
    assert names == CIFAR_NAMES
    # The README: train[0] starts 59 43 50 and ends 140 84 72. These are the first and last three bytes
    # of the raw row: red of the top row's first three pixels, blue of the bottom row's last three.
    assert images[0, 0, :3, 0].tolist() == [59, 43, 50]
    assert images[0, 31, 29:, 2].tolist() == [140, 84, 72]
    assert images[0, 0, 0].tolist() == [59, 62, 63]
    assert labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    # The five batches are concatenated in order: row 0 of data_batch_k is image 10000 * (k - 1).
    all_labels = []
    for k in range(1, 6):
        raw = _raw_batch(cifar_dir, f"data_batch_{k}")
        first = raw[b"data"][0]
        expected = [[_raw_pixel(first, 5, x, c) for c in range(3)] for x in range(32)]
        assert images[10000 * (k - 1), 5].tolist() == expected
        all_labels.extend(raw[b"labels"])
    assert labels.tolist() == all_labels


@pytest.mark.parametrize("where", ["parent", "batches folder"])
def test_data_dir_takes_the_folder_or_its_parent(where, cifar_dir, cifar_test, monkeypatch, tmp_path):
    # data_dir wins over the environment variable, so point that somewhere empty.
    monkeypatch.setenv("CNNVIZ_CIFAR10_DIR", str(tmp_path))
    folder = cifar_dir if where == "parent" else cifar_dir / BATCHES
    images, labels, names = load_cifar10("test", data_dir=folder)
    assert np.array_equal(images, cifar_test[0])
    assert np.array_equal(labels, cifar_test[1])
    assert names == CIFAR_NAMES


def test_environment_variable_may_name_the_batches_folder(cifar_dir, cifar_test, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CIFAR10_DIR", str(cifar_dir / BATCHES))
    images, labels, _ = load_cifar10("test")
    assert np.array_equal(images, cifar_test[0])
    assert np.array_equal(labels, cifar_test[1])


class _WouldDownload(Exception):
    pass


@pytest.fixture
def no_download(monkeypatch):
    """Make any attempt to download CIFAR-10 fail at once instead of reaching for the network."""

    def refuse():
        raise _WouldDownload("load_cifar10 tried to download CIFAR-10")

    monkeypatch.setattr(cifar10, "_download_cifar10", refuse)


def test_missing_data_dir_says_what_is_expected(tmp_path, no_download):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        load_cifar10("test", data_dir=missing)
    message = str(info.value)
    assert str(missing) in message
    assert "cifar-10-batches-py" in message
    assert "batches.meta" in message and "test_batch" in message


def test_empty_environment_folder_is_an_error_not_a_download(tmp_path, monkeypatch, no_download):
    monkeypatch.setenv("CNNVIZ_CIFAR10_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 in") as info:
        load_cifar10("test")
    assert str(tmp_path) in str(info.value)


def test_unknown_split_lists_the_choices():
    with pytest.raises(ValueError, match="'test' or 'train'"):
        load_cifar10("validation")


def _link_batches(source: Path, target: Path, names=("batches.meta", "test_batch")) -> None:
    target.mkdir(parents=True)
    for name in names:
        (target / name).symlink_to(source / BATCHES / name)


def test_keras_2_cache_layout_is_found_without_download(cifar_dir, tmp_path, monkeypatch, no_download):
    monkeypatch.delenv("CNNVIZ_CIFAR10_DIR")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    _link_batches(cifar_dir, tmp_path / "datasets" / BATCHES)
    images, labels, _ = load_cifar10("test")
    assert images.shape == (10000, 32, 32, 3)
    assert labels[:3].tolist() == [3, 8, 8]


def test_keras_3_download_layout_is_found_without_download(cifar_dir, tmp_path, monkeypatch, no_download):
    monkeypatch.delenv("CNNVIZ_CIFAR10_DIR")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    _link_batches(cifar_dir, tmp_path / "datasets" / BATCHES / BATCHES)
    images, _, _ = load_cifar10("test")
    assert images.shape == (10000, 32, 32, 3)


def test_keras_load_data_cache_is_reused_without_download(cifar_dir, tmp_path, monkeypatch, no_download):
    # keras.datasets.cifar10.load_data() unpacks into datasets/cifar-10-batches-py-target/.
    monkeypatch.delenv("CNNVIZ_CIFAR10_DIR")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    _link_batches(cifar_dir, tmp_path / "datasets" / f"{BATCHES}-target" / BATCHES)
    images, labels, _ = load_cifar10("test")
    assert images.shape == (10000, 32, 32, 3)
    assert labels[:3].tolist() == [3, 8, 8]


# --------------------------------------------------------------------------- hostile pickles

class _RunsCode:
    """Unpickling this calls ``func(arg)``: the classic pickle code-execution gadget."""

    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


def _gadgets(marker: Path):
    quoted = shlex.quote(str(marker))
    return {
        "os.system": _RunsCode(os.system, f"touch {quoted}"),
        "builtins.eval": _RunsCode(eval, f"__import__('pathlib').Path({str(marker)!r}).touch()"),
    }


@pytest.mark.parametrize("gadget", ["os.system", "builtins.eval"])
@pytest.mark.parametrize("hostile_file", ["test_batch", "batches.meta"])
def test_hostile_pickle_is_refused_and_runs_nothing(gadget, hostile_file, cifar_dir, tmp_path):
    folder = tmp_path / BATCHES
    folder.mkdir()
    marker = tmp_path / "pwned"
    payload = pickle.dumps(
        {b"data": _gadgets(marker)[gadget], b"labels": [0], b"label_names": [b"x"]}, protocol=2
    )
    # The gadget is live: a plain unpickler runs it.
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_gadgets(control)[gadget], protocol=2))
    assert control.exists()

    (folder / hostile_file).write_bytes(payload)
    for name in {"test_batch", "batches.meta"} - {hostile_file}:
        (folder / name).symlink_to(cifar_dir / BATCHES / name)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load") as info:
        load_cifar10("test", data_dir=tmp_path)
    assert "numpy arrays" in str(info.value)
    assert not marker.exists()


def test_pickle_that_is_not_a_batch_is_refused(cifar_dir, tmp_path):
    folder = tmp_path / BATCHES
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    (folder / "batches.meta").symlink_to(cifar_dir / BATCHES / "batches.meta")
    with pytest.raises(ValueError, match="not a CIFAR-10 batch"):
        load_cifar10("test", data_dir=folder)


# =========================================================================== load_image

COLOUR = (200, 100, 50)


def _encode(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def _noise(size=(64, 48)) -> Image.Image:
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8), "RGB")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width×height RGB pixels but holds no pixel data: a decompression-bomb header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _assert_solid(arr: np.ndarray, colour, tolerance: int = 0) -> None:
    assert arr.shape == (32, 32, 3)
    assert arr.dtype == np.uint8
    diff = np.abs(arr.astype(int) - np.array(colour, dtype=int))
    assert diff.max() <= tolerance, (np.unique(arr.reshape(-1, 3), axis=0), colour)


@pytest.mark.parametrize(
    "fmt, options, tolerance",
    [
        ("PNG", {}, 0),
        ("JPEG", {"quality": 95}, 2),
        ("GIF", {}, 0),
        ("BMP", {}, 0),
        ("WEBP", {"lossless": True}, 0),
    ],
)
def test_solid_colour_in_each_format(fmt, options, tolerance):
    encoded = _encode(Image.new("RGB", (50, 40), COLOUR), fmt, **options)
    _assert_solid(load_image(encoded), COLOUR, tolerance)


def test_photo_matches_an_independent_pillow_crop_and_resize():
    # 64 × 48: the centred 48 × 48 (columns 8 to 55) resized to 32 × 32. Resizing a region of the
    # whole picture (what load_image does) lets the filter read the few pixels just outside it,
    # which a crop first cannot: the outer three columns differ, the rest is identical.
    encoded = _encode(_noise(), "PNG")
    expected = np.asarray(
        Image.open(io.BytesIO(encoded)).convert("RGB").crop((8, 0, 56, 48)).resize((32, 32), Image.Resampling.LANCZOS)
    )
    out = load_image(encoded)
    assert out.shape == (32, 32, 3)
    assert np.array_equal(out[:, 3:-3], expected[:, 3:-3])


def test_size_is_height_then_width():
    # Left half red, right half blue, on a 60 wide × 30 high image.
    img = Image.new("RGB", (60, 30), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 30, 30))
    out = load_image(_encode(img, "PNG"), size=(20, 40))
    assert out.shape == (20, 40, 3)
    assert out[:, :10].tolist() == [[[255, 0, 0]] * 10] * 20
    assert out[:, 30:].tolist() == [[[0, 0, 255]] * 10] * 20


def test_a_photo_of_other_proportions_is_cropped_from_the_centre_not_squashed():
    # 64 wide × 48 high, its 8 leftmost and 8 rightmost columns red, the rest blue: a square model
    # input keeps the centred 48 × 48 (columns 8 to 55), so no red remains; squashed, the red stays.
    img = Image.new("RGB", (64, 48), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 8, 48))
    img.paste((255, 0, 0), (56, 0, 64, 48))
    out = load_image(_encode(img, "PNG"))
    assert out.shape == (32, 32, 3)
    # Only the filter's reach past the crop tints the outer columns, faintly (squashed, 4 columns
    # were red): the middle is pure blue, and nowhere is more than a trace of red.
    assert out[:, 3:-3].tolist() == [[[0, 0, 255]] * 26] * 32
    assert out[..., 0].max() <= 16


def test_grayscale_model_input():
    out = load_image(_encode(Image.new("RGB", (40, 40), COLOUR), "PNG"), size=(28, 28), channels=1)
    assert out.shape == (28, 28, 1)
    assert out.dtype == np.uint8
    luma = round(0.299 * COLOUR[0] + 0.587 * COLOUR[1] + 0.114 * COLOUR[2])  # ITU-R 601-2
    assert np.all(out == luma)


def test_grayscale_l_image_becomes_grey_rgb():
    _assert_solid(load_image(_encode(Image.new("L", (20, 20), 77), "PNG")), (77, 77, 77))


def test_rgba_is_composited_on_white():
    img = Image.new("RGBA", (20, 20), (255, 0, 0, 128))
    img.paste((0, 0, 255, 0), (0, 0, 20, 10))  # top half fully transparent
    out = load_image(_encode(img, "PNG"))
    alpha = 128 / 255
    half_red = [round(255 * alpha + 255 * (1 - alpha)), round(255 * (1 - alpha)), round(255 * (1 - alpha))]
    assert np.abs(out[28:].astype(int) - half_red).max() <= 1
    assert out[:4].tolist() == [[[255, 255, 255]] * 32] * 4


def test_la_image_is_composited_on_white():
    out = load_image(_encode(Image.new("LA", (20, 20), (0, 128)), "PNG"))
    _assert_solid(out, (127, 127, 127), tolerance=1)


def _palette_image() -> Image.Image:
    img = Image.new("P", (20, 20), 3)
    img.putpalette([0, 0, 0, 10, 20, 30, 40, 50, 60, 70, 80, 90] + [0] * (256 * 3 - 12))
    return img


def test_palette_image_uses_its_palette():
    _assert_solid(load_image(_encode(_palette_image(), "PNG")), (70, 80, 90))


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparency_becomes_white(fmt):
    _assert_solid(load_image(_encode(_palette_image(), fmt, transparency=3)), (255, 255, 255))


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (16, 16), c) for c in [(255, 0, 0), (0, 0, 255), (0, 255, 0)]]
    encoded = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(encoded)).n_frames == 3
    _assert_solid(load_image(encoded), (255, 0, 0))


def _png16(values: np.ndarray) -> bytes:
    encoded = _encode(Image.fromarray(values.astype(np.uint16)), "PNG")
    assert Image.open(io.BytesIO(encoded)).mode == "I;16"
    return encoded


def test_16_bit_png_is_scaled_to_8_bit():
    _assert_solid(load_image(_png16(np.full((32, 32), 40000))), (round(40000 / 65535 * 255),) * 3)
    top_white = np.zeros((32, 32))
    top_white[:16] = 65535
    out = load_image(_png16(top_white))
    assert out[0].tolist() == [[255, 255, 255]] * 32
    assert out[31].tolist() == [[0, 0, 0]] * 32


def test_dark_16_bit_png_stays_dark():
    _assert_solid(load_image(_png16(np.full((32, 32), 200))), (round(200 / 65535 * 255),) * 3)


def test_exif_orientation_is_applied():
    # Stored 64 wide × 32 high, left half red; EXIF orientation 6 means "rotate 90° clockwise to
    # display", which puts the left half on top.
    img = Image.new("RGB", (64, 32), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 32, 32))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = load_image(_encode(img, "PNG", exif=exif.tobytes()))
    assert out[:8].tolist() == [[[255, 0, 0]] * 32] * 8
    assert out[24:].tolist() == [[[0, 0, 255]] * 32] * 8


def test_path_bytes_and_file_objects_agree(tmp_path):
    encoded = _encode(_noise(), "PNG")
    path = tmp_path / "photo.png"
    path.write_bytes(encoded)
    expected = load_image(encoded)
    assert expected.shape == (32, 32, 3)
    for source in (path, str(path), bytearray(encoded), memoryview(encoded), io.BytesIO(encoded)):
        assert np.array_equal(load_image(source), expected), type(source)


def test_missing_path_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.png")


@pytest.mark.parametrize(
    "encoded, words",
    [
        (b"hello, this is a text file and not a picture", "not an image"),
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n", "not an image"),
    ],
    ids=["text", "empty", "png-signature-only"],
)
def test_bytes_that_are_not_an_image(encoded, words):
    with pytest.raises(ValueError, match=words):
        load_image(encoded)


def test_text_file_with_an_image_name(tmp_path):
    path = tmp_path / "photo.png"
    path.write_text("not really a PNG")
    with pytest.raises(ValueError, match="not an image"):
        load_image(path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(fmt):
    encoded = _encode(_noise(), fmt)
    with pytest.raises(ValueError, match="damaged or truncated"):
        load_image(encoded[: len(encoded) // 2])


def test_pixel_limit_is_enforced(monkeypatch):
    monkeypatch.setattr(image_files, "MAX_IMAGE_PIXELS", 1000)
    assert load_image(_encode(Image.new("RGB", (40, 25), COLOUR), "PNG")).shape == (32, 32, 3)
    with pytest.raises(ValueError, match="40×26 pixels, more than the limit of 1,000"):
        load_image(_encode(Image.new("RGB", (40, 26), COLOUR), "PNG"))


def test_header_over_the_limit_is_refused_before_decoding():
    # 42 million pixels: under Pillow's own bomb limit, over cnnviz's 40 million.
    with pytest.raises(ValueError, match="7000×6000 pixels, more than the limit of 40,000,000"):
        load_image(_png_header_only(7000, 6000))


def test_decompression_bomb_header_is_refused():
    # 10 billion pixels: Pillow refuses it while reading the header.
    with pytest.raises(ValueError, match="too large to open safely"):
        load_image(_png_header_only(100_000, 100_000))


def test_invalid_channels():
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        load_image(_encode(Image.new("RGB", (8, 8)), "PNG"), channels=4)


# What load_image's ValueErrors say; each names the problem.
_EXPLANATIONS = ("not an image", "damaged or truncated", "too large", "more than the limit", "empty")
_SEEDS = {
    fmt: _encode(_noise((24, 20)), fmt)
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP")
}


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(sorted(_SEEDS)),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
    keep=st.floats(0.0, 1.0),
)
def test_damaged_files_give_an_image_or_a_value_error(fmt, edits, keep):
    encoded = bytearray(_SEEDS[fmt])
    for position, value in edits:
        encoded[position % len(encoded)] = value
    encoded = bytes(encoded[: int(len(encoded) * keep)])
    try:
        out = load_image(encoded)
    except ValueError as exc:
        assert any(words in str(exc) for words in _EXPLANATIONS), str(exc)
    else:
        assert out.shape == (32, 32, 3)
        assert out.dtype == np.uint8
