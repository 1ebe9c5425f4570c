"""``analyze``'s archive and cluster options, and the hand-over to ``malaria_desktop.cluster``.

Why a module of its own, stdlib-only at import: ``cli.py`` builds its parser from here, so ``--help`` stays
instant and the desktop bundle (which leaves ``malaria_desktop.cluster``, boto3 and Ray out) still parses
every option. Work that needs them imports the cluster package only when an ``s3://`` path or
``--engine ray`` is used; without the extra installed the user gets one clear message (exit 2).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from malaria_desktop.core.classification.classifier import Classifier
    from malaria_desktop.core.pipeline import Event

from malaria_desktop.paths import is_s3_uri as is_s3

ENGINES = ("local", "ray")
NEEDS_EXTRA = "pip install 'malaria-desktop[cluster]'"


class ClusterUsageError(Exception):
    """The command line asks for S3 or Ray and they cannot be used (missing extra, bucket, access)."""


def path_or_uri(text: str) -> Path | str:
    """A local path as ``Path``; an ``s3://`` URI kept as text (``Path`` would fold its ``//``)."""
    return text if is_s3(text) else Path(text)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(f"archives (s3://bucket/prefix) and clusters; needs: {NEEDS_EXTRA}")
    group.add_argument("--engine", choices=ENGINES, default="local",
                       help="local: this process (default); ray: shard the images over a Ray cluster")
    group.add_argument("--address", metavar="ADDR",
                       help="Ray cluster to join (e.g. auto, or HEAD:6379); default: start a local one with 2 CPUs")
    group.add_argument("--workers", type=_positive_int, metavar="N",
                       help="Ray workers, one model session each (default: one per cluster CPU)")
    group.add_argument("--cpus-per-worker", type=_positive_int, default=1, metavar="N",
                       help="CPUs (and inference threads) each Ray worker reserves (default 1)")


def wants_cluster(paths: Sequence[Path | str], engine: str = "local") -> bool:
    """True when the cluster package must run: an ``s3://`` input or ``--engine ray``."""
    return engine == "ray" or any(is_s3(p) for p in paths)


def join(out: Path | str, name: str) -> str:
    """``out / name`` for a local folder or an ``s3://`` prefix (what the CLI prints)."""
    return f"{str(out).rstrip('/')}/{name}" if is_s3(out) else str(Path(out) / name)


def _run() -> Any:
    try:
        from malaria_desktop.cluster import run
    except ImportError as exc:  # the desktop bundle, or a plain install
        raise ClusterUsageError(f"s3:// paths and --engine ray need the cluster extra ({NEEDS_EXTRA}): {exc}") from exc
    return run


def _usage(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``call``, turning the cluster's "cannot start" errors into ``ClusterUsageError``."""
    run = _run()
    try:
        return call(run)(*args, **kwargs)
    except run.START_ERRORS as exc:
        raise ClusterUsageError(str(exc)) from exc


def inputs(paths: Sequence[Any], problems: list[Any]) -> list[Any]:
    """Local files/folders and ``s3://`` prefixes -> files to analyse (``Path`` or ``s3://`` text); a folder,
    bucket or prefix that cannot be read goes to ``problems`` as ``(input, reason)``."""
    return list(_usage(lambda r: r.inputs, paths, problems))


def report_folder(out: str, allowed: frozenset[str]) -> Any:
    """The ``s3://`` report target, checked now: ``with folder as stage: ...`` publishes it whole."""
    return _usage(lambda r: r.report_folder, out, allowed)


def events(files: Sequence[Path | str], classifier: "Classifier", threshold: float | None,
           args: argparse.Namespace) -> Iterator["Event"]:
    """``core.pipeline.analyze_images``'s event stream for these files, from the engine ``args`` names."""
    return _usage(lambda r: r.events, files, classifier, threshold=threshold, batch_size=args.batch_size,
                  engine=args.engine, address=args.address, workers=args.workers,
                  cpus_per_worker=args.cpus_per_worker)


__all__ = ["ClusterUsageError", "add_arguments", "events", "inputs", "is_s3", "join", "path_or_uri", "report_folder",
           "wants_cluster"]
