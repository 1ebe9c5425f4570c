"""The Ray engine on a local 2-CPU cluster against the local engine: same cells, same report files.

One cluster for the module (``ray_cluster``): Ray's start-up dominates the time of these tests.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from malaria_desktop.cli import main
from malaria_desktop.core.classification.classifier import Classifier
from malaria_desktop.core.results import ImageResult, Progress
from tests.cluster.conftest import upload

pytestmark = pytest.mark.slow


def _cells(result: ImageResult) -> list[tuple[Any, ...]]:
    return [(c.cell.bbox, c.cell.area_px, c.probability, c.label, c.cell.on_edge) for c in result.cells]


def test_a_killed_worker_loses_no_image_and_results_match_the_local_engine(
        ray_cluster: Any, s3: Any, fields: list[Path], tiny_model_dir: Path) -> None:
    from malaria_desktop.cluster.engine_ray import RayEngine
    from malaria_desktop.cluster.sources import local_events

    uris = upload(s3, "ray-kill", "fields/", fields)
    s3.put_object(Bucket="ray-kill", Key="fields/label.png", Body=b"a text file named like an image")
    sources = [*uris, "s3://ray-kill/fields/label.png", fields[0]]
    classifier = Classifier.load(tiny_model_dir, threads=1)
    local = [e for e in local_events(sources, classifier, threshold=None, batch_size=64) if isinstance(e, ImageResult)]

    engine = RayEngine(tiny_model_dir, threshold=None, batch_size=64, workers=2)
    results, progress, killed = [], [], []
    try:
        for event in engine.events(sources):
            if isinstance(event, Progress):
                progress.append(event)
            elif isinstance(event, ImageResult):
                results.append(event)
                if not killed:  # SIGKILL a worker process while it holds images
                    killed.append(ray_cluster.get(engine.actors[0].pid.remote()))
                    os.kill(killed[0], signal.SIGKILL)
    finally:
        engine.close()
    assert killed and [str(r.path) for r in results] == [str(r.path) for r in local]
    assert [r.status for r in results] == ["ok"] * 4 + ["error", "ok"]
    assert "not a readable image" in results[4].error
    for ray_result, local_result in zip(results, local, strict=True):
        assert _cells(ray_result) == _cells(local_result) and ray_result.warnings == local_result.warnings
    assert len(progress) == len(sources) and progress[-1].image_index == len(sources) - 1


def _download(s3: Any, bucket: str, prefix: str, folder: Path) -> Path:
    folder.mkdir()
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]:
        s3.download_file(bucket, item["Key"], str(folder / item["Key"][len(prefix):]))
    return folder


def test_cli_ray_engine_from_s3_writes_the_local_engines_report(
        ray_cluster: Any, s3: Any, fields: list[Path], tiny_model_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    upload(s3, "ray-cli", "fields/", fields)
    s3.create_bucket(Bucket="ray-cli-reports")
    model = ["--model", str(tiny_model_dir)]
    monkeypatch.chdir(fields[0].parent)  # relative paths: workers resolve them as the user meant
    names = [f.name for f in fields]
    assert main(["analyze", *names, "--out", str(tmp_path / "local"), *model]) == 0
    assert main(["analyze", *names, "--out", "s3://ray-cli-reports/by-ray/", "--engine", "ray",
                 "--workers", "2", *model]) == 0
    assert main(["analyze", "s3://ray-cli/fields/", "--out", str(tmp_path / "from_s3"), "--engine", "ray",
                 *model]) == 0
    out = capsys.readouterr().out
    assert "Reports: s3://ray-cli-reports/by-ray/images.csv" in out
    by_ray = _download(s3, "ray-cli-reports", "by-ray/", tmp_path / "by_ray")
    local = tmp_path / "local"
    for name in ("cells.csv", "images.csv", "slide.csv"):  # byte for byte: same cells, probabilities, figures
        assert (by_ray / name).read_bytes() == (local / name).read_bytes(), name
    manifests = [json.loads((f / "manifest.json").read_text()) for f in (local, by_ray)]
    for m in manifests:
        m.pop("run_id"), m.pop("written_at")
    assert manifests[0] == manifests[1]
    # the same fields read from S3: only the image column (s3://... instead of the local path) differs
    from_s3 = (tmp_path / "from_s3" / "cells.csv").read_text(encoding="utf-8-sig").splitlines()
    local_cells = (local / "cells.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(from_s3) == len(local_cells) > 10
    assert from_s3[1:] == ["s3://ray-cli/fields/" + line for line in local_cells[1:]]
    assert (tmp_path / "from_s3" / "slide.csv").read_bytes() == (local / "slide.csv").read_bytes()


def test_without_ray_restarts_a_dead_worker_is_replaced_and_its_images_rerun(
        ray_cluster: Any, fields: list[Path], tiny_model_dir: Path) -> None:
    from malaria_desktop.cluster.engine_ray import RayEngine

    engine = RayEngine(tiny_model_dir, threshold=None, batch_size=64, workers=2, max_restarts=0)
    first = engine.actors[0]
    results: list[ImageResult] = []
    try:
        for event in engine.events(fields * 2):
            if isinstance(event, ImageResult):
                results.append(event)
                if len(results) == 1:
                    os.kill(ray_cluster.get(first.pid.remote()), signal.SIGKILL)
        assert first not in engine.actors  # Ray gave up on it (no restarts): a fresh worker took its place
    finally:
        engine.close()
    assert [r.status for r in results] == ["ok"] * 8 and [r.path for r in results] == fields * 2
