"""``malaria-desktop calibrate REVIEWED... --out DIR``: a lab's own model from its reviewed cells.

``calibrate FIELDS... --annotations FILE.json [--unmatched not-a-cell|ignore] [--label-map NAME=CLASS]``:
the same from annotated fields (COCO JSON; ``core.calibration.annotations``), segmented by the app's engine.

Kept apart from ``cli.py`` (which only registers it) so the command's options, messages and exit codes
live in one place. Exit codes: 0 a calibrated model was written; 1 cross-validation did not find it
better than the base model, nothing written (``--force`` writes it anyway); 2 the inputs cannot support a
calibration (missing or unreadable inputs, too few cells, one class only, a broken base model);
130 interrupted (nothing written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_NOT_BETTER, EXIT_REFUSED = 0, 1, 2


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "calibrate", help="fine-tune the model on this lab's reviewed cells (writes a new model folder)",
        description="Fine-tune the model on reviewed cells (exported folders with Parasitized/ and Uninfected/, "
                    "or saved .mdsession files), judged by cross-validation against the base model.")
    p.add_argument("reviewed", nargs="+", type=Path, metavar="REVIEWED",
                   help="exported crop folders and/or .mdsession files with reviewed cells; with --annotations: "
                        "the annotated field images (files or folders)")
    p.add_argument("--annotations", type=Path, metavar="FILE.json",
                   help="COCO JSON boxes of the fields (CVAT, Label Studio...): matched to the cells the app outlines")
    p.add_argument("--unmatched", choices=("not-a-cell", "ignore"), default="not-a-cell",
                   help="with --annotations: regions the app outlines that no box matches are not a cell "
                        "(every red cell boxed) or left out (default not-a-cell)")
    p.add_argument("--label-map", action="append", default=[], metavar="NAME=CLASS",
                   help="with --annotations: a category name as parasitized, uninfected or not-a-cell "
                        "(repeatable or comma-separated)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="new folder for the calibrated model")
    p.add_argument("--model", type=Path, metavar="DIR", help="base model folder (default: the bundled model)")
    p.add_argument("--force", action="store_true",
                   help="write the model even when cross-validation does not find it better than the base model")
    p.add_argument("--min-sensitivity", type=float, default=0.92, metavar="S",
                   help="sensitivity floor: the threshold with the smallest held-out count error among those with "
                        "cross-validated sensitivity >= S (default 0.92)")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    return p


def _row(name: str, f) -> str:
    return f"  {name:<34} {f.threshold:9.3f} {f.sensitivity:12.3f} {f.specificity:12.3f} {f.auc:7.3f}"


def _print_figures(result) -> None:
    print(f"Cross-validated on the reviewed cells:\n  {'':<34} {'threshold':>9} {'sensitivity':>12} "
          f"{'specificity':>12} {'AUC':>7}")
    print(_row("base model (its own threshold)", result.base))
    print(_row("base model (threshold re-chosen)", result.base_rethresholded))
    print(_row("calibrated (out-of-fold)", result.calibrated))
    if result.counts:
        print("Parasitemia of each held-out fold (% of the regions the app counts; truth: reviewed red cells):")
        print(f"  {'fold':>4} {'regions':>8} {'truth':>8} {'base':>8} {'calibrated':>11}")
        for c in result.counts:
            print(f"  {c.fold:>4} {c.regions:>8} {c.truth_pct:>7.2f}% {c.base_pct:>7.2f}% {c.calibrated_pct:>10.2f}%")
        base_err, cal_err = result.count_errors
        print(f"  mean count error: base {base_err:.2f}, calibrated {cal_err:.2f} percentage points")
    note = result.card.get("calibration", {}).get("cross_validation", {}).get("count", {}).get("note")
    if note:
        print(f"Warning: {note}.")


def _read_cells(args: argparse.Namespace, size: int, err):
    """The reviewed cells: exported folders / sessions, or annotated fields with --annotations."""
    from malaria_desktop.core import calibration as cal

    if args.annotations is None:
        print(f"Reading reviewed cells from {len(args.reviewed)} input(s)...", file=err)
        return cal.load_reviewed(args.reviewed, size)
    from malaria_desktop.core.calibration.annotations import annotated_cells, parse_label_map

    print(f"Segmenting {len(args.reviewed)} input(s) and matching the boxes of {args.annotations.name}...", file=err)
    found = annotated_cells(args.reviewed, args.annotations, size, unmatched=args.unmatched,
                            label_map=parse_label_map(args.label_map))
    print(f"{found.boxes_matched} of {found.boxes} boxes matched a cell the app outlines; {found.regions_unmatched} "
          f"region(s) without a box ({'not a cell' if args.unmatched == 'not-a-cell' else 'left out'}).", file=err)
    return found.cells


def run(args: argparse.Namespace) -> int:
    from malaria_desktop.core import calibration as cal
    from malaria_desktop.core.classification import load_model_card
    from malaria_desktop.core.errors import AnalysisCancelled, MalariaDesktopError
    from malaria_desktop.paths import default_model_dir

    err = sys.stderr
    if not 0.5 <= args.min_sensitivity < 1:
        print("malaria-desktop calibrate: error: --min-sensitivity must be in [0.5, 1).", file=err)
        return EXIT_REFUSED
    base_dir = args.model or default_model_dir()
    try:
        card = load_model_card(base_dir)
        if args.annotations is None and args.label_map:
            raise cal.CalibrationInputError("--label-map and --unmatched need --annotations.")
        cells = _read_cells(args, card.input_size, err)
        for note in cells.skipped[:10]:
            print(f"  skipped: {note}", file=err)
        print(f"{len(cells)} reviewed cells ({cells.n_parasitized} parasitized) from {len(set(cells.fields))} "
              f"field(s) of {len(set(cells.slides))} slide(s).", file=err)
        options = cal.CalibrationOptions(force=args.force, min_sensitivity=args.min_sensitivity)
        show = bool(args.progress) or err.isatty()
        gen = cal.calibrate(cells, Path(base_dir), options)
        try:
            while True:
                ev = next(gen)
                if show:
                    err.write(f"\r{100 * ev.step / max(ev.total, 1):5.1f}% {ev.message}"[:100].ljust(100))
                    err.flush()
        except StopIteration as stop:
            result = stop.value
        finally:
            if show:
                err.write("\n")
    except AnalysisCancelled as exc:
        print(str(exc), file=err)
        return 130
    except cal.CalibrationRefused as exc:
        print(f"malaria-desktop calibrate: not calibrated: {exc}", file=err)
        return EXIT_REFUSED
    except MalariaDesktopError as exc:
        print(f"malaria-desktop calibrate: error: {exc}", file=err)
        return EXIT_REFUSED
    _print_figures(result)
    if not result.better and not args.force:
        print("The calibrated model is not better than the base model on these cells; nothing was written. "
              "Review more cells, or pass --force to write it anyway.")
        return EXIT_NOT_BETTER
    try:
        out = cal.write_model(result, args.out)
    except (MalariaDesktopError, OSError) as exc:
        print(f"malaria-desktop calibrate: error: {exc}", file=err)
        return EXIT_REFUSED
    note = "" if result.better else " (NOT better than the base model: written because of --force)"
    print(f"Wrote {out} in {result.seconds:.0f} s{note}. Use it with --model {out}, or File > Load Model in the app.")
    return EXIT_OK
