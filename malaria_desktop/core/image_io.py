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

EXIF orientation is applied to the final array for every layout (plain, alpha, palette, 16-bit), since a
conversion drops the EXIF block. Only regular files are opened: a FIFO would block the reader forever
(issue 13 item 6). ``expect_sha256`` (recorded at analysis, ``file_sha256``) refuses a file whose content
changed since, with ``ImageChangedError`` (item 8). Deep images are scaled in row chunks, so a 100 MP
16-bit field costs its own size plus the 8-bit result, not several float copies (item 7).
"""

from __future__ import annotations

import os
import re
import stat
import warnings
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from malaria_desktop.core.digest import sha256_of_file
from malaria_desktop.core.errors import ImageChangedError, ImageLoadError

SUPPORTED_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".bmp"})
_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "TIFF": "TIFF", "BMP": "BMP", "DIB": "BMP"}
MAX_PIXELS = 100_000_000  # 100 megapixels: ~10x a phone-camera field, far below what would exhaust memory
_CHUNK_ROWS = 256


def check_regular_file(path: Path) -> int:
    """The file's size; ImageLoadError when it is missing, a folder, a FIFO/device, or empty."""
    name = path.name or str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageLoadError(f"'{name}': file not found ({path}).") from None
    except OSError as exc:
        raise ImageLoadError(f"'{name}': cannot read the file ({exc.strerror or exc}).") from exc
    if stat.S_ISDIR(st.st_mode):
        raise ImageLoadError(f"'{name}': this is a folder, not an image file.")
    if not stat.S_ISREG(st.st_mode):
        raise ImageLoadError(f"'{name}': not a regular file (a pipe, socket or device); it cannot be an image.")
    if st.st_size == 0:
        raise ImageLoadError(f"'{name}': the file is empty (0 bytes); copy it again from the microscope.")
    return st.st_size


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MB blocks; ImageLoadError when it cannot be read."""
    path = Path(path)
    check_regular_file(path)
    try:
        return sha256_of_file(path)
    except OSError as exc:
        raise ImageLoadError(f"'{path.name}': cannot read the file ({exc.strerror or exc}).") from exc


def load_image(path: str | Path, max_pixels: int | None = None, expect_sha256: str = "") -> np.ndarray:
    """Return the first frame of ``path`` as a writeable RGB uint8 array of shape (H, W, 3).

    EXIF orientation is applied; grey, palette, alpha (composited on white), CMYK and 16-bit images are
    converted. Raises ImageLoadError, naming the file, for anything that is not a readable smear image, and
    ImageChangedError when ``expect_sha256`` is given and the file's content is no longer that.
    """
    path = Path(path)
    limit = MAX_PIXELS if max_pixels is None else int(max_pixels)
    name = path.name or str(path)
    check_regular_file(path)
    if expect_sha256 and file_sha256(path) != expect_sha256:
        raise ImageChangedError(
            f"'{name}': this file changed since it was analysed (its content differs); its outlines and "
            "crops would not match it. Analyse it again."
        )
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
            f"'{name}': the image is too large: it claims {size_txt}, "
            f"more than the {limit / 1e6:.0f} megapixels allowed; "
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
    arr = _to_rgb_array(im, name)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageLoadError(f"'{name}': unexpected pixel layout {arr.shape}.")
    return _apply_exif(im, arr)


def _apply_exif(im: Image.Image, arr: np.ndarray) -> np.ndarray:
    """Apply the EXIF orientation of ``im`` to its decoded array (any layout; conversions drop EXIF)."""
    try:
        o = im.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not stop the image from loading
        return arr
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
           7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1], 8: lambda a: a.transpose(1, 0, 2)[::-1]}
    return np.ascontiguousarray(ops[o](arr)) if o in ops else arr


def _tiff_is_deep_colour(im: Image.Image) -> bool:
    """True for TIFFs with >8 bits per sample and 3+ samples, which Pillow would cut to 8 bits."""
    try:
        tags = im.tag_v2  # type: ignore[attr-defined]  # TIFF images only (the caller checked the format)
        bits = tags.get(258)
        spp = int(tags.get(277, 1))
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
    channels = [2, 1, 0] if arr.shape[2] >= 3 else [0, 0, 0]  # BGR(A) -> RGB, grey -> three equal channels
    return _scale_to_uint8(arr, channels)


def _scale_to_uint8(arr: np.ndarray, channels: list[int] | None = None) -> np.ndarray:
    """Deep integers: divide by the smallest bit depth holding the max; floats: [0,1] or min..max.

    ``channels`` picks (and orders) the output channels of a (H, W, C) input; a 2-D input stays 2-D. Work
    is done in row chunks, so the float temporaries are a few MB whatever the image size.
    """
    if arr.dtype == np.uint8 and channels is None:
        return arr
    floating = np.issubdtype(arr.dtype, np.floating)
    if floating:
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        lo, hi = (lo, hi) if np.isfinite(lo) and np.isfinite(hi) else (0.0, 1.0)
        offset, scale = (0.0, 255.0) if lo >= 0.0 and hi <= 1.0 else (lo, 255.0 / (hi - lo) if hi > lo else 1.0)
    else:
        lo = min(int(arr.min()), 0)  # signed data: shift to start at zero
        hi = int(arr.max()) - lo
        bits = 8
        while (1 << bits) - 1 < hi and bits < 32:
            bits += 2
        offset, scale = float(lo), 255.0 / ((1 << bits) - 1)
    shape = arr.shape[:2] + ((len(channels),) if channels is not None else arr.shape[2:])
    out = np.empty(shape, np.uint8)
    for start in range(0, arr.shape[0], _CHUNK_ROWS):
        rows = arr[start:start + _CHUNK_ROWS]
        if channels is not None:
            rows = rows[..., channels]
        wide = arr.dtype.itemsize > 2 and not floating
        a: np.ndarray[Any, np.dtype[np.floating[Any]]] = rows.astype(np.float64) if wide else rows.astype(np.float32)
        if floating:
            a = np.nan_to_num(a, nan=offset, posinf=offset, neginf=offset)
        a -= offset
        a *= scale
        a += 0.5
        np.clip(a, 0, 255, out=a)
        out[start:start + _CHUNK_ROWS] = a
    return out


def _to_rgb_array(im: Image.Image, name: str) -> np.ndarray:
    """The decoded frame as a writeable RGB uint8 array (no EXIF orientation yet)."""
    mode = im.mode
    if mode == "RGB":
        return np.array(im, dtype=np.uint8)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.array(Image.alpha_composite(white, rgba).convert("RGB"))  # transparent = empty (white) slide
    if mode.startswith("I") or mode == "F":
        arr = np.asarray(im)
        return _scale_to_uint8(arr[..., None] if arr.ndim == 2 else arr, [0, 0, 0])
    try:
        return np.array(im.convert("RGB"), dtype=np.uint8)
    except Exception as exc:
        raise ImageLoadError(f"'{name}': unsupported pixel format '{mode}'.") from exc
