"""The analysis engine as a generator: load -> segment -> crop -> classify, one image at a time.

Why a generator (superqt's GeneratorWorker habit): every ``yield`` is both a progress report and a
cancel point, so the CLI prints a progress bar and the GUI worker relays signals without either of them
knowing how analysis works. Memory stays bounded: only one image (and one batch of crops) is alive at a
time. A bad file never stops a run: it becomes an ``ImageResult`` with ``status='error'`` and a message a
technician understands, and the next file goes on.
"""

from __future__ import annotations

import io
import os
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from malaria_desktop.core.classifier import DEFAULT_BATCH_SIZE, Classifier
from malaria_desktop.core.crops import crop_cell
from malaria_desktop.core.errors import MalariaDesktopError
from malaria_desktop.core.image_io import SUPPORTED_SUFFIXES, load_image
from malaria_desktop.core.results import PARASITIZED, UNINFECTED, CellResult, ImageResult, Progress
from malaria_desktop.core.segmentation import SegmentationOptions, segment_cells

Event = Progress | ImageResult


def expand_inputs(paths: Iterable[Path | str]) -> list[Path]:
    """Files and folders -> a sorted, de-duplicated list of files to analyse.

    A folder contributes (recursively) the files whose suffix looks like a supported image; hidden files
    and folders are skipped. A file named explicitly is always kept, whatever its suffix (or even if it
    does not exist), so the user gets an error row for it instead of silence. Order is deterministic:
    inputs in the order given, each folder's files sorted by their path.
    """
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = Path(os.path.abspath(p))
        if key not in seen:
            seen.add(key)
            out.append(p)

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = []
            for root, dirs, files in os.walk(p, onerror=None, followlinks=False):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for name in files:
                    if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                        found.append(Path(root) / name)
            for f in sorted(found, key=lambda q: q.as_posix()):
                add(f)
        else:
            add(p)
    return out


def _describe(exc: BaseException) -> str:
    """A message for the report: our own errors speak for themselves; anything else names its type."""
    if isinstance(exc, MalariaDesktopError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "Not enough memory to analyse this image (MemoryError). Try a smaller image."
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"Unexpected error while analysing this image ({type(exc).__name__}{': ' + detail if detail else ''})."


def _classify_steps(
    image: np.ndarray,
    classifier: Classifier,
    *,
    threshold: float | None,
    segmentation: SegmentationOptions | None,
    batch_size: int,
    progress: Callable[[str, int, int], Progress | None],
    path: Path,
) -> Generator[Progress | None, None, ImageResult]:
    """Segment and classify one image; yields before each batch (cancel points), returns the result."""
    threshold = classifier.threshold if threshold is None else float(threshold)
    seg = segment_cells(image, segmentation)
    cells = seg.cells
    total = len(cells)
    size = classifier.input_size
    results: list[CellResult] = []
    for start in range(0, total, batch_size):
        yield progress("classifying", start, total)
        chunk = cells[start : start + batch_size]
        crops = np.stack([crop_cell(image, c.bbox, c.mask, size) for c in chunk])
        probs = classifier.predict(crops, batch_size=batch_size)
        results.extend(
            CellResult(cell=c, probability=float(p), label=PARASITIZED if p >= threshold else UNINFECTED)
            for c, p in zip(chunk, probs)
        )
    return ImageResult(
        path=path,
        status="ok",
        image_shape=seg.image_shape,
        cells=tuple(results),
        cell_diameter_px=float(seg.cell_diameter_px),
        warnings=tuple(seg.warnings),
        threshold=threshold,
    )


def analyze_image(
    image: np.ndarray,
    classifier: Classifier,
    *,
    threshold: float | None = None,
    segmentation: SegmentationOptions | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    path: Path | str = Path("<image>"),
) -> ImageResult:
    """Analyse one RGB uint8 image already in memory (no cancel points, errors propagate)."""
    steps = _classify_steps(
        image, classifier, threshold=threshold, segmentation=segmentation, batch_size=batch_size,
        progress=lambda *_: None, path=Path(path),
    )
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value


def analyze_images(
    paths: Iterable[Path | str],
    classifier: Classifier,
    *,
    threshold: float | None = None,
    segmentation: SegmentationOptions | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    should_cancel: Callable[[], bool] = lambda: False,
) -> Generator[Event, None, bool]:
    """Yield ``Progress`` events and exactly one ``ImageResult`` per input path, in order.

    ``should_cancel`` is polled before each image, before segmentation and before each batch of cells;
    when it turns true the generator stops (returning ``True``) without a result for the interrupted
    image. It returns ``False`` when every input was processed. Pass files (use ``expand_inputs`` for
    folders). Each image is released before the next one is loaded.
    """
    path_list = [Path(p) for p in paths]
    n = len(path_list)
    counted = 0
    for index, path in enumerate(path_list):

        def progress(stage: str, done: int = 0, total: int = 0, _i: int = index, _p: Path = path) -> Progress:
            return Progress(_i, n, _p, stage, cells_done=done, cells_total=total, cells_counted=counted)  # type: ignore[arg-type]

        if should_cancel():
            return True
        yield progress("loading")
        if should_cancel():
            return True
        result: ImageResult | None = None
        try:
            image = load_image(path)
        except Exception as exc:  # ImageLoadError, or anything a decoder throws on a hostile file
            result = ImageResult(path=path, status="error", error=_describe(exc))
        else:
            yield progress("segmenting")
            if should_cancel():
                return True
            steps = _classify_steps(
                image, classifier, threshold=threshold, segmentation=segmentation,
                batch_size=batch_size, progress=progress, path=path,
            )
            try:
                while result is None:
                    try:
                        event = next(steps)
                    except StopIteration as stop:
                        result = stop.value
                        break
                    if event is not None:
                        yield event
                    if should_cancel():
                        steps.close()
                        return True
            except Exception as exc:
                result = ImageResult(path=path, status="error", error=_describe(exc), image_shape=image.shape[:2])
            finally:
                del image, steps
        counted += result.n_cells
        yield result
        yield progress("done", result.n_cells, result.n_cells)
    return False


# ---------------------------------------------------------------- pre-cropped cells (NIH format)

MAX_CROP_PIXELS = 4096 * 4096  # anything bigger is not a single-cell crop: let load_image judge it


@dataclass(frozen=True, eq=False)
class CropBatch:
    """Up to ``batch_size`` files: ``crops`` holds the readable ones in order, ``errors[i]`` is "" for those."""

    paths: tuple[Path, ...]
    crops: np.ndarray  # (k, S, S, 3) uint8, k = number of empty strings in ``errors``
    errors: tuple[str, ...]


def read_crop(path: Path, size: int) -> np.ndarray:
    """One pre-cropped cell image -> classifier input, via ``crop_cell`` with the whole image as bbox.

    Fast path: OpenCV decodes small files directly (it releases the GIL, so threads scale); anything
    unusual (no OpenCV codec, huge header, 16-bit, CMYK...) goes through ``load_image`` for the same
    conversions and error messages as field images.
    """
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
    image = load_image(path)
    h, w = image.shape[:2]
    return crop_cell(image, (0, 0, w, h), None, size)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
        return None, _describe(exc)


def iter_crop_batches(
    paths: Iterable[Path | str], size: int, batch_size: int = DEFAULT_BATCH_SIZE, workers: int | None = None
) -> Iterator[CropBatch]:
    """Decode crops on a thread pool, one batch ahead, so decoding overlaps the caller's inference."""
    path_list = [Path(p) for p in paths]
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crop-decode") as pool:
        pending: deque[tuple[list[Path], list[Future]]] = deque()
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


def iter_results(events: Iterator[Event]) -> Iterator[ImageResult]:
    """Only the ``ImageResult`` items of an ``analyze_images`` stream (for callers without progress)."""
    return (e for e in events if isinstance(e, ImageResult))


__all__ = ["CropBatch", "Event", "analyze_image", "analyze_images", "expand_inputs", "iter_crop_batches",
           "iter_results", "read_crop"]
