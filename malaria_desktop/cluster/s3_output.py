"""A report "folder" on S3, published whole: ``with S3ReportFolder(uri, allowed) as stage: write(stage / ...)``.

S3 has no rename, so the local folder swap (``core.atomic.AtomicFolder``) cannot be copied. What a reader
relies on instead is ``manifest.json``, written last and alone: a prefix holds a complete run exactly when
its ``manifest.json`` exists and every file it lists is there with that SHA-256 (``verify_report``).

Publishing, after the whole run was analysed and written to a local staging folder:
1. every file except the manifest is uploaded to a hidden sibling prefix ``.NAME.new-RUNID/`` (a failed
   upload leaves the published run untouched);
2. the old ``manifest.json`` is deleted (from here on the prefix reads as "no complete run"), the staged
   objects are copied in (server-side), objects of the old run that this run does not write are deleted;
3. the new ``manifest.json`` is uploaded; the staging prefix is deleted.
A prefix holding objects this writer does not own is refused before anything is touched, like a local
folder of other files.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from malaria_desktop.cluster.storage import S3Uri, StorageError, client, describe, read_bytes, s3_errors
from malaria_desktop.core.digest import sha256_of_file
from malaria_desktop.core.errors import UnsafeTargetError

MANIFEST = "manifest.json"


def _prefix(uri: S3Uri) -> S3Uri:
    return S3Uri(uri.bucket, uri.key if not uri.key or uri.key.endswith("/") else uri.key + "/")


def _list(uri: S3Uri) -> list[str]:
    """Keys under the prefix, relative to it."""
    pages = client().get_paginator("list_objects_v2").paginate(Bucket=uri.bucket, Prefix=uri.key)
    return sorted(str(item["Key"])[len(uri.key):] for page in pages for item in page.get("Contents", ()))


def _local_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


class S3ReportFolder:
    """Stage a report locally, then publish it under an ``s3://`` prefix with the manifest last."""

    def __init__(self, target: str, allowed: frozenset[str]) -> None:
        self.target = _prefix(S3Uri.parse(target))
        if not self.target.key:
            raise UnsafeTargetError(f"{target}: name a prefix inside the bucket (e.g. s3://bucket/reports/run1/), "
                                    "a report does not replace a whole bucket")
        self.allowed = allowed
        self.stage: Path | None = None

    def check(self) -> None:
        """StorageError when the bucket cannot be used; UnsafeTargetError when the prefix holds other objects."""
        try:
            present = _list(self.target)
        except s3_errors() as exc:
            raise StorageError(describe(exc, str(self.target))) from None
        foreign = [k for k in present if k not in self.allowed and not k.startswith(".")]
        if foreign:
            raise UnsafeTargetError(
                f"{self.target} holds other objects (e.g. '{foreign[0]}'); a report replaces its prefix as a whole, "
                "so choose a new prefix or a previous report's prefix")

    def __enter__(self) -> Path:
        self.check()
        self.stage = Path(tempfile.mkdtemp(prefix="malaria-report-"))
        return self.stage

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self.stage is not None
        stage, self.stage = self.stage, None
        try:
            if exc_type is None:
                self.publish(stage)
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def publish(self, stage: Path) -> None:
        """Upload ``stage`` (which must hold ``manifest.json``) as described in the module docstring."""
        files = [f for f in _local_files(stage) if f != MANIFEST]
        if not (stage / MANIFEST).is_file():
            raise StorageError("internal error: a report is published only with its manifest.json")
        parent, _, name = self.target.key.rstrip("/").rpartition("/")
        staging = S3Uri(self.target.bucket, f"{parent + '/' if parent else ''}.{name}.new-{secrets.token_hex(6)}/")
        s3, bucket = client(), self.target.bucket
        try:
            for rel in files:
                s3.upload_file(str(stage / rel), bucket, staging.key + rel)
            self.check()  # nothing foreign appeared while we analysed
            old = _list(self.target)
            s3.delete_object(Bucket=bucket, Key=self.target.key + MANIFEST)
            for rel in files:
                s3.copy_object(Bucket=bucket, Key=self.target.key + rel,
                               CopySource={"Bucket": bucket, "Key": staging.key + rel})
            for rel in sorted(set(old) - set(files) - {MANIFEST}):
                if not rel.startswith("."):
                    s3.delete_object(Bucket=bucket, Key=self.target.key + rel)
            s3.upload_file(str(stage / MANIFEST), bucket, self.target.key + MANIFEST)
        except s3_errors() as exc:
            raise StorageError(f"the report was not published: {describe(exc, str(self.target))}") from None
        finally:
            _delete_prefix(staging)


def _delete_prefix(uri: S3Uri) -> None:
    """Best effort: a leftover hidden staging prefix is harmless (readers and ``check`` skip it)."""
    try:
        for rel in _list(uri):
            client().delete_object(Bucket=uri.bucket, Key=uri.key + rel)
    except s3_errors():
        pass


def verify_report(target: str) -> list[str]:
    """What makes the prefix ``target`` not exactly one complete run ([] when it is one): the reader's check."""
    prefix = _prefix(S3Uri.parse(target))
    try:
        listed = json.loads(read_bytes(str(prefix.child(MANIFEST))))["files"]
    except (StorageError, ValueError, KeyError, TypeError) as exc:
        return [f"{prefix}{MANIFEST}: no readable manifest ({exc}); the run is incomplete or absent"]
    present = {k for k in _list(prefix) if not k.startswith(".")} - {MANIFEST}
    problems = [f"missing: {rel}" for rel in sorted(set(listed) - present)]
    problems += [f"not from this run: {rel}" for rel in sorted(present - set(listed))]
    with tempfile.TemporaryDirectory() as tmp:
        for rel in sorted(set(listed) & present):
            local = Path(tmp) / "object"
            client().download_file(prefix.bucket, prefix.key + rel, str(local))
            if sha256_of_file(local) != listed[rel]:
                problems.append(f"changed: {rel}")
    return problems


__all__ = ["S3ReportFolder", "verify_report"]
