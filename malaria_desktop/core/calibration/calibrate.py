"""Calibrate to this lab: fine-tune the model on the technician's reviewed cells, judged by cross-validation.

Why: no model trained in one lab is right in every lab, and every reviewed slide is a set of cells
labelled in this lab's own stain and microscope. ``calibrate`` turns them into a model folder like the
bundled one (``model.onnx`` + ``model_card.json``), offline, with the app's own ONNX Runtime.

How (docs/calibration.md):
1. the base model's probabilities on the reviewed cells (its figures at its own card threshold);
2. grouped k-fold cross-validation (cells of one slide, or of one field when there are too few slides,
   stay together): fine-tune on k-1 folds, predict the held-out fold; the out-of-fold probabilities give
   the calibrated figures and the threshold (best specificity at ``min_sensitivity``);
3. if the calibrated figures are not better than the base model's it refuses (unless ``force``);
4. fine-tune once more on every reviewed cell and return the model + card (``write_model`` saves them).

``calibrate`` is a generator of ``CalibrationProgress`` (each yield a cancel point) that returns a
``CalibrationResult``; refusals raise ``CalibrationRefused`` with a message for the technician.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx

from malaria_desktop.core.atomic import AtomicFolder, write_bytes, write_text
from malaria_desktop.core.calibration.data import ReviewedCells, SessionCells, load_reviewed
from malaria_desktop.core.calibration.judge import FoldCount, card_parts, count_error, count_threshold, fold_counts
from malaria_desktop.core.calibration.train import Figures, FitOptions, Trainer, choose_threshold, figures_at
from malaria_desktop.core.classification.model_card import CARD_FILE, CROP_FUNCTION, load_model_card, parse_model_card
from malaria_desktop.core.digest import sha256_of_file
from malaria_desktop.core.errors import AnalysisCancelled, MalariaDesktopError, UnsafeTargetError

REPLAY_FILE = "replay.npz"  # optional, beside a base model: crops + labels of its training data (never shipped)
METHOD = ("fine-tuning of every layer on the reviewed cells (8 rotations/mirrors), Adam with an L2 pull "
          "towards the base weights (L2-SP) and targets softened towards the base model's outputs "
          "(learning without forgetting); gradients computed by ONNX Runtime; threshold chosen on "
          "grouped cross-validation")


class CalibrationRefused(MalariaDesktopError):
    """The reviewed cells cannot support a calibration, or it would not beat the base model."""


@dataclass(frozen=True)
class CalibrationOptions:
    fit: FitOptions = FitOptions()
    folds: int = 3
    min_sensitivity: float = 0.92  # the operating point is sensitivity 0.90; 2 points of margin
    min_cells: int = 100
    min_parasitized: int = 20
    min_uninfected: int = 20
    force: bool = False  # keep a model that cross-validation does not find better
    threads: int | None = None


@dataclass(frozen=True)
class CalibrationProgress:
    stage: Literal["reading", "base", "fold", "final", "done"]
    step: int
    total: int
    message: str


@dataclass
class CalibrationResult:
    base: Figures  # base model at its card threshold, on every reviewed cell
    base_rethresholded: Figures  # base model with a threshold chosen like the calibrated one's
    calibrated: Figures  # out-of-fold figures of the fine-tuned models at the chosen threshold
    better: bool
    model: onnx.ModelProto | None = field(repr=False, default=None)
    card: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    counts: list[FoldCount] = field(default_factory=list)  # per held-out fold: truth, base and calibrated count
    count_errors: tuple[float, float] = (float("nan"), float("nan"))  # base, calibrated (percentage points)
    probs: np.ndarray | None = field(repr=False, default=None)  # out-of-fold P(parasitized) of every cell


def load_replay(base_dir: Path, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``replay.npz`` beside the base model (``crops`` uint8 (N, S, S, 3), ``labels`` (N,)), if present.

    Written by ``python -m training.replay`` for a lab that has the base model's training data; it is
    never committed or bundled, so a clinic without it calibrates with the L2 pull and soft targets alone.
    """
    path = Path(base_dir) / REPLAY_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            crops, labels = data["crops"], data["labels"].astype(np.float32)
    except (OSError, KeyError, ValueError) as exc:
        raise CalibrationRefused(f"{REPLAY_FILE} beside the base model cannot be read ({exc}); remove it.") from exc
    if crops.dtype != np.uint8 or crops.shape[1:] != (size, size, 3) or len(crops) != len(labels) or not len(crops):
        raise CalibrationRefused(f"{REPLAY_FILE} beside the base model holds {crops.shape} {crops.dtype} crops; "
                                 f"the model needs uint8 crops of {size}x{size}x3. Recreate or remove it.")
    return crops, labels


def _check_data(cells: ReviewedCells, options: CalibrationOptions) -> None:
    n, pos = len(cells), cells.n_parasitized
    neg = n - pos
    if pos == 0 or neg == 0:
        only = "uninfected" if pos == 0 else "parasitized"
        raise CalibrationRefused(f"All {n} reviewed cells are {only}: calibration needs reviewed cells of both kinds.")
    if n < options.min_cells:
        raise CalibrationRefused(f"Only {n} reviewed cells; calibration needs at least {options.min_cells}. "
                                 "Review more fields and try again.")
    if pos < options.min_parasitized or neg < options.min_uninfected:
        raise CalibrationRefused(
            f"{pos} parasitized and {neg} uninfected reviewed cells; calibration needs at least "
            f"{options.min_parasitized} parasitized and {options.min_uninfected} uninfected. Review more "
            "positive slides (confirm or correct parasitized cells) and try again.")


def group_folds(cells: ReviewedCells, k: int) -> tuple[np.ndarray, str]:
    """Fold number per cell, whole slides per fold (or whole fields when there are fewer than k slides).

    Groups are dealt largest first to the fold with the fewest parasitized, then fewest cells, so every
    fold has positives when the data allow it.
    """
    for level, names in (("slide", cells.slides), ("field", cells.fields)):  # noqa: B007 - returned below
        groups = sorted(set(names))
        if len(groups) >= k:
            break
    else:
        raise CalibrationRefused(
            f"The reviewed cells come from only {len(set(cells.fields))} field(s); cross-validation needs at "
            f"least {k}. Review cells on more fields.")
    index = {g: i for i, g in enumerate(groups)}
    gid = np.array([index[g] for g in names])
    size = np.bincount(gid, minlength=len(groups))
    positives = np.bincount(gid, weights=cells.labels, minlength=len(groups))
    fold_of_group = np.zeros(len(groups), np.int64)
    fold_pos, fold_n = np.zeros(k), np.zeros(k)
    for g in sorted(range(len(groups)), key=lambda g: (-positives[g], -size[g], groups[g])):
        f = int(np.lexsort((fold_n, fold_pos))[0])
        fold_of_group[g] = f
        fold_pos[f] += positives[g]
        fold_n[f] += size[g]
    return fold_of_group[gid], level


def calibrate(
    cells: ReviewedCells,
    base_dir: Path,
    options: CalibrationOptions = CalibrationOptions(),
    should_cancel: Callable[[], bool] = lambda: False,
) -> Generator[CalibrationProgress, None, CalibrationResult]:
    """Yield progress; return the result (``model`` None when refused with ``force`` off)."""
    started = time.monotonic()
    card = load_model_card(base_dir)
    if card.output_kind != "sigmoid":
        raise CalibrationRefused("Only models with a sigmoid output can be calibrated.")
    _check_data(cells, options)
    folds, level = group_folds(cells, options.folds)
    base_path = Path(base_dir) / card.onnx_file
    base = onnx.load(str(base_path))
    trainer = Trainer(base, card.scale, options.threads)
    labels = cells.labels

    total_steps = options.folds + 1  # progress is counted in thousandths of one fine-tuning run
    yield CalibrationProgress("base", 0, total_steps * 1000, "Base model on the reviewed cells")
    base_probs = trainer.predict(base, cells.crops)
    replay = load_replay(Path(base_dir), card.input_size)
    if replay is not None:  # soft targets on the base model's own data: its behaviour there is kept
        replay = (replay[0], ((1 - options.fit.distill) * replay[1]
                              + options.fit.distill * trainer.predict(base, replay[0])).astype(np.float32))
    oof = np.zeros(len(labels), np.float32)
    for k in range(options.folds):
        train, test = folds != k, folds == k
        msg = f"Cross-validation {k + 1}/{options.folds}: training on {int(train.sum())} cells"
        net = yield from _fit(trainer, cells.crops[train], labels[train], base_probs[train], options, should_cancel,
                              "fold", k, total_steps, msg, replay)
        oof[test] = trainer.predict(net.to_onnx(), cells.crops[test])

    result, threshold = _judge(base_probs, oof, cells, folds, card.threshold, options)
    if not result.better and not options.force:
        result.seconds = time.monotonic() - started
        return result
    net = yield from _fit(trainer, cells.crops, labels, base_probs, options, should_cancel, "final",
                          options.folds, total_steps, f"Final model on all {len(labels)} reviewed cells", replay)
    result.model = net.to_onnx()
    result.seconds = time.monotonic() - started
    result.card = _card(card, base_path, cells, options, result, level, threshold)
    result.card["calibration"]["replay"] = {"file": REPLAY_FILE,
                                            "cells": len(replay[1])} if replay is not None else None
    yield CalibrationProgress("done", total_steps * 1000, total_steps * 1000, "Calibration finished")
    return result


def _judge(base_probs: np.ndarray, oof: np.ndarray, cells: ReviewedCells, folds: np.ndarray, base_threshold: float,
           options: CalibrationOptions) -> tuple[CalibrationResult, float]:
    """Judged by the count (``judge``): the threshold for the count with the sensitivity floor; better =
    a smaller mean count error over the held-out folds without losing sensitivity."""
    labels, red = cells.labels, cells.red_cells
    threshold = count_threshold(oof, labels, folds, red, options.min_sensitivity)
    base_fig = figures_at(base_probs, labels, base_threshold)
    base_re = figures_at(base_probs, labels, choose_threshold(base_probs, labels, options.min_sensitivity))
    cal_fig = figures_at(oof, labels, threshold)
    errors = (count_error(base_probs, labels, folds, red, base_threshold),
              count_error(oof, labels, folds, red, threshold))
    floor = min(base_fig.sensitivity, options.min_sensitivity) - 1e-9
    better = errors[1] < errors[0] and cal_fig.sensitivity >= floor
    counts = fold_counts(base_probs, base_threshold, oof, threshold, labels, folds, red)
    result = CalibrationResult(base_fig, base_re, cal_fig, better, counts=counts, count_errors=errors, probs=oof)
    return result, threshold


def _fit(trainer: Trainer, crops, labels, base_probs, options: CalibrationOptions, should_cancel, stage, k, total,
         message, replay=None):
    """One fine-tuning run relayed as progress; raises AnalysisCancelled when stopped."""
    fit = trainer.fit(crops, labels, base_probs, options.fit, should_cancel, replay)
    try:
        while True:
            step, steps = next(fit)
            yield CalibrationProgress(stage, k * 1000 + step * 1000 // steps, total * 1000, message)
    except StopIteration as stop:
        if stop.value is None:
            raise AnalysisCancelled("Calibration cancelled; nothing was written.") from None
        return stop.value


def _card(base_card, base_path: Path, cells: ReviewedCells, options: CalibrationOptions, result: CalibrationResult,
          level: str, threshold: float) -> dict[str, Any]:
    # figures and reference statistics measured on the base model do not describe the calibrated one
    dropped = ("metrics", "tradeoff", "calibration", "reference", "response_limit",
               "validation_healthy_called_parasitized")
    data = {k: v for k, v in copy.deepcopy(base_card.extra).items() if k not in dropped}
    now = datetime.now(timezone.utc)
    data.update({
        "format_version": 1, "name": f"{base_card.name}-calibrated-{now:%Y%m%d-%H%M}",
        "architecture": base_card.architecture, "input_size": base_card.input_size,
        "preprocessing": {"crop": CROP_FUNCTION, "scale": base_card.scale,
                          "channel_order": "RGB", "layout": "NHWC", "dtype": "float32"},
        "output": {"kind": "sigmoid"}, "class_names": list(base_card.class_names), "threshold": threshold,
        "onnx_file": "model.onnx",
        "threshold_rule": f"smallest count error (held-out folds' parasitemia vs the reviewed truth) with "
                          f"sensitivity >= {options.min_sensitivity} on out-of-fold predictions of the reviewed "
                          "cells (grouped cross-validation)",
    })
    assert result.probs is not None
    top, count = card_parts(base_card.extra.get("reference"), cells.crops, cells.labels, cells.fields, result.probs,
                            threshold, result.counts, result.count_errors)
    data.update(top)  # the lab's own uncertain band, reference entry and error rates
    data["calibration"] = {
        "base_model": {"name": base_card.name, "onnx_file": base_path.name, "onnx_sha256": sha256_of_file(base_path),
                       "threshold": base_card.threshold},
        "reviewed": {"cells": len(cells), "parasitized": cells.n_parasitized,
                     "uninfected": len(cells) - cells.n_parasitized, "fields": len(set(cells.fields)),
                     "slides": len(set(cells.slides)), "sources": list(cells.sources),
                     "skipped": len(cells.skipped)},
        "method": METHOD,
        "options": {"epochs": options.fit.epochs, "min_steps": options.fit.min_steps,
                    "batch_size": options.fit.batch_size, "learning_rate": options.fit.learning_rate,
                    "l2_pull": options.fit.pull, "distill": options.fit.distill, "seed": options.fit.seed,
                    "min_sensitivity": options.min_sensitivity},
        "cross_validation": {"folds": options.folds, "grouped_by": level,
                             "base_at_card_threshold": result.base.as_dict(),
                             "base_rethresholded": result.base_rethresholded.as_dict(),
                             "calibrated": result.calibrated.as_dict(), "count": count,
                             "note": "out-of-fold figures; the threshold is chosen on the same predictions, for "
                                     "the base and the calibrated model alike"},
        "better_than_base": result.better, "forced": bool(options.force and not result.better),
        "date": now.isoformat(timespec="seconds"), "seconds": round(result.seconds, 1),
        "runtime": f"onnxruntime {_ort_version()}, numpy {np.__version__}",
    }
    parse_model_card(data)  # the card must load like any other
    return data


def _ort_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)


def write_model(result: CalibrationResult, out_dir: Path) -> Path:
    """Write ``model.onnx`` + ``model_card.json`` into ``out_dir`` (new or an earlier model folder).

    Written into a staging sibling and swapped in as a whole (``core.atomic.AtomicFolder``: one atomic
    exchange on Linux, two renames elsewhere with the previous folder restored after a kill). The old way
    (delete the folder, then rename the new one in) lost the model folder once and left it half-deleted 4
    times in 32 kills (issue 24).
    """
    import json

    if result.model is None:
        raise CalibrationRefused("There is no calibrated model to write.")
    out_dir = Path(out_dir)
    if out_dir.exists():
        if out_dir.is_symlink() or not out_dir.is_dir():
            raise UnsafeTargetError(f"'{out_dir}' exists and is not a folder; choose another --out.")
        others = [p.name for p in out_dir.iterdir() if p.name not in ("model.onnx", CARD_FILE)]
        if others:
            raise UnsafeTargetError(f"'{out_dir}' holds other files ({', '.join(sorted(others)[:3])}); "
                                    "choose a new or empty folder for the calibrated model.")
    with AtomicFolder(out_dir, allowed=frozenset({"model.onnx", CARD_FILE})) as stage:
        write_bytes(stage / "model.onnx", result.model.SerializeToString())  # fsynced, unlike onnx.save
        write_text(stage / CARD_FILE, json.dumps(result.card, indent=2))
        load_model_card(stage)
    return out_dir


@dataclass
class CalibrationOutcome:
    """What ``calibration_job`` did: the figures, and the model folder it wrote (None: nothing written)."""

    result: CalibrationResult
    cells: ReviewedCells
    written: Path | None


def calibration_job(
    inputs: list[Path], base_dir: Path, out_dir: Path, options: CalibrationOptions = CalibrationOptions(),
    sessions: tuple[SessionCells, ...] = (), should_cancel: Callable[[], bool] = lambda: False,
) -> Generator[CalibrationProgress, None, CalibrationOutcome]:
    """Read the reviewed cells, calibrate, and write the model folder when it is better (or forced)."""
    card = load_model_card(base_dir)
    yield CalibrationProgress("reading", 0, 1, "Reading the reviewed cells")
    cells = load_reviewed(inputs, card.input_size, sessions=sessions)
    if should_cancel():
        raise AnalysisCancelled("Calibration cancelled; nothing was written.")
    result = yield from calibrate(cells, base_dir, options, should_cancel)
    written = write_model(result, out_dir) if result.model is not None else None
    return CalibrationOutcome(result, cells, written)
