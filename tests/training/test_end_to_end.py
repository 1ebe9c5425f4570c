"""Train -> export -> evaluate on generated crops; the exported folder is what the app loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from malaria_desktop.core.classification.classifier import Classifier
from tests.training.conftest import write_nih_layout
from training.cli import build_parser, main
from training.export import onnx_keras_max_diff
from training.split import file_sha256


@pytest.mark.slow
def test_train_export_evaluate_and_resume(nih_root: Path, tmp_path: Path) -> None:
    run, model_dir = tmp_path / "run", tmp_path / "model"
    args = ["train", "--data", str(nih_root), "--out", str(run), "--input-size", "32", "--width", "0.125",
            "--head-units", "8", "--epochs", "2", "--batch-size", "16", "--workers", "1", "--export", str(model_dir)]
    assert main(args) == 0
    for name in ("split.csv", "best.keras", "last.keras", "state.json", "history.csv", "run_config.json"):
        assert (run / name).is_file(), name
    card = json.loads((model_dir / "model_card.json").read_text())
    assert card["input_size"] == 32 and card["output"] == {"kind": "sigmoid"}
    assert card["training"]["split_sha256"] == file_sha256(run / "split.csv") == file_sha256(model_dir / "split.csv")
    assert card["training"]["command"].startswith("python -m training train")
    assert card["model"]["parameters"] > 0 and card["model"]["flops_per_cell"] > 0
    assert {"validation", "test", "test_by_lab"} <= set(card["metrics"])
    assert "healthy validation group" in card["threshold_rule"]  # the slide operating point (default rule)
    band = card["uncertain_band"]
    assert 0 < band["low"] < card["threshold"] < band["high"] < 1 and "validation errors" in band["rule"]
    assert "reference" not in card  # 6 generated patients are too few fields for a lab reference
    assert card["training"]["data"] == [{"folder": nih_root.as_posix(), "source": "local reviewed cells"}]
    for plot in ("roc.png", "confusion.png", "reliability.png", "report.json"):
        assert (model_dir / "report" / plot).stat().st_size > 200
    report = json.loads((model_dir / "report" / "report.json").read_text())
    assert report["metrics"]["patients"] >= 1 and report["per_patient"]

    classifier = Classifier.load(model_dir)
    assert classifier.input_size == 32 and classifier.threshold == card["threshold"]
    crops = np.load(next((run / "cache").glob("*.npy")))[:40]
    assert classifier.predict(crops).shape == (40,)
    assert onnx_keras_max_diff(model_dir, crops) < 1e-4

    # Resume: pretend the run stopped after epoch 1; it continues from last.keras with epoch 2 only.
    state = json.loads((run / "state.json").read_text())
    (run / "state.json").write_text(json.dumps(state | {"epoch": 1, "wait": 0}))
    rows_before = (run / "history.csv").read_text().strip().splitlines()
    assert main(["train", "--data", str(nih_root), "--out", str(run), "--resume"]) == 0
    rows_after = (run / "history.csv").read_text().strip().splitlines()
    assert len(rows_after) == len(rows_before) + 1  # epoch 2 appended to the same history
    assert rows_after[-1].startswith("1,")

    # Fine-tune the exported model on the old data plus "reviewed" cells; old patients keep their split.
    extra = write_nih_layout(tmp_path / "reviewed", patients=1, per_class=6, prefix="cell{p}")
    tuned = tmp_path / "tuned"
    assert main(["train", "--data", str(nih_root), str(extra), "--out", str(tuned), "--input-size", "32",
                 "--width", "0.125", "--head-units", "8", "--epochs", "1", "--batch-size", "16", "--workers", "1",
                 "--init", str(model_dir), "--keep-split", str(model_dir / "split.csv")]) == 0
    old = {r.split(",")[3]: r.split(",")[4] for r in (run / "split.csv").read_text().splitlines()[1:]}
    new = [r.split(",") for r in (tuned / "split.csv").read_text().splitlines()[1:]]
    assert all(old[row[3]] == row[4] for row in new if row[3] in old)
    assert len(new) == len((run / "split.csv").read_text().splitlines()) - 1 + 12


def test_help_explains_every_option() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert set(sub.choices) == {"train", "export", "evaluate"}
    for name, command in sub.choices.items():
        for action in command._actions:
            if action.dest != "help":
                assert action.help and len(action.help) > 10, f"{name} {action.option_strings} has no help"
    out = subprocess.run([sys.executable, "-m", "training", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "train" in out.stdout and "evaluate" in out.stdout
