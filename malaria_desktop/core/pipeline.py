"""The analysis engine as a generator: load -> segment -> crop -> classify, one image at a time.

Why a generator (superqt's GeneratorWorker habit): every ``yield`` is both a progress report and a
cancel point, so the CLI prints a progress bar and the GUI worker relays signals without either of them
knowing how analysis works. Memory stays bounded: only one image (and one batch of crops) is alive at a
time. A bad file never stops a run: it becomes an ``ImageResult`` with ``status='error'`` and a message a
technician understands, and the next file goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from malaria_desktop.core.classification.classifier import DEFAULT_BATCH_SIZE, Classifier
from malaria_desktop.core.classification.crops import crop_cell
from malaria_desktop.core.classification.domain_check import check_field
from malaria_desktop.core.classification.not_a_cell import NotACellModel
from malaria_desktop.core.classification.plausibility import image_warnings, is_noise
from malaria_desktop.core.errors import describe_error
from malaria_desktop.core.image_io import SUPPORTED_SUFFIXES, file_sha256, load_image
from malaria_desktop.core.results import NOT_CELL, PARASITIZED, UNINFECTED, CellResult, ImageResult, Label, Progress
from malaria_desktop.core.segmentation.engine import SegmentationOptions, segment_cells

Event = Progress | ImageResult
FEW_RED_CELLS = 10  # fewer red cells than this beside not-a-cell regions: the field is not blood to count


def expand_inputs(paths: Iterable[Path | str], problems: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Files and folders -> a sorted, de-duplicated list of files to analyse.

    A folder contributes (recursively) the files whose suffix looks like a supported image; hidden files
    and folders are skipped. A file named explicitly is always kept, whatever its suffix (or even if it
    does not exist), so the user gets an error row for it instead of silence. Order is deterministic:
    inputs in the order given, each folder's files sorted by their path. Folders that cannot be read
    (permissions, a vanished drive) are appended to ``problems`` as ``(folder, reason)`` instead of being
    skipped silently.
    """

    def unreadable(exc: OSError) -> None:
        if problems is not None:
            problems.append((Path(exc.filename or "?"), exc.strerror or str(exc)))

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
            for root, dirs, files in os.walk(p, onerror=unreadable, followlinks=False):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for name in files:
                    if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                        found.append(Path(root) / name)
            for f in sorted(found, key=lambda q: q.as_posix()):
                add(f)
        else:
            add(p)
    return out


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
    checks = image_warnings(image)  # greyscale / random noise; noise is not analysed (no cells counted)
    if is_noise(checks):
        return ImageResult(path=path, status="ok", image_shape=image.shape[:2], warnings=checks, threshold=threshold)
    nac = classifier.not_a_cell
    if nac is not None:  # dark and white-cell regions are kept for the model to judge (see keep_wbc_regions)
        segmentation = replace(segmentation or SegmentationOptions(), keep_wbc_regions=True)
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
        not_cell = (nac.predict(nac.crops(image, chunk, seg.cell_diameter_px)) if nac is not None
                    else np.full(len(chunk), np.nan, np.float32))
        results.extend(
            CellResult(cell=c, probability=float(p), label=_verdict(p, q, threshold, nac),
                       not_cell_probability=float(q))
            for c, p, q in zip(chunk, probs, not_cell, strict=True)
        )
    red = [r for r in results if r.label != NOT_CELL]
    return ImageResult(
        path=path,
        status="ok",
        image_shape=seg.image_shape,
        cells=tuple(results),
        cell_diameter_px=float(seg.cell_diameter_px),
        warnings=tuple(seg.warnings) + checks + _not_cell_warning(len(red), len(results) - len(red))
        + check_field(image, red, size, classifier.card.reference),
        threshold=threshold,
        uncovered_share=seg.uncovered_share,
        uncovered=seg.uncovered,
    )


def _verdict(p: float, q: float, threshold: float, nac: NotACellModel | None) -> Label:
    """Not a red cell first (a platelet on glass is no parasitized cell), then the parasite threshold."""
    if nac is not None and q >= nac.threshold:
        return NOT_CELL
    return PARASITIZED if p >= threshold else UNINFECTED


def _not_cell_warning(n_red: int, n_not: int) -> tuple[str, ...]:
    """Bad input: a field of white cells or debris only must say so, not read as an empty healthy field."""
    if n_not and not n_red:
        return (f"no red cells to count: the {n_not} regions found look like white cells, platelets or debris "
                "(not counted)",)
    if n_not > n_red and n_red < FEW_RED_CELLS:
        return (f"mostly not red cells: {n_not} of the {n_red + n_not} regions found look like white cells, "
                "platelets or debris (not counted)",)
    return ()


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
            # reads `counted` when called, inside this iteration (it is the count before this image)
            return Progress(_i, n, _p, stage, cells_done=done, cells_total=total, cells_counted=counted)  # type: ignore[arg-type]  # noqa: B023

        if should_cancel():
            return True
        yield progress("loading")
        if should_cancel():
            return True
        result: ImageResult | None = None
        try:
            image = load_image(path)  # first: a 20 GB non-image is refused by its header, not hashed whole
            digest = file_sha256(path)  # recorded so outlines/crops are never applied to a replaced file
        except Exception as exc:  # ImageLoadError, or anything a decoder throws on a hostile file
            result = ImageResult(path=path, status="error", error=describe_error(exc))
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
                        result = replace(stop.value, content_sha256=digest)
                        break
                    if event is not None:
                        yield event
                    if should_cancel():
                        steps.close()
                        return True
            except Exception as exc:
                result = ImageResult(path=path, status="error", error=describe_error(exc), image_shape=image.shape[:2])
            finally:
                del image, steps
        counted += result.n_cells
        yield result
        yield progress("done", result.n_cells, result.n_cells)
    return False


def iter_results(events: Iterator[Event]) -> Iterator[ImageResult]:
    """Only the ``ImageResult`` items of an ``analyze_images`` stream (for callers without progress)."""
    return (e for e in events if isinstance(e, ImageResult))


__all__ = ["Event", "analyze_image", "analyze_images", "expand_inputs", "iter_results"]
