"""``analyze`` with s3:// inputs and outputs on the local engine: same cells as local files, bad input per image."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from malaria_desktop.cli import main
from malaria_desktop.cluster.s3_output import verify_report
from tests.cluster.conftest import upload


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def test_s3_in_s3_out_with_bad_inputs_goes_on(s3: Any, fields: list[Path], tiny_model_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    upload(s3, "cli-in", "slide1/", fields[:2])
    s3.put_object(Bucket="cli-in", Key="slide1/scan-notes.png", Body=b"not an image at all")
    s3.create_bucket(Bucket="cli-out")
    model = ["--model", str(tiny_model_dir)]
    assert main(["analyze", *map(str, fields[:3]), "--out", str(tmp_path / "local"), *model]) == 0
    code = main(["analyze", "s3://cli-in/slide1/", str(fields[2]), "s3://missing-bucket/x/",
                 "--out", "s3://cli-out/reports/slide1/", *model])
    captured = capsys.readouterr()
    assert code == 1  # some inputs failed; the others were analysed and reported
    assert "failed: s3://cli-in/slide1/scan-notes.png: 'scan-notes.png': not a readable image" in captured.err
    assert "the bucket 'missing-bucket' does not exist" in captured.err
    assert "Reports: s3://cli-out/reports/slide1/images.csv" in captured.out
    assert verify_report("s3://cli-out/reports/slide1/") == []

    def body(key: str) -> str:
        return str(s3.get_object(Bucket="cli-out", Key=key)["Body"].read().decode("utf-8"))

    images = _rows(body("reports/slide1/images.csv"))
    assert [(r["image"], r["status"]) for r in images] == [
        ("s3://cli-in/slide1/field_0.png", "ok"), ("s3://cli-in/slide1/field_1.png", "ok"),
        ("s3://cli-in/slide1/scan-notes.png", "error"), (str(fields[2]), "ok"), ("s3://missing-bucket/x/", "error")]
    local_cells = _rows((tmp_path / "local" / "cells.csv").read_text(encoding="utf-8"))
    s3_cells = _rows(body("reports/slide1/cells.csv"))
    for row in local_cells:
        if not row["image"].endswith("field_2.png"):
            row["image"] = "s3://cli-in/slide1/" + Path(row["image"]).name
    assert s3_cells == local_cells  # same cells, boxes and probabilities, whichever store held the file


def test_an_unusable_output_bucket_stops_before_any_work(s3: Any, fields: list[Path], tiny_model_dir: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["analyze", str(fields[0]), "--out", "s3://no-such-report-bucket/r/", "--model", str(tiny_model_dir)])
    assert code == 2
    err = capsys.readouterr().err
    assert "--out s3://no-such-report-bucket/r/: the bucket 'no-such-report-bucket' does not exist" in err


def test_wrong_credentials_are_one_clear_error_and_local_files_still_run(
        s3: Any, fields: list[Path], tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import moto.settings

    upload(s3, "cli-guarded", "f/", fields[:1])
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # the server now checks credentials
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEWRONGKEY1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-do-not-print")
    out = tmp_path / "r"
    code = main(["analyze", "s3://cli-guarded/f/", str(fields[1]), "--out", str(out), "--model", str(tiny_model_dir)])
    err = capsys.readouterr().err
    assert code == 1 and "access to s3://cli-guarded/f/ was refused" in err and "check the AWS credentials" in err
    assert "wrong-secret" not in err and "AKIAEXAMPLE" not in err
    report = (out / "images.csv").read_text(encoding="utf-8") + (out / "manifest.json").read_text(encoding="utf-8")
    assert "wrong-secret" not in report and "AKIAEXAMPLE" not in report
    assert [r["status"] for r in _rows((out / "images.csv").read_text(encoding="utf-8"))] == ["ok", "error"]
