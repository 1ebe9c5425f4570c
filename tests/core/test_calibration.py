"""Calibration: gradients, folds, thresholds, refusals, and a foreign-lab proxy that calibration recovers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from malaria_desktop.core.calibration.calibrate import (
    CalibrationOptions,
    CalibrationRefused,
    calibrate,
    group_folds,
    write_model,
)
from malaria_desktop.core.calibration.data import ReviewedCells
from malaria_desktop.core.calibration.graph import gradient_model
from malaria_desktop.core.calibration.net import Net, UnsupportedModel
from malaria_desktop.core.calibration.train import FitOptions, Trainer, auc, choose_threshold, figures_at, ort_session
from malaria_desktop.core.classification.classifier import Classifier
from malaria_desktop.core.digest import sha256_of_file as file_sha256
from malaria_desktop.core.errors import AnalysisCancelled, UnsafeTargetError
from tests.helpers.calibration_cells import foreign, pretrained_base, synthetic_cells, tiny_vgg_model


def run(gen):
    events = []
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        return stop.value, events


@pytest.fixture(scope="module")
def home() -> tuple[np.ndarray, np.ndarray, list[str]]:
    return synthetic_cells(range(20))


@pytest.fixture(scope="module")
def base_dir(home, tmp_path_factory: pytest.TempPathFactory) -> Path:
    crops, labels, _ = home
    return pretrained_base(tmp_path_factory.mktemp("base"), crops, labels)


@pytest.fixture(scope="module")
def lab_cells() -> ReviewedCells:
    """Reviewed cells of the foreign lab: 10 fields, cells of one field share a slide name per 2 fields."""
    crops, labels, fields = synthetic_cells(range(200, 210))
    slides = tuple(f"slide{int(f[5:]) // 2}" for f in fields)
    return ReviewedCells(foreign(crops, seed=3), labels, tuple(fields), slides, ("lab",))


def test_gradients_from_onnx_runtime_match_the_numpy_reference() -> None:
    net = Net(tiny_vgg_model(seed=1))
    rng = np.random.default_rng(0)
    x = rng.random((6, 32, 32, 3), dtype=np.float32)
    target = np.array([0, 1, 0.2, 1, 0, 0.7], np.float32)
    weight = np.full(6, 1 / 6, np.float32)
    session = ort_session(gradient_model(net))
    names = [f"grad:{n}" for n in net.trainable]
    outs = session.run(["logit", *names], {"input": x, "target": target, "weight": weight,
                                           **{n: net.params[n] for n in net.trainable}})
    logit, caches = net.forward(x, keep=True)
    np.testing.assert_allclose(outs[0], logit, rtol=1e-4, atol=1e-5)
    reference = net.backward(weight * (1 / (1 + np.exp(-logit)) - target), caches)
    for name, got in zip(net.trainable, outs[1:], strict=False):
        np.testing.assert_allclose(got, reference[name], rtol=1e-3, atol=1e-6, err_msg=name)
    # and the NumPy reference agrees with finite differences along random directions (float64 weights;
    # a small step, because ReLU and max-pool kinks make larger steps disagree)
    for n in net.params:
        net.params[n] = net.params[n].astype(np.float64)

    def loss() -> float:
        z = net.forward(x)[0].astype(np.float64)
        return float(np.sum(weight * (np.logaddexp(0, z) - target * z)))

    for name in ("block1_conv1_W", "block2_conv1_W", "head_dense_W"):
        w, d, eps = net.params[name], rng.standard_normal(net.params[name].shape), 1e-5
        w += eps * d
        up = loss()
        w -= 2 * eps * d
        down = loss()
        w += eps * d
        assert float((reference[name] * d).sum()) == pytest.approx((up - down) / (2 * eps), rel=0.1), name


def test_a_graph_the_trainer_cannot_differentiate_is_refused(tiny_model_dir: Path) -> None:
    with pytest.raises(UnsupportedModel, match="not supported|chain"):
        Net(onnx.load(str(tiny_model_dir / "model.onnx")))


def test_calibrated_model_round_trips_through_onnx() -> None:
    model = tiny_vgg_model(seed=2)
    net = Net(model)
    x = np.random.default_rng(1).random((4, 32, 32, 3), dtype=np.float32)
    trainer = Trainer(model, 1.0)
    np.testing.assert_allclose(trainer.predict(net.to_onnx(), x), trainer.predict(model, x), rtol=1e-6)


def test_auc_threshold_and_figures() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    probs = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])
    assert auc(probs, labels) == pytest.approx(15 / 16)
    t = choose_threshold(probs, labels, 1.0)
    assert 0.3 < t < 0.4  # the lowest positive is kept, halfway to the next lower cell
    f = figures_at(probs, labels, t)
    assert (f.sensitivity, f.specificity) == (1.0, 0.75)
    assert 0.6 < choose_threshold(probs, labels, 0.75) < 0.7


def test_folds_keep_slides_together_and_fall_back_to_fields(lab_cells: ReviewedCells) -> None:
    folds, level = group_folds(lab_cells, 3)
    assert level == "slide"
    for slide in set(lab_cells.slides):
        assert len(set(folds[np.array(lab_cells.slides) == slide])) == 1
    assert all(lab_cells.labels[folds == k].sum() > 0 for k in range(3))
    one_slide = ReviewedCells(lab_cells.crops, lab_cells.labels, lab_cells.fields, ("s",) * len(lab_cells), ())
    folds, level = group_folds(one_slide, 3)
    assert level == "field"
    for field in set(lab_cells.fields):
        assert len(set(folds[np.array(lab_cells.fields) == field])) == 1


@pytest.mark.slow  # trains a calibration: in `make test`, not in `make test-fast`
@pytest.mark.parametrize("case, match", [
    ("one_class", "All .* uninfected"), ("few_cells", "at least 100"), ("few_parasitized", "parasitized and"),
    ("one_field", "only 1 field")])
def test_data_that_cannot_support_a_calibration_is_refused(lab_cells: ReviewedCells, base_dir: Path, case: str,
                                                           match: str) -> None:
    c = lab_cells
    if case == "one_class":
        keep = c.labels == 0
    elif case == "few_cells":
        keep = np.arange(len(c)) < 60
    elif case == "few_parasitized":
        keep = (c.labels == 0) | (np.cumsum(c.labels) <= 5)
    else:
        keep = np.ones(len(c), bool)
    cells = ReviewedCells(c.crops[keep], c.labels[keep], c.fields if case != "one_field" else ("f",) * len(c),
                          c.slides if case != "one_field" else ("s",) * len(c), ())
    if case != "one_field":
        cells = ReviewedCells(cells.crops, cells.labels, tuple(np.array(c.fields)[keep]),
                              tuple(np.array(c.slides)[keep]), ())
    with pytest.raises(CalibrationRefused, match=match):
        run(calibrate(cells, base_dir))


@pytest.mark.slow
def test_foreign_lab_drop_is_recovered_by_calibration(base_dir: Path, lab_cells: ReviewedCells, tmp_path: Path) -> None:
    """The base model loses accuracy in the foreign lab's colours; calibrating on that lab's reviewed cells
    of OTHER fields brings it back, and the model still reads the home lab."""
    test_x, test_y, _ = synthetic_cells(range(100, 106))
    test_lab = foreign(test_x, seed=5)
    base = Classifier.load(base_dir)
    home_auc = auc(base.predict(test_x), test_y)
    base_lab = figures_at(base.predict(test_lab), test_y, base.threshold)
    assert home_auc > 0.97 and base_lab.auc < home_auc - 0.04  # the known drop

    result, events = run(calibrate(lab_cells, base_dir))
    assert result.better and result.calibrated.auc > result.base.auc
    assert {e.stage for e in events} >= {"base", "fold", "final", "done"}
    assert [e.step for e in events] == sorted(e.step for e in events)
    out = write_model(result, tmp_path / "site")
    site = Classifier.load(out)
    after = figures_at(site.predict(test_lab), test_y, site.threshold)
    assert after.auc > base_lab.auc + 0.04 and after.auc > home_auc - 0.02
    assert after.balanced_accuracy > base_lab.balanced_accuracy + 0.1
    assert auc(site.predict(test_x), test_y) > home_auc - 0.03  # the home lab is not forgotten

    card = json.loads((out / "model_card.json").read_text())
    cal = card["calibration"]
    assert cal["base_model"]["onnx_sha256"] == file_sha256(base_dir / "model.onnx")
    assert cal["reviewed"] == {"cells": len(lab_cells), "parasitized": lab_cells.n_parasitized,
                               "uninfected": len(lab_cells) - lab_cells.n_parasitized, "fields": 10, "slides": 5,
                               "sources": ["lab"], "skipped": 0}
    cv = cal["cross_validation"]
    assert cv["grouped_by"] == "slide" and cv["calibrated"]["auc"] > cv["base_at_card_threshold"]["auc"]
    assert card["threshold"] == pytest.approx(cv["calibrated"]["threshold"])
    assert "metrics" not in card and cal["date"] and cal["method"]
    assert str(tmp_path) not in json.dumps(card) and str(base_dir) not in json.dumps(card)
    # judged by the count: each held-out fold's parasitemia against the truth, calibrated closer than base
    count = cv["count"]
    assert len(count["folds"]) == 3 and count["reliable"] is False and "unreliable" in count["note"]  # < 500 cells
    assert count["calibrated_error_pct_points"] < count["base_error_pct_points"]
    truth = {f["fold"]: f["truth_pct"] for f in count["folds"]}
    assert all(0 < t < 100 for t in truth.values())
    # the card reads like any other: its own band, its lab in the reference, its error rates
    band = card["uncertain_band"]
    assert band["low"] < card["threshold"] < band["high"]
    assert "this lab (calibration)" in card["reference"]["labs"]
    assert site.card.reference.labs and site.card.uncertain is not None
    rates = card["error_rates"]
    assert rates["tp"] + rates["fn"] == lab_cells.n_parasitized
    assert rates["fp"] + rates["tn"] == len(lab_cells) - lab_cells.n_parasitized


@pytest.mark.slow
def test_calibration_is_deterministic(base_dir: Path, lab_cells: ReviewedCells) -> None:
    trainer = Trainer(onnx.load(str(base_dir / "model.onnx")), 1 / 255)
    base = np.zeros(len(lab_cells), np.float32)
    options = FitOptions(min_steps=20, epochs=1)
    nets = [run(trainer.fit(lab_cells.crops, lab_cells.labels, base, options))[0] for _ in range(2)]
    assert nets[0].to_onnx().SerializeToString() == nets[1].to_onnx().SerializeToString()
    other = run(trainer.fit(lab_cells.crops, lab_cells.labels, base, FitOptions(min_steps=20, epochs=1, seed=1)))[0]
    assert other.to_onnx().SerializeToString() != nets[0].to_onnx().SerializeToString()


def test_not_better_writes_nothing_unless_forced(base_dir: Path, home, tmp_path: Path) -> None:
    """On the home lab's own cells the base model is already right: calibration must not claim a gain."""
    crops, labels, fields = home
    cells = ReviewedCells(crops, labels, tuple(fields), tuple(fields), ("home",))
    options = CalibrationOptions(fit=FitOptions(min_steps=10, epochs=1))
    result, _ = run(calibrate(cells, base_dir, options))
    assert not result.better and result.model is None
    forced, _ = run(calibrate(cells, base_dir, CalibrationOptions(fit=options.fit, force=True)))
    assert forced.model is not None and forced.card["calibration"]["forced"] is True


def test_cancel_stops_without_a_model(base_dir: Path, lab_cells: ReviewedCells) -> None:
    calls = []

    def cancel_after_a_few() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(AnalysisCancelled):
        run(calibrate(lab_cells, base_dir, should_cancel=cancel_after_a_few))


def test_write_model_refuses_a_folder_of_other_files(base_dir: Path, lab_cells: ReviewedCells, tmp_path: Path) -> None:
    result, _ = run(calibrate(lab_cells, base_dir, CalibrationOptions(fit=FitOptions(min_steps=5, epochs=1),
                                                                      force=True)))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    with pytest.raises(UnsafeTargetError):
        write_model(result, busy)
    assert (busy / "notes.txt").read_text() == "keep me"
    out = write_model(result, tmp_path / "site")
    assert write_model(result, out) == out  # an earlier model folder may be replaced
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx", "model_card.json"]


def test_replay_file_beside_the_base_model_is_used_and_checked(base_dir: Path, home, lab_cells: ReviewedCells,
                                                              tmp_path: Path) -> None:
    import shutil

    from malaria_desktop.core.calibration.calibrate import REPLAY_FILE

    base = tmp_path / "base with replay"
    shutil.copytree(base_dir, base)
    crops, labels, _ = home
    np.savez_compressed(base / REPLAY_FILE, crops=crops[:64], labels=labels[:64])
    fast = CalibrationOptions(fit=FitOptions(min_steps=10, epochs=1), force=True)
    result, _ = run(calibrate(lab_cells, base, fast))
    assert result.card["calibration"]["replay"] == {"file": REPLAY_FILE, "cells": 64}
    out = write_model(result, tmp_path / "site")
    assert not (out / REPLAY_FILE).exists()  # data-derived: never copied into a model folder
    np.savez_compressed(base / REPLAY_FILE, crops=crops[:4, :16, :16], labels=labels[:4])
    with pytest.raises(CalibrationRefused, match="replay.npz"):
        run(calibrate(lab_cells, base, fast))
