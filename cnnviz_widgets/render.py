"""Arrays to PNG bytes: montages of feature maps, filter grids, heatmap overlays.

Pure functions (NumPy, Pillow and Matplotlib's colormap tables, stored in assets/colormaps.json,
grouped into the colour schemes the dashboard offers);
no widget code. One PNG per grid, never one image per feature map, so the browser gets one message
per change.
"""
from __future__ import annotations

import io
import json
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

#: Perceptually uniform colormap of feature maps.
MAP_CMAP = "viridis"
#: Colormap of heatmaps: dark/blue for low, red/yellow for high, as students expect.
HEAT_CMAP = "turbo"
#: Diverging colormap of single-channel filters: blue negative, white zero, red positive.
FILTER_CMAP = "RdBu_r"
#: The colour maps of each colour scheme the dashboard offers, by what they colour: "maps"
#: (magnitudes: feature maps, stage means), "heat" (heatmaps) and "signed" (weights of either sign).
#: "colour-vision safe" keeps every distinction readable with a red–green deficiency: cividis
#: (made for it) for magnitudes, viridis for heatmaps and a blue–white–orange diverging map.
COLOUR_SCHEMES = {
    "standard": {"maps": MAP_CMAP, "heat": HEAT_CMAP, "signed": FILTER_CMAP},
    "colour-vision safe": {"maps": "cividis", "heat": "viridis", "signed": "BuOr"},
}
#: How each diverging map draws the sign of a weight, in words for the student and the alt texts.
SIGN_WORDS = {FILTER_CMAP: "red positive, blue negative", "BuOr": "orange positive, blue negative"}
#: How each heatmap colour map draws (strong, weak), in words.
HEAT_WORDS = {HEAT_CMAP: ("red and yellow", "blue"), "viridis": ("yellow and green", "dark purple")}
GAP = 1
GAP_VALUE = 255
#: Colours of a palette PNG; the last palette index (255) is white, for the gaps between tiles.
PALETTE_COLOURS = 255
GAP_INDEX = 255


#: Matplotlib's tables of the colormaps above, stored with the package (scripts/make_colormaps.py).
COLORMAPS_FILE = Path(__file__).resolve().parent / "assets" / "colormaps.json"


@lru_cache(maxsize=1)
def _colormap_tables() -> dict:
    return json.loads(COLORMAPS_FILE.read_text())["tables"]


@cache
def colormap_lut(name: str, n: int = 256) -> np.ndarray:
    """An (n, 3) uint8 lookup table of one of the package's colormaps (viridis, turbo, RdBu_r,
    cividis, BuOr),
    resampled to n = 256 or 255 colours as Matplotlib does; no Matplotlib needed."""
    tables = _colormap_tables()
    if name not in tables:
        raise ValueError(f"unknown colormap {name!r}: choose one of {', '.join(sorted(tables))}")
    if str(n) not in tables[name]:
        raise ValueError(f"colormap tables have {' or '.join(sorted(tables[name]))} colours, not {n}")
    lut = np.frombuffer(bytes.fromhex(tables[name][str(n)]), dtype=np.uint8).reshape(n, 3)
    lut.flags.writeable = False
    return lut


def scheme_colormap(scheme: str, role: str) -> str:
    """The colour map of ``role`` ("maps", "heat" or "signed") in the colour scheme ``scheme``.

    >>> scheme_colormap("colour-vision safe", "signed")
    'BuOr'
    """
    if scheme not in COLOUR_SCHEMES:
        raise ValueError(f"unknown colour scheme {scheme!r}: choose one of {', '.join(COLOUR_SCHEMES)}")
    return COLOUR_SCHEMES[scheme][role]


def apply_colormap(m, name: str = MAP_CMAP) -> np.ndarray:
    """Values in [0, 1] of any shape (...) to RGB uint8 (..., 3)."""
    idx = np.clip(np.asarray(m, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return colormap_lut(name)[idx]


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode a uint8 image (H, W, 3) or (H, W) as PNG (fast compression: these are sent once)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscale of (H, W, ...) by an integer factor: crisp pixels."""
    if factor <= 1:
        return img
    return np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)


def normalize_each(maps: np.ndarray) -> np.ndarray:
    """Scale each map of (N, h, w) to [0, 1] by its own min and max (flat maps become 0)."""
    maps = np.asarray(maps, dtype=np.float32)
    lo = maps.min(axis=(1, 2), keepdims=True)
    hi = maps.max(axis=(1, 2), keepdims=True)
    span = hi - lo
    return np.where(span > 0, (maps - lo) / np.where(span > 0, span, 1), 0.0).astype(np.float32)


def tile(tiles: np.ndarray, cols: int, gap: int = GAP, fill: int = GAP_VALUE) -> np.ndarray:
    """Lay out N images (N, h, w, 3) in rows of ``cols`` with a ``gap``-pixel border between them."""
    n, h, w = tiles.shape[:3]
    cols = max(1, min(int(cols), n))
    rows = -(-n // cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, tiles.shape[3]), fill, np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = tiles[i]
    return out


def tile_factor(h: int, w: int, tile_size: int) -> int:
    """The integer upscale that brings an (h, w) map closest to ``tile_size`` pixels (at least 1)."""
    return max(1, int(round(tile_size / max(h, w))))


#: Height in pixels of the band above a numbered tile, where its number is written.
NUMBER_BAND = 11


@lru_cache(maxsize=32)
def _number_masks(n: int, w: int) -> np.ndarray:
    """Where the digits of 0 … n-1 are, each in a band (NUMBER_BAND, w): bool (n, NUMBER_BAND, w).
    Drawn once per (n, w): writing text costs far more than the montage itself."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=10)
    masks = np.zeros((n, NUMBER_BAND, w), bool)
    for i in range(n):
        mask = Image.new("L", (w, NUMBER_BAND), 0)
        ImageDraw.Draw(mask).text((1, 0), str(i), fill=255, font=font)
        masks[i] = np.asarray(mask) >= 128
    masks.setflags(write=False)
    return masks


def number_tiles(tiles: np.ndarray, ink, paper) -> np.ndarray:
    """Tiles (N, h, w, C) with a band of ``NUMBER_BAND`` rows on top holding each tile's index
    0 … N-1, written in ``ink`` on ``paper`` (values of the C channels): (N, h + band, w, C)."""
    n, h, w, c = tiles.shape
    out = np.empty((n, h + NUMBER_BAND, w, c), tiles.dtype)
    out[:, NUMBER_BAND:] = tiles
    out[:, :NUMBER_BAND] = np.asarray(paper, tiles.dtype)
    out[:, :NUMBER_BAND][_number_masks(n, w)] = np.asarray(ink, tiles.dtype)
    return out


def montage_png(maps, cols: int = 8, tile_size: int = 32, cmap: str = MAP_CMAP, numbered: bool = False,
                selected: int | None = None, frame=None) -> bytes:
    """One PNG of N feature maps.

    maps : (h, w, N) — a layer's output for one image, channels last.
    Each map is normalised to [0, 1] on its own, coloured with a perceptually uniform colormap,
    upscaled (nearest neighbour) to about ``tile_size`` pixels and laid out ``cols`` per row with
    white gaps; ``numbered`` writes each map's channel number above it (``number_tiles``);
    ``selected`` frames that map (its tile and number band) 2 pixels wide in ``frame`` (r, g, b).
    Returns PNG bytes of about (rows·tile, cols·tile); the tile of map i starts at
    ``montage_cell(i, cols, tile height, tile width)``.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3 or maps.shape[-1] == 0:
        raise ValueError(f"expected feature maps (h, w, N), got shape {maps.shape}")
    stack = normalize_each(np.moveaxis(maps, -1, 0))
    f = tile_factor(stack.shape[1], stack.shape[2], tile_size)
    idx = palette_index(stack)[..., None]
    tiles = upscale(idx.transpose(1, 2, 0, 3), f).transpose(2, 0, 1, 3)
    if numbered:
        # The darkest colour of the map's palette on the white of the gaps.
        tiles = number_tiles(tiles, ink=0, paper=GAP_INDEX)
    laid = tile(tiles, cols, fill=GAP_INDEX)
    if selected is None or not 0 <= selected < len(tiles):
        return palette_png(laid[..., 0], cmap)
    if frame is None:
        raise ValueError("a selected map needs the colour of its frame, (r, g, b)")
    # A frame needs a colour outside the map's palette: this montage goes out as RGB instead.
    rgb = np.asarray(_palette(cmap), np.uint8).reshape(-1, 3)[laid[..., 0]]
    top, left = montage_cell(selected, cols, tiles.shape[1], tiles.shape[2], len(tiles))
    th, tw = tiles.shape[1:3]
    for band in (np.s_[top:top + 2, left:left + tw], np.s_[top + th - 2:top + th, left:left + tw],
                 np.s_[top:top + th, left:left + 2], np.s_[top:top + th, left + tw - 2:left + tw]):
        rgb[band] = frame
    return png_bytes(rgb)


def montage_cell(i: int, cols: int, height: int, width: int, n: int | None = None, gap: int = GAP) -> tuple:
    """(top, left) pixel of tile ``i`` in a montage of tiles (height, width) laid ``cols`` per row
    (``tile``; ``cols`` is capped at ``n`` tiles when given)."""
    cols = max(1, min(int(cols), n if n is not None else int(cols)))
    r, c = divmod(int(i), cols)
    return r * (height + gap), c * (width + gap)


def montage_index(x: float, y: float, cols: int, height: int, width: int, n: int, gap: int = GAP):
    """The tile under pixel (x, y) of a montage of ``n`` tiles (height, width), ``cols`` per row,
    or None for a gap or a place with no tile: where a click on the montage landed."""
    cols = max(1, min(int(cols), n))
    c, dx = divmod(int(np.floor(x)), width + gap)
    r, dy = divmod(int(np.floor(y)), height + gap)
    if x < 0 or y < 0 or dx >= width or dy >= height or c >= cols:
        return None
    i = r * cols + c
    return i if i < n else None


def map_png(m, size: int = 256, cmap: str = MAP_CMAP) -> bytes:
    """One 2-D map (h, w), normalised and coloured, upscaled crisp to about ``size`` pixels."""
    m = normalize_each(np.asarray(m, dtype=np.float32)[None])[0]
    return palette_png(upscale(palette_index(m), tile_factor(*m.shape, size)), cmap)


def palette_index(m) -> np.ndarray:
    """Values in [0, 1] to palette indices 0..254 (uint8); index 255 is kept for white gaps."""
    return np.clip(np.asarray(m, dtype=np.float32) * (PALETTE_COLOURS - 1) + 0.5,
                   0, PALETTE_COLOURS - 1).astype(np.uint8)


@cache
def _palette(name: str) -> list:
    lut = colormap_lut(name, PALETTE_COLOURS)
    return [*lut.reshape(-1).tolist(), GAP_VALUE, GAP_VALUE, GAP_VALUE]


def palette_png(idx: np.ndarray, cmap: str = MAP_CMAP) -> bytes:
    """Encode palette indices (H, W) uint8 as an 8-bit palette PNG of ``cmap`` (255 colours + white).

    A palette image is a third of the bytes of RGB and several times faster to encode, which is
    what most of an image change costs.
    """
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(idx, dtype=np.uint8), mode="P")
    img.putpalette(_palette(cmap))
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def image_png(image, size: int = 128) -> bytes:
    """A uint8 image (H, W, 3) or (H, W, 1) upscaled crisp (nearest neighbour) to about ``size`` px."""
    img = np.asarray(image, dtype=np.uint8)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    return png_bytes(upscale(img, tile_factor(img.shape[0], img.shape[1], size)))


def filter_tiles(kernel, mode="rgb", cmap: str = FILTER_CMAP) -> np.ndarray:
    """Learned kernels (kh, kw, in, out) to RGB tiles (out, kh, kw, 3) uint8.

    mode "rgb": each filter's three input channels as colours (first conv layer of an RGB model),
    scaled by the filter's own min and max. mode "mean": the mean over input channels;
    an int: that input channel. Single-channel views use a diverging colormap centred on zero
    (``cmap``; by default blue negative, red positive), scaled by the filter's largest absolute weight.
    """
    k = np.asarray(kernel, dtype=np.float32)
    if k.ndim != 4:
        raise ValueError(f"expected a conv kernel (kh, kw, in, out), got shape {k.shape}")
    per_filter = np.moveaxis(k, -1, 0)  # (out, kh, kw, in)
    if mode == "rgb":
        if k.shape[2] != 3:
            raise ValueError(f"an RGB view needs 3 input channels; this layer has {k.shape[2]}")
        lo = per_filter.min(axis=(1, 2, 3), keepdims=True)
        hi = per_filter.max(axis=(1, 2, 3), keepdims=True)
        span = np.where(hi > lo, hi - lo, 1.0)
        return (np.clip((per_filter - lo) / span, 0, 1) * 255 + 0.5).astype(np.uint8)
    if mode == "mean":
        single = per_filter.mean(axis=-1)
    else:
        ch = int(mode)
        if not 0 <= ch < k.shape[2]:
            raise ValueError(f"input channel {ch} is out of range 0..{k.shape[2] - 1}")
        single = per_filter[..., ch]
    scale = np.abs(single).max(axis=(1, 2), keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    return apply_colormap(single / scale * 0.5 + 0.5, cmap)


def filter_grid_png(kernel, mode="rgb", cols: int = 8, tile_size: int = 24, numbered: bool = False,
                    cmap: str = FILTER_CMAP) -> bytes:
    """PNG of every filter of a conv layer (see ``filter_tiles`` for ``mode``), ``cols`` per row;
    ``numbered`` writes each filter's number above it, as ``montage_png`` numbers the maps."""
    tiles = filter_tiles(kernel, mode, cmap)
    f = tile_factor(tiles.shape[1], tiles.shape[2], tile_size)
    tiles = upscale(tiles.transpose(1, 2, 0, 3), f).transpose(2, 0, 1, 3)
    if numbered:
        tiles = number_tiles(tiles, ink=(34, 34, 34), paper=(GAP_VALUE,) * 3)
    return png_bytes(tile(tiles, cols, gap=2))


def overlay(image, heat, alpha: float = 0.5, size: int = 192, cmap: str = HEAT_CMAP) -> np.ndarray:
    """Blend a heatmap over an image.

    image : uint8 (H, W, 3) or (H, W, 1); heat : float (h, w) in [0, 1], any size.
    The image is upscaled crisp to about ``size`` pixels, the heatmap smoothly (bilinear) to the
    same size, coloured and blended: ``(1 - alpha) * image + alpha * colour``.
    Returns uint8 (S, S', 3).
    """
    from .arrays import resize_map

    img = np.asarray(image, dtype=np.uint8)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
    big = upscale(img, tile_factor(img.shape[0], img.shape[1], size))
    heat_big = np.clip(resize_map(heat, big.shape[:2]), 0.0, 1.0)
    colour = apply_colormap(heat_big, cmap).astype(np.float32)
    return ((1.0 - alpha) * big.astype(np.float32) + alpha * colour + 0.5).astype(np.uint8)


def overlay_png(image, heat, alpha: float = 0.5, size: int = 192, cmap: str = HEAT_CMAP) -> bytes:
    """PNG bytes of ``overlay(image, heat, alpha, size, cmap)``."""
    return png_bytes(overlay(image, heat, alpha, size, cmap))


def _panel(p, tile_size: int, cmap: str = MAP_CMAP) -> np.ndarray:
    """One panel as RGB uint8: a uint8 image (H, W, 3) or (H, W, 1) as it is, a 2-D map (h, w)
    normalised and coloured; upscaled crisp to about ``tile_size`` pixels."""
    p = np.asarray(p)
    if p.ndim == 2:
        p = apply_colormap(normalize_each(p[None].astype(np.float32))[0], cmap)
    elif p.shape[2] == 1:
        p = np.repeat(p, 3, axis=2)
    return upscale(p.astype(np.uint8), tile_factor(p.shape[0], p.shape[1], tile_size))


def panel_grid_png(rows, tile_size: int = 64, cmap: str = MAP_CMAP, gap: int = 4) -> bytes:
    """One PNG of rows of panels (each row a list of equally many panels, see ``_panel``), laid
    out on a grid with ``gap``-pixel white borders: row r, column c at ((tile + gap)·r, (tile + gap)·c)."""
    tiles = [_panel(p, tile_size, cmap) for row in rows for p in row]
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    padded = np.full((len(tiles), h, w, 3), GAP_VALUE, np.uint8)
    for i, t in enumerate(tiles):
        padded[i, : t.shape[0], : t.shape[1]] = t
    return png_bytes(tile(padded, len(rows[0]), gap=gap))


def strip_png(panels, tile_size: int = 64, cmap: str = MAP_CMAP) -> bytes:
    """One row of panels side by side: each either a uint8 image (H, W, 3) or a 2-D map (h, w)
    (normalised and coloured). Every panel is upscaled crisp to about ``tile_size`` pixels."""
    return panel_grid_png([list(panels)], tile_size, cmap)


def labelled_montage(images, captions, cols: int = 3, size: int = 96, colors=None) -> bytes:
    """One PNG of images with a caption under each.

    images : uint8 (N, H, W, C) with C 1 or 3, each upscaled crisp to about ``size`` pixels;
    captions : N strings (a newline makes a second line); colors : N CSS-like hex colours or None.
    """
    from PIL import Image, ImageDraw, ImageFont

    images = np.asarray(images, dtype=np.uint8)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"expected images (N, H, W, C), got shape {images.shape}")
    if images.shape[3] == 1:
        images = np.repeat(images, 3, axis=3)
    font = ImageFont.load_default(size=11)
    lines = max(str(c).count("\n") + 1 for c in captions)
    factor = tile_factor(images.shape[1], images.shape[2], size)
    h, w = images.shape[1] * factor, images.shape[2] * factor
    text_h = 13 * lines + 3
    tiles = np.full((len(images), h + text_h, w, 3), 255, np.uint8)
    for i, img in enumerate(images):
        canvas = Image.new("RGB", (w, h + text_h), "white")
        canvas.paste(Image.fromarray(upscale(img, factor)), (0, 0))
        draw = ImageDraw.Draw(canvas)
        colour = colors[i] if colors is not None else "#222222"
        for k, line in enumerate(str(captions[i]).split("\n")):
            draw.text((2, h + 2 + 13 * k), line, fill=colour, font=font)
        tiles[i] = np.asarray(canvas)
    return png_bytes(tile(tiles, cols, gap=4))
