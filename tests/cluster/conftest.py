"""A local S3-compatible store (moto's server mode on 127.0.0.1, random port) and a 2-CPU local Ray cluster.

Why environment variables and not client arguments: the code under test must find the store the way a
lab's deployment does, through the standard AWS configuration (``AWS_ENDPOINT_URL`` and the usual keys).
They are set once per test module, before Ray starts, so Ray's workers inherit them like a real node would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("boto3", reason="the cluster extra is not installed (pip install 'malaria-desktop[cluster]')")
pytest.importorskip("moto", reason="the cluster extra is not installed (pip install 'malaria-desktop[cluster]')")

from malaria_desktop.core.synthetic import write_synthetic_smear  # noqa: E402

ACCESS = {"AWS_ACCESS_KEY_ID": "testing-key-id", "AWS_SECRET_ACCESS_KEY": "testing-secret",
          "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server and the AWS variables live for one test module; other tests never see them."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    none = str(tmp_path_factory.mktemp("aws") / "absent")  # never the developer's own ~/.aws files
    env = {**ACCESS, "AWS_ENDPOINT_URL": endpoint, "AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none}
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
            mp.delenv(key, raising=False)
        for key, value in env.items():
            mp.setenv(key, value)
        yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def s3(s3_endpoint: str) -> Any:
    from malaria_desktop.cluster.storage import client

    return client()


@pytest.fixture(scope="session")
def fields(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four small synthetic fields on the local disk (the same files are uploaded to S3 by the tests)."""
    folder = tmp_path_factory.mktemp("fields")
    paths = [folder / f"field_{i}.png" for i in range(4)]
    for seed, path in enumerate(paths):
        write_synthetic_smear(path, seed=seed, width=480, height=360)
    return paths


def upload(s3: Any, bucket: str, prefix: str, files: list[Path]) -> list[str]:
    """Create ``bucket`` (if needed) and upload ``files`` under ``prefix``; returns their URIs."""
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=bucket)
    uris = []
    for path in files:
        s3.upload_file(str(path), bucket, prefix + path.name)
        uris.append(f"s3://{bucket}/{prefix}{path.name}")
    return uris


@pytest.fixture(scope="module")
def ray_cluster(s3_endpoint: str) -> Iterator[Any]:
    """One local Ray cluster (2 CPUs) per test module: start-up costs ~5-10 s."""
    pytest.importorskip("ray", reason="the cluster extra is not installed (pip install 'malaria-desktop[cluster]')")
    from malaria_desktop.cluster.engine_ray import start_ray

    ray = start_ray(num_cpus=2)
    yield ray
    ray.shutdown()
    os.environ.pop("RAY_ADDRESS", None)
