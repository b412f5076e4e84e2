"""Decoding image files (a student's photos, uploads) into uint8 arrays of the model's size.

Nothing here imports TensorFlow.
"""
from __future__ import annotations

import io
import os
import warnings

import numpy as np

from .model_files import format_mib, short_error

#: Largest image, in pixels, that ``load_image`` will decode (a guard against decompression bombs).
MAX_IMAGE_PIXELS = 40_000_000
#: Largest uploaded image file, in bytes, that ``load_images`` reads.
MAX_IMAGE_FILE_BYTES = 32 * 2**20


def load_image(source, size=(32, 32), channels: int = 3) -> np.ndarray:
    """Decode one image file into a uint8 array of the model's input size.

    Parameters
    ----------
    source : str, os.PathLike, bytes or file-like
        Any image Pillow reads (PNG, JPEG, GIF's first frame, BMP, WebP...), in any mode
        (grayscale, RGBA, palette, 16-bit).
    size : (height, width)
        The model's input size. The largest centred part of the image with the model's proportions
        is kept (a 64×48 photo for a square input loses 8 columns on each side rather than being
        squashed), then resized to it with a Lanczos filter (Pillow's ``ImageOps.fit``).
    channels : {1, 3}
        1 for grayscale models, 3 for RGB models.

    Returns
    -------
    uint8 array (height, width, channels)

    Raises
    ------
    ValueError
        The bytes are not an image, the file is truncated, or the image has more than
        ``MAX_IMAGE_PIXELS`` pixels.

    >>> load_image("frog.png").shape   # doctest: +SKIP
    (32, 32, 3)
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ValueError("the file is empty")
        fp = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        fp = source
    else:
        fp = source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp) as img:
                w, h = img.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise ValueError(
                        f"the image is {w}×{h} pixels, more than the limit of {MAX_IMAGE_PIXELS:,}"
                    )
                img.seek(0)
                img.load()
                img = ImageOps.exif_transpose(img)
                rgb = _to_8bit_rgb(img)
    except ValueError:
        raise
    except UnidentifiedImageError:
        raise ValueError("this file is not an image Pillow can read (PNG, JPEG, GIF, BMP, WebP...)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(f"the image is too large to open safely: {exc}") from None
    except FileNotFoundError:
        raise
    except (OSError, SyntaxError, EOFError) as exc:
        raise ValueError(f"the image file is damaged or truncated ({exc})") from None
    if channels == 1:
        rgb = rgb.convert("L")
    height, width = int(size[0]), int(size[1])
    rgb = ImageOps.fit(rgb, (width, height), Image.Resampling.LANCZOS)
    arr = np.asarray(rgb, dtype=np.uint8)
    return arr.reshape(height, width, channels)


def _to_8bit_rgb(img):
    """Any Pillow mode to 8-bit RGB; transparency is composited on white."""
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
        img = Image.fromarray((arr * 255 + 0.5).astype(np.uint8), "L")
    if img.mode in ("P", "PA") or "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")


def load_images(files, size=(32, 32), channels: int = 3, max_file_bytes: int = MAX_IMAGE_FILE_BYTES):
    """Decode many image files at once; a bad file is reported, not fatal.

    Parameters
    ----------
    files : iterable of (name, bytes)
        E.g. the uploads of a ``FileUpload``.
    size : (height, width)
        The model's input size.
    channels : {1, 3}

    Returns
    -------
    images : uint8 array (n, height, width, channels), the files that decoded, in order
    errors : list of str, "name: reason" for every file that did not

    Raises
    ------
    ValueError
        When no file decoded (the message lists every file's reason).

    >>> images, errors = load_images([("cat.png", png_bytes), ("notes.txt", b"hi")])  # doctest: +SKIP
    >>> images.shape, errors                                                            # doctest: +SKIP
    ((1, 32, 32, 3), ['notes.txt: this file is not an image Pillow can read (...)'])
    """
    decoded, errors = [], []
    count = 0
    for name, data in files:
        count += 1
        name = str(name) or f"file {count}"
        try:
            if len(data) > max_file_bytes:
                raise ValueError(f"the file is {format_mib(len(data))}, more than the limit of "
                                 f"{format_mib(max_file_bytes)}")
            decoded.append(load_image(bytes(data), size=size, channels=channels))
        except Exception as exc:  # One unreadable file must not lose the others.
            errors.append(f"{name}: {short_error(exc)}")
    if count == 0:
        raise ValueError("no files were given")
    if not decoded:
        raise ValueError(f"none of the {count} file(s) is an image cnnviz can read: " + "; ".join(errors))
    return np.stack(decoded).astype(np.uint8), errors


def resize_images(images, size, channels: int) -> np.ndarray:
    """Resize uint8 images (N, H, W, C) to (N, height, width, channels) with Pillow.

    Three channels become one by Pillow's luminance ("L"); one becomes three by repetition.
    """
    from PIL import Image

    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    height, width = int(size[0]), int(size[1])
    if images.shape[1:] == (height, width, channels):
        return images
    out = np.empty((len(images), height, width, channels), dtype=np.uint8)
    for i, image in enumerate(images):
        pil = Image.fromarray(image[..., 0], "L") if image.shape[-1] == 1 else Image.fromarray(image, "RGB")
        pil = pil.convert("L" if channels == 1 else "RGB")
        if pil.size != (width, height):
            pil = pil.resize((width, height), Image.Resampling.BICUBIC)
        out[i] = np.asarray(pil, dtype=np.uint8).reshape(height, width, channels)
    return out
