"""Square cell thumbnails for the review gallery and the printed report (no Qt here).

A thumbnail shows the cell with a little of its surroundings (the technician judges a cell against its
neighbours' staining), unlike the classifier's crop, which blacks out everything outside the mask.

Thumbnails are cut only from the file that was analysed (issue 24): the gallery and the PDF's parasite
pictures were cut from whatever file now had the name, so a replaced image showed other cells under the
old outlines and verdicts. ``analysed_image`` checks the content hash (and the size, for sessions from
before hashes were kept) the way the export does, and raises ``ImageChangedError`` otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np

from malaria_desktop.core.errors import ImageChangedError

PAD_FRACTION = 0.15  # context around the cell's box, as a share of its longer side
OUTSIDE_GREY = 40


def cell_thumbnail(image: np.ndarray, bbox: tuple[int, int, int, int], size: int,
                   pad: float = PAD_FRACTION) -> np.ndarray:
    """``(size, size, 3)`` uint8 RGB: the cell's box squared and padded; outside the image is dark grey."""
    x, y, w, h = (int(v) for v in bbox)
    side = max(w, h, 1)
    side = int(round(side * (1 + 2 * pad)))
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = int(round(cx - side / 2.0)), int(round(cy - side / 2.0))
    out = np.full((side, side, 3), OUTSIDE_GREY, np.uint8)
    ih, iw = image.shape[:2]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, iw), min(y0 + side, ih)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1, :3]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(out, (size, size), interpolation=interpolation)


def image_thumbnails(image: np.ndarray, boxes: Iterable[tuple[int, tuple[int, int, int, int]]],
                     size: int) -> dict[int, np.ndarray]:
    """Thumbnails of several cells of one image, by cell id (one decode serves a whole image's cells)."""
    return {cell_id: cell_thumbnail(image, bbox, size) for cell_id, bbox in boxes}


def analysed_image(path: Path, content_sha256: str = "", image_shape: tuple[int, int] | None = None,
                   load: Callable[[Path], np.ndarray] | None = None) -> np.ndarray:
    """The pixels of ``path`` if it is still the file that was analysed; ImageChangedError if not."""
    from malaria_desktop.core.image_io import file_sha256, load_image

    path = Path(path)
    if content_sha256 and file_sha256(path) != content_sha256:
        raise ImageChangedError(f"'{path.name}': this file changed since it was analysed (its content differs).")
    image = (load or load_image)(path)
    if image_shape and tuple(image_shape) != (0, 0) and tuple(image.shape[:2]) != tuple(image_shape):
        raise ImageChangedError(f"'{path.name}': this file changed since it was analysed (its size differs).")
    return image
