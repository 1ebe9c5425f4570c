"""Inputs that may live on S3: expand them, analyse one, and the local engine over them.

Why one function per image (``analyze_source``): the local engine and every Ray worker call it, and it runs
core's own ``analyze_images`` on the file, so a cell found by a cluster worker is found the same way, with
the same probability, as on the desktop. An object is downloaded to a private temporary folder under its
own file name (messages name the file as they would locally) and removed right after.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

from malaria_desktop.cluster import is_s3

if TYPE_CHECKING:
    from malaria_desktop.core.classification.classifier import Classifier
    from malaria_desktop.core.pipeline import Event
    from malaria_desktop.core.results import ImageResult

Source = Path | str  # a local file, or an s3:// object URI


def expand_sources(paths: Sequence[Path | str], problems: list[tuple[Path | str, str]]) -> list[Source]:
    """Local files/folders and ``s3://`` prefixes/objects -> the files to analyse, in the order given.

    Local inputs follow ``core.pipeline.expand_inputs``; S3 ones ``storage.list_images``. A folder, bucket
    or prefix that cannot be read is appended to ``problems`` as ``(input, reason)``.
    """
    from malaria_desktop.core.pipeline import expand_inputs

    out: list[Source] = []
    seen: set[str] = set()
    for raw in paths:
        if is_s3(raw):
            from malaria_desktop.cluster.storage import list_images

            s3_problems: list[tuple[str, str]] = []
            found: list[Source] = list(list_images(str(raw), s3_problems))
            problems.extend(s3_problems)
        else:
            local_problems: list[tuple[Path, str]] = []
            found = list(expand_inputs([raw], local_problems))
            problems.extend(local_problems)
        for item in found:
            key = item if isinstance(item, str) else str(Path(item).absolute())
            if key not in seen:
                seen.add(key)
                out.append(item)
    return out


def result_path(source: Source) -> Path:
    """The path a report shows for ``source``: the local path as given, or ``s3://bucket/key``."""
    if is_s3(source):
        from malaria_desktop.cluster.storage import S3Path

        return cast(Path, S3Path.from_uri(str(source)))  # a pure path; reports only print it and take its name
    return Path(source)


def analyze_source(source: Source, classifier: "Classifier", *, threshold: float | None,
                   batch_size: int) -> "ImageResult":
    """One image, wherever it lives -> its ``ImageResult`` (an error result for a file that cannot be read)."""
    from malaria_desktop.core.errors import describe_error
    from malaria_desktop.core.pipeline import analyze_images
    from malaria_desktop.core.results import ImageResult

    shown = result_path(source)
    with tempfile.TemporaryDirectory(prefix="malaria-object-") as tmp:
        local = Path(source) if not is_s3(source) else None
        if local is None:
            from malaria_desktop.cluster.storage import fetch

            try:
                local = fetch(str(source), Path(tmp))
            except Exception as exc:  # ImageLoadError with the store's reason, or a transport failure
                return ImageResult(path=shown, status="error", error=describe_error(exc))
        results = [e for e in analyze_images([local], classifier, threshold=threshold, batch_size=batch_size)
                   if isinstance(e, ImageResult)]
    return replace(results[0], path=shown)


def local_events(sources: Sequence[Source], classifier: "Classifier", *, threshold: float | None,
                 batch_size: int) -> Iterator["Event"]:
    """The local engine over mixed inputs: the ``analyze_images`` stream (Progress, then one result per image)."""
    from malaria_desktop.core.results import Progress

    counted = 0
    for index, source in enumerate(sources):
        yield Progress(index, len(sources), result_path(source), "loading", cells_counted=counted)
        result = analyze_source(source, classifier, threshold=threshold, batch_size=batch_size)
        counted += result.n_cells
        yield result
        yield Progress(index, len(sources), result.path, "done", result.n_cells, result.n_cells, counted)


__all__ = ["Source", "analyze_source", "expand_sources", "local_events", "result_path"]
