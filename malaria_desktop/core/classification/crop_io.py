"""Pre-cropped single-cell images (the NIH crop format) read from disk: what ``classify`` and training use.

Why its own module: training decodes 27,000 crops with exactly what the app feeds the model, and it
should not have to import the field pipeline (segmentation, classifier) to do so.

Memory (issue 13 item 7): a crop is a single cell, so files over ``MAX_CROP_PIXELS`` are refused before
decoding instead of decoding 100-megapixel "crops" on eight threads at once; unusual layouts (16-bit,
CMYK...) take ``load_image``'s careful path, and at most ``SLOW_DECODES`` of those run at the same time.
Only regular files are read: a FIFO named on the command line no longer blocks ``classify`` (item 6).
"""

from __future__ import annotations

import io
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from malaria_desktop.core.classification.classifier import DEFAULT_BATCH_SIZE
from malaria_desktop.core.classification.crops import crop_cell
from malaria_desktop.core.errors import describe_error
from malaria_desktop.core.image_io import check_regular_file, load_image

MAX_CROP_PIXELS = 2048 * 2048  # an RBC crop is ~100-400 px across; 4 MP is already no single cell
SLOW_DECODES = 2
_slow_path = threading.BoundedSemaphore(SLOW_DECODES)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, eq=False)
class CropBatch:
    """Up to ``batch_size`` files: ``crops`` holds the readable ones in order, ``errors[i]`` is "" for those."""

    paths: tuple[Path, ...]
    crops: np.ndarray  # (k, S, S, 3) uint8, k = number of empty strings in ``errors``
    errors: tuple[str, ...]


def read_crop(path: Path | str, size: int) -> np.ndarray:
    """One pre-cropped cell image -> classifier input, via ``crop_cell`` with the whole image as bbox.

    Fast path: OpenCV decodes small files directly (it releases the GIL, so threads scale); anything
    unusual (no OpenCV codec, 16-bit, CMYK...) goes through ``load_image`` for the same conversions and
    error messages as field images, limited to ``MAX_CROP_PIXELS``.
    """
    path = Path(path)
    check_regular_file(path)  # before any read: a FIFO would block forever
    try:
        data = np.fromfile(path, np.uint8)  # also handles non-ASCII names on Windows
    except OSError:
        data = np.empty(0, np.uint8)
    if data.size and _plain_small_image(data):
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if bgr is not None and bgr.ndim == 3:
            # crop_cell treats channels alike, so crop in BGR and flip only the small result
            crop = crop_cell(bgr, (0, 0, bgr.shape[1], bgr.shape[0]), None, size)
            return np.ascontiguousarray(crop[..., ::-1])
    del data
    with _slow_path:
        image = load_image(path, max_pixels=MAX_CROP_PIXELS)
        h, w = image.shape[:2]
        return crop_cell(image, (0, 0, w, h), None, size)


def _plain_small_image(data: np.ndarray) -> bool:
    """True when OpenCV decodes the file exactly as ``load_image`` would: 8-bit RGB/grey, not huge.

    8-bit RGB/grey PNG (the NIH format) is recognised from its IHDR bytes (cheap); other formats ask
    Pillow for the header. Alpha, palette, 16-bit, CMYK, truncated files and anything odd go to
    ``load_image``, which converts them like field images or raises a clear ImageLoadError.
    """
    head = data[:33].tobytes()
    if head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR":
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        bit_depth, colour_type = head[24], head[25]
        complete = data[-8:-4].tobytes() == b"IEND"  # OpenCV half-decodes truncated files without an error
        return complete and bit_depth == 8 and colour_type in (0, 2) and 0 < width * height <= MAX_CROP_PIXELS
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data.tobytes())) as header:
            if header.format == "JPEG" and data[-2:].tobytes() != b"\xff\xd9":
                return False  # truncated JPEG: let load_image report it
            return (header.format in ("JPEG", "BMP", "TIFF") and header.mode in ("RGB", "L")
                    and header.width * header.height <= MAX_CROP_PIXELS)
    except Exception:  # noqa: BLE001 - not something Pillow knows; load_image will say what is wrong
        return False


def _read_or_error(path: Path, size: int) -> tuple[np.ndarray | None, str]:
    try:
        return read_crop(path, size), ""
    except Exception as exc:  # noqa: BLE001 - one bad crop becomes an error row
        return None, describe_error(exc)


def iter_crop_batches(
    paths: Iterable[Path | str], size: int, batch_size: int = DEFAULT_BATCH_SIZE, workers: int | None = None
) -> Iterator[CropBatch]:
    """Decode crops on a thread pool, one batch ahead, so decoding overlaps the caller's inference."""
    path_list = [Path(p) for p in paths]
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crop-decode") as pool:
        pending: deque[tuple[list[Path], list[Future[tuple[np.ndarray | None, str]]]]] = deque()
        next_start = 0

        def submit() -> None:
            nonlocal next_start
            chunk = path_list[next_start : next_start + batch_size]
            next_start += len(chunk)
            pending.append((chunk, [pool.submit(_read_or_error, p, size) for p in chunk]))

        for _ in range(2):
            if next_start < len(path_list):
                submit()
        while pending:
            chunk, futures = pending.popleft()
            if next_start < len(path_list):
                submit()
            got = [f.result() for f in futures]
            crops = [c for c, _ in got if c is not None]
            yield CropBatch(
                paths=tuple(chunk),
                crops=np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8),
                errors=tuple(e for _, e in got),
            )


__all__ = ["MAX_CROP_PIXELS", "CropBatch", "iter_crop_batches", "read_crop"]
