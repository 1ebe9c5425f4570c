"""What ``cli analyze`` asks of this package: the inputs, the engine's event stream, the report target.

Kept to three calls so the CLI stays one command with one report writer: whichever engine runs and
wherever the files live, ``cells.csv``, ``images.csv``, ``slide.csv`` and ``manifest.json`` are written
by the same code from the same ``ImageResult`` stream.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from malaria_desktop.cluster import is_s3
from malaria_desktop.cluster.sources import Source, expand_sources, local_events

if TYPE_CHECKING:
    from malaria_desktop.cluster.s3_output import S3ReportFolder
    from malaria_desktop.core.classification.classifier import Classifier
    from malaria_desktop.core.pipeline import Event

MISSING_EXTRA = "this needs the cluster extra (pip install 'malaria-desktop[cluster]')"


class ClusterUnavailable(Exception):
    """boto3 or Ray is not installed (the desktop build and a plain install lack them)."""


def _start_errors() -> tuple[type[BaseException], ...]:
    from malaria_desktop.cluster.storage import StorageError
    from malaria_desktop.core.errors import UnsafeTargetError

    return (ClusterUnavailable, StorageError, UnsafeTargetError, ConnectionError)


START_ERRORS = _start_errors()  # what stops a run before it starts (the CLI's exit code 2)


def check_installed(need_ray: bool, need_s3: bool) -> None:
    """ClusterUnavailable naming what is missing, before any work starts."""
    import importlib.util

    missing = [name for name, needed in (("ray", need_ray), ("boto3", need_s3))
               if needed and importlib.util.find_spec(name) is None]
    if missing:
        raise ClusterUnavailable(f"{' and '.join(missing)} not installed: {MISSING_EXTRA}")


def inputs(paths: Sequence[Path | str], problems: list[tuple[Path | str, str]]) -> list[Source]:
    check_installed(False, any(is_s3(p) for p in paths))
    return expand_sources(paths, problems)


def report_folder(out: str, allowed: frozenset[str]) -> "S3ReportFolder":
    """The ``s3://`` report target, checked now (a missing bucket or refused access stops the run early)."""
    check_installed(False, True)
    from malaria_desktop.cluster.s3_output import S3ReportFolder
    from malaria_desktop.cluster.storage import StorageError
    from malaria_desktop.core.errors import UnsafeTargetError

    try:
        folder = S3ReportFolder(out, allowed)
        folder.check()
    except (StorageError, UnsafeTargetError) as exc:
        raise type(exc)(f"--out {out}: {exc}") from None
    return folder


def events(sources: Sequence[Source], classifier: "Classifier", *, threshold: float | None, batch_size: int,
           engine: str = "local", address: str | None = None, workers: int | None = None,
           cpus_per_worker: int = 1) -> Iterator["Event"]:
    """The event stream of ``core.pipeline.analyze_images`` for these sources, from the chosen engine.

    The Ray cluster is joined (or started) now, so a missing extra or an unreachable address is reported
    before any image is analysed.
    """
    if engine != "ray":
        return local_events(sources, classifier, threshold=threshold, batch_size=batch_size)
    check_installed(True, any(is_s3(s) for s in sources))
    from malaria_desktop.cluster.engine_ray import RayEngine

    ray_engine = RayEngine(classifier.model_dir, threshold=threshold, batch_size=batch_size, workers=workers,
                           cpus_per_worker=cpus_per_worker, address=address)

    def stream() -> Iterator["Event"]:
        from malaria_desktop.core.errors import MalariaDesktopError

        try:
            yield from ray_engine.events(sources)
        except ray_engine.ray.exceptions.RayError as exc:  # the cluster itself failed: no report, one message
            detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            raise MalariaDesktopError(f"the Ray cluster failed ({type(exc).__name__}: {detail})") from exc
        finally:
            ray_engine.close()

    return stream()


__all__ = ["START_ERRORS", "ClusterUnavailable", "check_installed", "events", "inputs", "report_folder"]
