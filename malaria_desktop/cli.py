"""Command line: ``malaria-desktop`` (window), ``analyze`` (fields -> CSV reports), ``classify`` (NIH crops).

Exit codes: 0 every file analysed, 1 some files failed (each listed with its reason), 2 usage errors
(bad options, no inputs, missing or broken model). Heavy imports (ONNX Runtime, OpenCV, Qt) happen only
inside the command that needs them, so ``--help`` and ``--version`` are instant and the core never pulls Qt.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from malaria_desktop import INTENDED_USE, __version__, cluster_cli
from malaria_desktop.core.settings import DEFAULTS

if TYPE_CHECKING:
    import numpy as np

    from malaria_desktop.core.atomic import AtomicFolder
    from malaria_desktop.core.classification.classifier import Classifier
    from malaria_desktop.core.report.counts import ImageSummary, SlideSummary
    from malaria_desktop.core.settings import ReportSettings
    from malaria_desktop.interop.fhir_cli import FhirOutput

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
COMMANDS = ("gui", "analyze", "classify", "calibrate")
REPORT_FILES = frozenset({"cells.csv", "images.csv", "slide.csv", "manifest.json"})


class UsageError(Exception):
    """A problem the user fixes by changing the command line (exit code 2)."""


# ---------------------------------------------------------------- argument types


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _percentage(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 100.0:
        raise argparse.ArgumentTypeError(f"must be a percentage in (0, 100], got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="malaria-desktop",
        description="Find and classify red blood cells in Giemsa thin-smear images. " + INTENDED_USE,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the desktop window (the default)")
    gui.add_argument("files", nargs="*", type=Path, metavar="FILE", help="images or folders to open")
    gui.add_argument("--model", type=Path, metavar="DIR", help="model folder (default: the bundled model)")
    gui.add_argument("--screenshot", type=Path, metavar="OUT.png", help="save a screenshot of the window")
    gui.add_argument("--quit-after", type=float, metavar="SECONDS", help="close the window after SECONDS")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", type=Path, metavar="DIR", help="model folder (default: the bundled model)")
        p.add_argument("--threshold", type=_probability, metavar="T",
                       help="P(parasitized) at or above T means parasitized (default: the model card's)")
        p.add_argument("--batch-size", type=_positive_int, default=256, metavar="N",
                       help="cells per inference batch (default 256)")
        p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")

    an = sub.add_parser("analyze", help="analyse field images and write images.csv, cells.csv, slide.csv")
    an.add_argument("paths", nargs="+", type=cluster_cli.path_or_uri, metavar="PATH",
                    help="image files and/or folders (recursive), or s3://bucket/prefix")
    an.add_argument("--out", type=cluster_cli.path_or_uri, required=True, metavar="DIR",
                    help="folder (or s3://bucket/prefix/) for the CSV reports")
    common(an)
    cluster_cli.add_arguments(an)
    an.add_argument("--rbc-per-ul", type=_positive_float, default=DEFAULTS.rbc_per_ul, metavar="N",
                    help=f"patient's RBC count per microlitre for parasites/uL (default {DEFAULTS.rbc_per_ul:,.0f})")
    an.add_argument("--hyper-cutoff", type=_percentage, default=DEFAULTS.hyper_cutoff_pct, metavar="PCT",
                    help="flag hyperparasitaemia at or above this parasitemia %% "
                         f"(default {DEFAULTS.hyper_cutoff_pct:g})")
    an.add_argument("--min-cells", type=_count, default=DEFAULTS.min_cells, metavar="N",
                    help=f"flag slides with fewer RBC (default {DEFAULTS.min_cells})")
    an.add_argument("--target-cells", type=_positive_int, default=DEFAULTS.target_cells, metavar="N",
                    help=f"RBC count target (default {DEFAULTS.target_cells})")
    an.add_argument("--exclude-edge-cells", action="store_true",
                    help="do not count cells cut by the image border (they stay in cells.csv with edge=1)")
    an.add_argument("--fhir", type=Path, metavar="FILE",
                    help="also write the slide result as a FHIR R4 Bundle (JSON) for a laboratory information "
                         "system; inside --out it is listed in manifest.json (docs/fhir.md)")
    an.add_argument("--patient-id", default="", metavar="ID", help="pseudonymous patient ID for --fhir (no names)")
    an.add_argument("--slide-id", default="", metavar="ID", help="slide ID for --fhir")

    cl = sub.add_parser("classify", help="classify pre-cropped single-cell images (NIH crop format)")
    cl.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="cell image files and/or folders")
    cl.add_argument("--csv", type=Path, required=True, metavar="FILE", help="output CSV (image, probability, label)")
    common(cl)
    from malaria_desktop import calibrate_cli  # argparse only; the work is imported when it runs

    calibrate_cli.add_parser(sub)
    return parser


# ---------------------------------------------------------------- helpers


class ProgressBar:
    """A one-line text progress bar on stderr, redrawn at most ~10 times a second."""

    def __init__(self, stream: TextIO, enabled: bool, total: int, unit: str) -> None:
        self.stream, self.enabled, self.total, self.unit = stream, enabled, max(total, 1), unit
        self._last = 0.0

    def update(self, done: int, note: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        frac = min(max(done / self.total, 0.0), 1.0)
        filled = int(frac * 30)
        bar = "#" * filled + "." * (30 - filled)
        line = f"\r[{bar}] {frac * 100:5.1f}% {done}/{self.total} {self.unit} {note}"
        self.stream.write(line[:118].ljust(118))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _progress_enabled(args: argparse.Namespace) -> bool:
    return bool(args.progress) or sys.stderr.isatty()


def _load_classifier(model_dir: Path | None) -> "Classifier":
    from malaria_desktop.core.classification.classifier import Classifier
    from malaria_desktop.core.errors import ModelError

    try:
        return Classifier.load(model_dir)
    except ModelError as exc:
        raise UsageError(f"cannot load the model: {exc}") from exc


def _report_folder(out: Path, extra: frozenset[str] = frozenset()) -> "AtomicFolder":
    """The report folder, written as a unit; refused early when it is a file or holds other files."""
    if cluster_cli.is_s3(out):  # an s3:// prefix: published whole, manifest last (docs/cluster.md)
        return cluster_cli.report_folder(str(out), REPORT_FILES | extra)
    from malaria_desktop.core.atomic import AtomicFolder
    from malaria_desktop.core.errors import UnsafeTargetError
    from malaria_desktop.core.report.manifest import unlisted_files

    folder = AtomicFolder(out, allowed=REPORT_FILES | extra, foreign=unlisted_files)
    try:
        folder.check()
    except UnsafeTargetError as exc:
        raise UsageError(f"--out: {exc}") from exc
    parent = folder.target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder {out}: {exc.strerror or exc}") from exc
    if not os.access(parent, os.W_OK):
        raise UsageError(f"the folder {parent} that holds --out {out} is not writable")
    return folder


def _inputs(paths: Sequence[Path], problems: list[tuple[Path, str]] | None = None) -> list[Path]:
    from malaria_desktop.core.pipeline import expand_inputs

    problems = [] if problems is None else problems
    files = cluster_cli.inputs(paths, problems) if cluster_cli.wants_cluster(paths) else expand_inputs(paths, problems)
    for folder, reason in problems:
        print(f"warning: cannot read the folder {folder} ({reason}); its images are not included", file=sys.stderr)
    if not files:
        raise UsageError("no image files found in " + ", ".join(str(p) for p in paths))
    return files


def _fmt(value: float | None, digits: int, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}{suffix}"


# ---------------------------------------------------------------- commands


def cmd_analyze(args: argparse.Namespace) -> int:
    from malaria_desktop.core.report.counts import write_images_csv, write_slide_csv
    from malaria_desktop.core.report.manifest import write_manifest

    problems: list[tuple[Path, str]] = []
    files = _inputs(args.paths, problems)
    fhir = _fhir_output(args)
    folder = _report_folder(args.out, fhir.folder_names())
    classifier = _load_classifier(args.model)
    settings = _analyze_settings(args, classifier.threshold)
    with folder as stage:  # everything lands in a staging sibling, swapped in whole at the end
        summaries = _analyze_into(stage / "cells.csv", files, classifier, settings, args)
        summaries += [_unreadable_folder(path, reason) for path, reason in problems]
        slide = _summarise(summaries, settings, classifier)
        write_images_csv(stage / "images.csv", summaries)
        write_slide_csv(stage / "slide.csv", slide)
        fhir.write(slide, classifier, settings.threshold, stage)  # when it belongs in the folder
        write_manifest(stage, "analyze", inputs=len(files), settings=settings.to_dict())
    fhir.write(slide, classifier, settings.threshold)  # when it goes elsewhere

    failed = [s for s in summaries if s.status != "ok"]
    for s in failed:
        print(f"failed: {s.image}: {s.error}", file=sys.stderr)
    target = "reached" if slide.target_reached else "NOT reached"
    print(f"Analysed {slide.n_images} images: {slide.n_images_ok} ok, {slide.n_images_error} failed.")
    print(f"RBC counted: {slide.rbc_counted} (target {slide.target_cells} {target}); "
          f"parasitized: {slide.n_parasitized}; parasitemia: {_fmt(slide.parasitemia_pct, 3, ' %')}; "
          f"parasites/uL: {_fmt(slide.parasites_per_ul, 0)}")
    if slide.slide_result:
        print(f"Result: {_verdict(slide)}")
    if slide.flags:
        print("Flags: " + ", ".join(slide.flags))
    print("Reports: " + ", ".join(cluster_cli.join(args.out, n) for n in ("images.csv", "cells.csv", "slide.csv")))
    if fhir.written:
        print(f"FHIR Bundle: {fhir.written}")
    print(INTENDED_USE)
    if fhir.error:
        print(f"malaria-desktop analyze: error: --fhir {args.fhir}: {fhir.error} "
              f"The CSV reports in {args.out} were written.", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _fhir_output(args: argparse.Namespace) -> "FhirOutput":
    """Where ``--fhir`` goes (``interop.fhir_cli``); refused early only when it would replace a report file."""
    from malaria_desktop.interop.fhir_cli import FhirOutput

    fhir = FhirOutput(args.fhir, args.out, patient_id=args.patient_id, slide_id=args.slide_id)
    if fhir.inside_name in REPORT_FILES:
        raise UsageError(f"--fhir {args.fhir} would replace the report's own {fhir.inside_name}")
    return fhir


def _analyze_settings(args: argparse.Namespace, model_threshold: float) -> "ReportSettings":
    from malaria_desktop.core.settings import ReportSettings, SettingsError

    try:
        return ReportSettings(
            threshold=model_threshold if args.threshold is None else args.threshold, rbc_per_ul=args.rbc_per_ul,
            hyper_cutoff_pct=args.hyper_cutoff, target_cells=args.target_cells, min_cells=args.min_cells,
            count_edge_cells=not args.exclude_edge_cells)
    except SettingsError as exc:
        raise UsageError(str(exc)) from exc


def _analyze_into(cells_path: Path, files: list[Path], classifier: "Classifier", settings: "ReportSettings",
                  args: argparse.Namespace) -> list["ImageSummary"]:
    """Run the pipeline, streaming cells.csv; returns one summary per file."""
    from malaria_desktop.core.pipeline import analyze_images
    from malaria_desktop.core.report.counts import CELL_COLUMNS, AtomicCsvWriter, cell_rows, summarise_image
    from malaria_desktop.core.results import ImageResult, Progress

    bar = ProgressBar(sys.stderr, _progress_enabled(args), len(files), "images")
    summaries = []
    with AtomicCsvWriter(cells_path, CELL_COLUMNS) as cells_csv:
        events = (cluster_cli.events(files, classifier, settings.threshold, args) if cluster_cli.wants_cluster(
            files, args.engine) else analyze_images(files, classifier, threshold=settings.threshold,
                                                    batch_size=args.batch_size))
        for event in events:
            if isinstance(event, Progress):
                bar.update(event.image_index, f"{event.cells_counted} cells  {event.path.name}")
            elif isinstance(event, ImageResult):
                summaries.append(summarise_image(event, rbc_per_ul=settings.rbc_per_ul,
                                                 count_edge_cells=settings.count_edge_cells))
                cells_csv.writerows(cell_rows(event))
                bar.update(len(summaries), force=len(summaries) == len(files))
    bar.close()
    return summaries


def _unreadable_folder(path: Path, reason: str) -> "ImageSummary":
    from malaria_desktop.core.report.counts import ImageSummary

    return ImageSummary(str(path), "error", f"cannot read this folder ({reason}); its images were not analysed",
                        0, 0, None, None)


def _summarise(summaries: list["ImageSummary"], settings: "ReportSettings",
               classifier: "Classifier") -> "SlideSummary":
    """The slide's figures with the estimate, interval and verdict from the active model's error rates."""
    from malaria_desktop.core.report.counts import summarise_slide
    from malaria_desktop.core.report.estimate import rates_from_card

    return summarise_slide(summaries, **settings.summary_kwargs(), rates=rates_from_card(classifier.card.extra))


def _verdict(slide: "SlideSummary") -> str:
    from malaria_desktop.core.report.estimate import summary_verdict

    return summary_verdict(slide)


def cmd_classify(args: argparse.Namespace) -> int:
    from malaria_desktop.core.atomic import check_target
    from malaria_desktop.core.classification.crop_io import iter_crop_batches
    from malaria_desktop.core.errors import UnsafeTargetError
    from malaria_desktop.core.report.counts import write_csv_atomic

    files = _inputs(args.paths)
    if not args.csv.parent.is_dir():
        raise UsageError(f"the folder of --csv {args.csv} does not exist")
    try:
        check_target(args.csv)  # never replace a device node, FIFO or symlink with a regular file
    except UnsafeTargetError as exc:
        raise UsageError(f"--csv: {exc}") from exc
    classifier = _load_classifier(args.model)
    threshold = classifier.threshold if args.threshold is None else args.threshold
    bar = ProgressBar(sys.stderr, _progress_enabled(args), len(files), "cells")
    rows: list[list[object]] = []
    n_failed = 0
    for batch in iter_crop_batches(files, classifier.input_size, args.batch_size):
        probs: Sequence[float] | np.ndarray = (
            classifier.predict(batch.crops, batch_size=args.batch_size) if len(batch.crops) else [])
        ok = iter(probs)
        for path, error in zip(batch.paths, batch.errors, strict=True):
            if error:
                n_failed += 1
                rows.append([str(path), "", "", error])
            else:
                p = float(next(ok))
                rows.append([str(path), f"{p:.4f}", "parasitized" if p >= threshold else "uninfected", ""])
        bar.update(len(rows), force=len(rows) == len(files))
    bar.close()
    write_csv_atomic(args.csv, ("image", "probability", "label", "error"), rows)
    for row in rows:
        if row[3]:
            print(f"failed: {row[0]}: {row[3]}", file=sys.stderr)
    n_par = sum(1 for r in rows if r[2] == "parasitized")
    print(f"Classified {len(rows) - n_failed} cell images ({n_par} parasitized), {n_failed} failed -> {args.csv}")
    return EXIT_SOME_FAILED if n_failed else EXIT_OK


def cmd_gui(args: argparse.Namespace) -> int:
    try:
        from malaria_desktop.qt.app import run_gui
    except ImportError as exc:
        print(f"malaria-desktop: the desktop window is not available ({exc}). "
              "Use 'malaria-desktop analyze PATH --out DIR' instead.", file=sys.stderr)
        return EXIT_USAGE
    return int(run_gui(files=list(args.files), model_dir=args.model, screenshot=args.screenshot,
                       quit_after=args.quit_after) or 0)


# ---------------------------------------------------------------- entry point


def _normalise_argv(argv: list[str]) -> list[str]:
    """No arguments opens the window; ``malaria-desktop a.png b/`` (existing paths) opens them in it."""
    if not argv:
        return ["gui"]
    first = argv[0]
    if first not in COMMANDS and not first.startswith("-") and Path(first).exists():
        return ["gui", *argv]
    return argv


def _safe_streams() -> None:
    """Never die on printing a file name the console cannot encode."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code instead of calling ``sys.exit`` (tests call it directly)."""
    _safe_streams()
    args_list = _normalise_argv(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # --help, --version, or an argparse usage error (already printed)
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    from malaria_desktop.calibrate_cli import run as cmd_calibrate
    from malaria_desktop.core.errors import MalariaDesktopError

    handlers = {"gui": cmd_gui, "analyze": cmd_analyze, "classify": cmd_classify, "calibrate": cmd_calibrate}
    try:
        return handlers[args.command](args)
    except (UsageError, cluster_cli.ClusterUsageError) as exc:
        print(f"malaria-desktop {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted; no report was written or replaced", file=sys.stderr)
        return 130
    except (OSError, ValueError, MalariaDesktopError) as exc:  # e.g. disk full: the old report is untouched
        print(f"malaria-desktop {args.command}: error: {exc}; no report was written or replaced", file=sys.stderr)
        return EXIT_SOME_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
