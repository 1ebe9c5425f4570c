"""Load a field image from disk as RGB uint8, or fail with one clear, technician-readable error.

Why Pillow first: it reads only the header on ``open``, so absurd sizes and decompression bombs are refused
before any pixel is decoded, and it raises on truncated PNG/JPEG instead of silently returning half an
image (OpenCV only prints a warning). OpenCV decodes 16-bit colour TIFF and PNG, which Pillow would cut
to the high byte (a 12-bit camera image would come out almost black). For 8-bit JPEG/PNG, Pillow decodes
as fast as OpenCV here (both use libjpeg-turbo/zlib; ~0.3-0.5 s for a 16 MP JPEG on the dev machine).

16-bit (and 32-bit integer) images are scaled by the smallest bit depth that holds their maximum value
(8, 10, 12, 14 or 16 bits): a 12-bit camera saved in a 16-bit container is divided by 4095/255, not by
257 (which would make it almost black), and relative brightness is kept (no per-image contrast stretch).
Float images in [0, 1] are multiplied by 255; other float ranges are stretched min..max.
"""

from __future__ import annotations

import re
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageLoadError

SUPPORTED_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".bmp"})
_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "TIFF": "TIFF", "BMP": "BMP", "DIB": "BMP"}
MAX_PIXELS = 100_000_000  # 100 megapixels: ~10x a phone-camera field, far below what would exhaust memory


def load_image(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """Return the first frame of ``path`` as a writeable RGB uint8 array of shape (H, W, 3).

    EXIF orientation is applied; grey, palette, alpha (composited on white), CMYK and 16-bit images are
    converted. Raises ImageLoadError, naming the file, for anything that is not a readable smear image.
    """
    path = Path(path)
    limit = MAX_PIXELS if max_pixels is None else int(max_pixels)
    name = path.name or str(path)
    if not path.exists():
        raise ImageLoadError(f"'{name}': file not found ({path}).")
    if not path.is_file():
        raise ImageLoadError(f"'{name}': this is a folder, not an image file.")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageLoadError(f"'{name}': cannot read the file ({exc.strerror or exc}).") from exc
    if size == 0:
        raise ImageLoadError(f"'{name}': the file is empty (0 bytes); copy it again from the microscope.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return _decode(im, path, name, limit)
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own header check fired first (> ~179 MP)
        m = re.search(r"\((\d+) pixels\)", str(exc))
        size_txt = f"{int(m.group(1)) / 1e6:.0f} megapixels" if m else "far too many pixels"
        raise ImageLoadError(
            f"'{name}': the image is too large: it claims {size_txt}, more than the {limit / 1e6:.0f} megapixels allowed; "
            "it is probably damaged, or not a microscope field."
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(
            f"'{name}': not a readable image (the file is damaged, or is not a PNG, JPEG, TIFF or BMP "
            "picture even if its name says so)."
        ) from exc
    except MemoryError as exc:
        raise ImageLoadError(f"'{name}': not enough memory to open this image.") from exc
    except PermissionError as exc:
        raise ImageLoadError(f"'{name}': permission denied; check that the file can be read.") from exc
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error, IndexError, KeyError, TypeError) as exc:
        raise ImageLoadError(
            f"'{name}': the image file is damaged or incomplete (it may have been cut off while copying): "
            f"{_short(exc)}"
        ) from exc


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _decode(im: Image.Image, path: Path, name: str, limit: int) -> np.ndarray:
    fmt = _FORMATS.get(im.format or "")
    if fmt is None:
        raise ImageLoadError(f"'{name}': {im.format or 'this'} images are not supported; use PNG, JPEG, TIFF or BMP.")
    w, h = im.size
    if w <= 0 or h <= 0:
        raise ImageLoadError(f"'{name}': the image has no pixels ({w}x{h}).")
    if w * h > limit:
        raise ImageLoadError(
            f"'{name}': the image is too large: {w}x{h} pixels ({w * h / 1e6:.0f} megapixels), more than the "
            f"{limit / 1e6:.0f} megapixels allowed; it is probably damaged, or not a microscope field."
        )
    if (fmt == "TIFF" and _tiff_is_deep_colour(im)) or (fmt == "PNG" and _png_is_deep_colour(path)):
        return _apply_exif(im, _decode_deep(path, name))
    im.seek(0)  # first page of multi-page files
    im.load()  # raises on truncated data
    rgb = _to_rgb(im, name)
    out = ImageOps.exif_transpose(rgb) if _has_orientation(im) else rgb
    arr = np.array(out, dtype=np.uint8)  # a writeable copy
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageLoadError(f"'{name}': unexpected pixel layout {arr.shape}.")
    return arr


def _has_orientation(im: Image.Image) -> bool:
    try:
        return im.getexif().get(0x0112, 1) not in (1, None)
    except Exception:  # a broken EXIF block must not stop the image from loading
        return False


def _apply_exif(im: Image.Image, arr: np.ndarray) -> np.ndarray:
    """Apply EXIF orientation to an array decoded outside Pillow."""
    try:
        o = im.getexif().get(0x0112, 1)
    except Exception:
        return arr
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
           7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1], 8: lambda a: a.transpose(1, 0, 2)[::-1]}
    return np.ascontiguousarray(ops[o](arr)) if o in ops else arr


def _tiff_is_deep_colour(im: Image.Image) -> bool:
    """True for TIFFs with >8 bits per sample and 3+ samples, which Pillow would cut to 8 bits."""
    try:
        bits = im.tag_v2.get(258)
        spp = int(im.tag_v2.get(277, 1))
    except Exception:
        return False
    bits = bits if isinstance(bits, tuple) else (bits,)
    return spp >= 3 and any(b is not None and int(b) > 8 for b in bits)


def _png_is_deep_colour(path: Path) -> bool:
    """True for 16-bit RGB(A) PNGs (IHDR bit depth 16, colour type 2 or 6), which Pillow cuts to 8 bits."""
    with open(path, "rb") as f:
        head = f.read(26)
    return len(head) == 26 and head[12:16] == b"IHDR" and head[24] == 16 and head[25] in (2, 6)


def _decode_deep(path: Path, name: str) -> np.ndarray:
    """Deep-colour TIFF/PNG through OpenCV (keeps all bits), then scaled by bit depth."""
    data = np.fromfile(str(path), dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ImageLoadError(
            f"'{name}': the image file is damaged or incomplete (it may have been cut off while copying), "
            "or uses an unsupported layout."
        )
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[2] >= 3:
        arr = cv2.cvtColor(arr[..., :3], cv2.COLOR_BGR2RGB)
    return _scale_to_uint8(arr if arr.shape[2] == 3 else np.repeat(arr[..., :1], 3, axis=2))


def _scale_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Deep integers: divide by the smallest bit depth holding the max; floats: [0,1] or min..max."""
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        a = np.nan_to_num(arr.astype(np.float32))
        lo, hi = float(a.min()), float(a.max())
        if lo >= 0.0 and hi <= 1.0:
            a = a * 255.0
        elif hi > lo:
            a = (a - lo) * (255.0 / (hi - lo))
        return np.clip(a + 0.5, 0, 255).astype(np.uint8)
    a = arr.astype(np.int64) if arr.dtype.itemsize > 2 or np.issubdtype(arr.dtype, np.signedinteger) else arr
    lo = int(a.min())
    if lo < 0:  # signed data: shift to start at zero
        a = a - lo
    hi = int(a.max())
    bits = 8
    while (1 << bits) - 1 < hi and bits < 32:
        bits += 2
    scale = 255.0 / ((1 << bits) - 1)
    return np.clip(a.astype(np.float32) * np.float32(scale) + 0.5, 0, 255).astype(np.uint8)


def _to_rgb(im: Image.Image, name: str) -> Image.Image:
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")  # transparent = empty (white) slide
    if mode in ("1", "L", "P", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return im.convert("RGB")
    if mode.startswith("I") or mode == "F":
        arr = np.asarray(im)
        if arr.ndim == 3:
            arr = arr[..., 0]
        g = _scale_to_uint8(arr)
        return Image.fromarray(np.repeat(g[..., None], 3, axis=2), "RGB")
    try:
        return im.convert("RGB")
    except Exception as exc:
        raise ImageLoadError(f"'{name}': unsupported pixel format '{mode}'.") from exc
