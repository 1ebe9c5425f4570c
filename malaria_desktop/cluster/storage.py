"""``s3://`` objects for ``analyze``: list a prefix, fetch an object, translate S3 errors for a technician.

Why boto3 with its default session: it already honours everything a lab's IT sets up for S3 (the standard
AWS configuration files, ``AWS_PROFILE``, instance/IAM roles, ``AWS_REGION``, and ``AWS_ENDPOINT_URL`` for
S3-compatible stores such as MinIO or Ceph), so this module adds no configuration of its own.
Credentials never appear in a message: errors are described from their S3 error *code*, never from the
raw response (which can echo the access key id).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from malaria_desktop.cluster import S3_SCHEME, is_s3
from malaria_desktop.core.errors import ImageLoadError, MalariaDesktopError

# What a client depends on: a test (or a user) changing one of these gets a fresh client.
_ENV_KEYS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
             "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE",
             "AWS_SHARED_CREDENTIALS_FILE")
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
           "AllAccessDisabled", "403", "Forbidden", "UnrecognizedClientException"}
_MISSING_OBJECT = {"NoSuchKey", "404", "NotFound"}


class StorageError(MalariaDesktopError):
    """An object store refused or could not serve a request; the message says what to check."""


@dataclass(frozen=True)
class S3Uri:
    """``s3://bucket/key`` split into its parts (``key`` may be empty or end with ``/`` for a prefix)."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, text: str) -> "S3Uri":
        if not is_s3(text):
            raise ValueError(f"not an s3:// address: {text!r}")
        bucket, _, key = text[len(S3_SCHEME):].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {text!r} (expected s3://BUCKET/PREFIX)")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.key}"

    def child(self, name: str) -> "S3Uri":
        base = self.key if not self.key or self.key.endswith("/") else self.key + "/"
        return S3Uri(self.bucket, base + name)


class S3Path(PurePosixPath):
    """An object's place in reports: prints as ``s3://bucket/key`` where ``Path`` would print ``s3:/bucket/key``.

    A pure path (``.name``, ``.suffix`` work; nothing touches the local disk) that pickles to Ray workers.
    """

    def __str__(self) -> str:
        return S3_SCHEME + super().__str__()

    def __fspath__(self) -> str:
        return str(self)

    @classmethod
    def from_uri(cls, text: str) -> "S3Path":
        uri = S3Uri.parse(text)
        return cls(uri.bucket, *[p for p in uri.key.split("/") if p])


_local = threading.local()


def client() -> Any:
    """An S3 client from the default AWS configuration, cached per thread and per relevant environment."""
    key = tuple(os.environ.get(k) for k in _ENV_KEYS)
    cached = getattr(_local, "client", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]

    config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=60)
    made = boto3.session.Session().client("s3", config=config)
    _local.client = (key, made)
    return made


def describe(exc: BaseException, uri: str) -> str:
    """A technician's message for an S3 failure on ``uri``, built from the error code (no credentials)."""
    from botocore import exceptions as bx  # type: ignore[import-untyped]

    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return (f"no AWS credentials for {uri}: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), "
                "or run on a machine with an IAM role")
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ReadTimeoutError):
        return f"cannot reach the object store for {uri} ({type(exc).__name__}); check AWS_ENDPOINT_URL and the network"
    if isinstance(exc, bx.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", "")) or str(
            exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        bucket = S3Uri.parse(uri).bucket
        if code == "NoSuchBucket":
            return f"the bucket '{bucket}' does not exist"
        if code in _DENIED:
            return (f"access to {uri} was refused ({code}): check the AWS credentials (profile, keys or role) "
                    f"and the permissions on the bucket '{bucket}'")
        if code in _MISSING_OBJECT:
            return f"{uri}: no such object in the bucket '{bucket}'"
        return f"the object store refused a request for {uri} ({code or type(exc).__name__})"
    if isinstance(exc, bx.BotoCoreError):
        return f"S3 request for {uri} failed ({type(exc).__name__})"
    return f"S3 request for {uri} failed ({type(exc).__name__})"


def s3_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

    return (BotoCoreError, ClientError)


def _keys(uri: S3Uri) -> Iterator[str]:
    pages = client().get_paginator("list_objects_v2").paginate(Bucket=uri.bucket, Prefix=uri.key)
    for page in pages:
        for item in page.get("Contents", ()):
            yield str(item["Key"])


def _wanted(key: str, prefix: str) -> bool:
    from malaria_desktop.core.image_io import SUPPORTED_SUFFIXES

    rest = key[len(prefix):]
    parts = [p for p in rest.split("/") if p]
    return bool(parts) and not any(p.startswith(".") for p in parts) and (
        PurePosixPath(parts[-1]).suffix.lower() in SUPPORTED_SUFFIXES)


def list_images(text: str, problems: list[tuple[str, str]]) -> list[str]:
    """``s3://`` inputs -> object URIs, with the rules ``core.pipeline.expand_inputs`` has for folders.

    A key that names an object is kept whatever its suffix (so a wrong object gets an error row); a prefix
    (``s3://b/`` or ``s3://b/dir``) contributes its image objects, recursively, hidden parts skipped, sorted.
    A bucket that is missing or refused becomes ``(uri, reason)`` in ``problems`` and no images.
    """
    uri = S3Uri.parse(text)
    try:
        keys = sorted(_keys(uri))
    except s3_errors() as exc:
        problems.append((text, describe(exc, text)))
        return []
    if uri.key and not uri.key.endswith("/"):
        if uri.key in keys:
            return [str(uri)]
        folder = uri.key + "/"
        found = [k for k in keys if k.startswith(folder) and _wanted(k, folder)]
        return [str(S3Uri(uri.bucket, k)) for k in found] or [str(uri)]  # nothing there: an error row for it
    return [str(S3Uri(uri.bucket, k)) for k in keys if _wanted(k, uri.key)]


def fetch(text: str, folder: Path) -> Path:
    """Download the object ``text`` into ``folder`` under its own file name; ImageLoadError when it cannot."""
    uri = S3Uri.parse(text)
    name = PurePosixPath(uri.key).name or "object"
    target = folder / name
    try:
        client().download_file(uri.bucket, uri.key, str(target))
    except s3_errors() as exc:
        raise ImageLoadError(f"'{name}': cannot read it from the object store: {describe(exc, text)}.") from None
    return target


def read_bytes(text: str) -> bytes:
    """An object's whole content (small objects: manifests); StorageError when it cannot be read."""
    uri = S3Uri.parse(text)
    try:
        return bytes(client().get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read())
    except s3_errors() as exc:
        raise StorageError(describe(exc, text)) from None


__all__ = ["S3Path", "S3Uri", "StorageError", "client", "describe", "fetch", "list_images", "read_bytes", "s3_errors"]
