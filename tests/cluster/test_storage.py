"""S3 inputs and the S3 report target against a local S3-compatible server (moto), without Ray."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from malaria_desktop.cluster.s3_output import S3ReportFolder, verify_report
from malaria_desktop.cluster.sources import analyze_source, expand_sources
from malaria_desktop.cluster.storage import S3Path, S3Uri, StorageError, list_images
from malaria_desktop.core.classification.classifier import Classifier
from malaria_desktop.core.errors import UnsafeTargetError
from tests.cluster.conftest import upload

ALLOWED = frozenset({"cells.csv", "images.csv", "slide.csv", "manifest.json"})


def test_uris_and_report_paths() -> None:
    uri = S3Uri.parse("s3://lab-archive/2026/slide 7/f1.png")
    assert (uri.bucket, uri.key) == ("lab-archive", "2026/slide 7/f1.png")
    path = S3Path.from_uri(str(uri))
    assert str(path) == "s3://lab-archive/2026/slide 7/f1.png" and path.name == "f1.png"
    assert str(pickle.loads(pickle.dumps(path))) == str(path)  # travels to Ray workers and back
    with pytest.raises(ValueError, match="no bucket"):
        S3Uri.parse("s3:///key")


def test_listing_follows_the_local_folder_rules(s3: Any, fields: list[Path]) -> None:
    upload(s3, "listing", "run/", fields[:2])
    upload(s3, "listing", "run/sub/", fields[2:3])
    s3.put_object(Bucket="listing", Key="run/readme.txt", Body=b"notes")
    s3.put_object(Bucket="listing", Key="run/.hidden/x.png", Body=b"x")
    problems: list[tuple[str, str]] = []
    found = list_images("s3://listing/run", problems)
    assert found == ["s3://listing/run/field_0.png", "s3://listing/run/field_1.png", "s3://listing/run/sub/field_2.png"]
    # an object named explicitly is kept whatever its suffix: it gets an error row instead of silence
    assert list_images("s3://listing/run/readme.txt", problems) == ["s3://listing/run/readme.txt"]
    assert list_images("s3://listing/run/absent.png", problems) == ["s3://listing/run/absent.png"]
    assert problems == []


def test_missing_bucket_and_refused_credentials_are_clear(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    problems: list[tuple[str, str]] = []
    assert list_images("s3://no-such-bucket/fields/", problems) == []
    assert problems == [("s3://no-such-bucket/fields/", "the bucket 'no-such-bucket' does not exist")]
    import moto.settings

    s3.create_bucket(Bucket="guarded")
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # the server now checks credentials
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-value")
    problems.clear()
    assert list_images("s3://guarded/fields/", problems) == []
    (uri, reason), = problems
    assert "access to s3://guarded/fields/ was refused" in reason and "credentials" in reason
    assert "AKIAWRONG" not in reason and "wrong-secret" not in reason


def test_one_source_local_or_s3_gives_the_same_cells(s3: Any, fields: list[Path], tiny_model_dir: Path) -> None:
    (uri,) = upload(s3, "same-cells", "f/", fields[:1])
    classifier = Classifier.load(tiny_model_dir, threads=1)
    local = analyze_source(fields[0], classifier, threshold=None, batch_size=64)
    remote = analyze_source(uri, classifier, threshold=None, batch_size=64)
    assert str(remote.path) == uri and remote.status == "ok" and local.n_cells > 5
    assert [c.probability for c in remote.cells] == [c.probability for c in local.cells]
    assert [c.cell.bbox for c in remote.cells] == [c.cell.bbox for c in local.cells]
    assert remote.content_sha256 == local.content_sha256
    s3.put_object(Bucket="same-cells", Key="f/notes.png", Body=b"this is not an image")
    bad = analyze_source("s3://same-cells/f/notes.png", classifier, threshold=None, batch_size=64)
    missing = analyze_source("s3://same-cells/f/gone.png", classifier, threshold=None, batch_size=64)
    assert bad.status == "error" and "'notes.png'" in bad.error and "not a readable image" in bad.error
    assert missing.status == "error" and "no such object" in missing.error


def test_mixed_inputs_keep_their_order(s3: Any, fields: list[Path]) -> None:
    upload(s3, "mixed", "a/", fields[1:3])
    problems: list[tuple[Path | str, str]] = []
    found = expand_sources([fields[0], "s3://mixed/a/", "s3://gone-bucket/", fields[0]], problems)
    assert found == [fields[0], "s3://mixed/a/field_1.png", "s3://mixed/a/field_2.png"]
    assert [p[0] for p in problems] == ["s3://gone-bucket/"]


def _write_run(stage: Path, text: str) -> None:
    from malaria_desktop.core.report.manifest import write_manifest

    for name in ("cells.csv", "images.csv", "slide.csv"):
        (stage / name).write_text(f"{name} {text}\n", encoding="utf-8")
    write_manifest(stage, "analyze")


def _body(s3: Any, bucket: str, key: str) -> str:
    return str(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())


def test_s3_report_is_published_whole_with_the_manifest_last(s3: Any) -> None:
    s3.create_bucket(Bucket="reports")
    with S3ReportFolder("s3://reports/lab/run1", ALLOWED) as stage:
        _write_run(stage, "first")
    assert verify_report("s3://reports/lab/run1/") == []
    with pytest.raises(RuntimeError), S3ReportFolder("s3://reports/lab/run1/", ALLOWED) as stage:
        _write_run(stage, "second")
        raise RuntimeError("the analysis failed half-way")
    assert _body(s3, "reports", "lab/run1/slide.csv") == "slide.csv first\n"  # the old run, untouched
    with S3ReportFolder("s3://reports/lab/run1/", ALLOWED) as stage:
        _write_run(stage, "third")
    assert verify_report("s3://reports/lab/run1/") == []
    assert _body(s3, "reports", "lab/run1/cells.csv") == "cells.csv third\n"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="reports")["Contents"]]
    assert sorted(keys) == [f"lab/run1/{n}" for n in sorted(ALLOWED)]  # no staging prefix left behind
    manifest = json.loads(_body(s3, "reports", "lab/run1/manifest.json"))
    assert sorted(manifest["files"]) == ["cells.csv", "images.csv", "slide.csv"]


def test_s3_report_refuses_foreign_prefixes_and_bad_buckets(s3: Any) -> None:
    s3.create_bucket(Bucket="shared-docs")
    s3.put_object(Bucket="shared-docs", Key="team/budget.xlsx", Body=b"keep me")
    with pytest.raises(UnsafeTargetError, match="budget.xlsx"):
        S3ReportFolder("s3://shared-docs/team/", ALLOWED).check()
    with pytest.raises(StorageError, match="the bucket 'no-reports-here' does not exist"):
        S3ReportFolder("s3://no-reports-here/r/", ALLOWED).check()
    with pytest.raises(UnsafeTargetError, match="a whole bucket"):
        S3ReportFolder("s3://shared-docs", ALLOWED)
    assert _body(s3, "shared-docs", "team/budget.xlsx") == "keep me"


def test_a_half_published_report_reads_as_incomplete(s3: Any) -> None:
    s3.create_bucket(Bucket="half")
    with S3ReportFolder("s3://half/r/", ALLOWED) as stage:
        _write_run(stage, "one")
    s3.delete_object(Bucket="half", Key="r/manifest.json")  # a publisher killed between steps 2 and 3
    assert "no readable manifest" in verify_report("s3://half/r/")[0]
    s3.put_object(Bucket="half", Key="r/manifest.json",
                  Body=json.dumps({"format": "x", "files": {"cells.csv": "0" * 64, "gone.csv": "1" * 64}}))
    assert verify_report("s3://half/r/") == ["missing: gone.csv", "not from this run: images.csv",
                                              "not from this run: slide.csv", "changed: cells.csv"]
