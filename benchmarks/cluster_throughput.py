"""Throughput of ``analyze`` over fields on a local S3-compatible server: local engine vs Ray, 1 and 2 workers.

Starts moto's S3 server on 127.0.0.1 (random port), uploads N synthetic fields (JPEG, as cameras write
them), then analyses them from S3 with the local engine (one process, ONNX Runtime and OpenCV on every
core) and with the Ray engine on a local 2-CPU cluster (1 and 2 workers, 1 CPU each). Every engine must
give the same cells and probabilities for every field (checked; the script fails otherwise).

    .venv/bin/python -m benchmarks.cluster_throughput [--fields 30] [--size 1280x960] [--model DIR] [--json OUT]

Prints fields/s per engine and the ratio to the local engine: steady (workers started, model loaded),
joined (+ worker start-up: what a run on an already running cluster, ``--address``, costs) and end to end
(+ starting the local cluster), with the machine's load average before and after: on a shared machine
the figures move with the other jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def _start_s3() -> Any:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    return server


def _upload(n: int, width: int, height: int) -> list[str]:
    import cv2

    from malaria_desktop.cluster.storage import client
    from malaria_desktop.core.synthetic import generate_smear

    s3 = client()
    s3.create_bucket(Bucket="bench-fields")
    for i in range(n):
        image = generate_smear(seed=100 + i, width=width, height=height).image
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        s3.put_object(Bucket="bench-fields", Key=f"slide/field_{i:03d}.jpg", Body=buf.tobytes())
    return [f"s3://bench-fields/slide/field_{i:03d}.jpg" for i in range(n)]


def _signature(results: list[Any]) -> list[Any]:
    return [(str(r.path), r.status, [(c.cell.bbox, c.probability) for c in r.cells]) for r in results]


def _consume(events: Any) -> list[Any]:
    from malaria_desktop.core.results import ImageResult

    return [e for e in events if isinstance(e, ImageResult)]


def _run_local(sources: list[str], model: Path | None) -> tuple[float, list[Any]]:
    from malaria_desktop.cluster.sources import local_events
    from malaria_desktop.core.classification.classifier import Classifier

    classifier = Classifier.load(model)
    t0 = time.perf_counter()
    results = _consume(local_events(sources, classifier, threshold=None, batch_size=256))
    return time.perf_counter() - t0, results


def _run_ray(sources: list[str], model_dir: Path, workers: int) -> tuple[float, float, list[Any]]:
    """(steady seconds, end-to-end seconds, results); the cluster itself is already up."""
    from malaria_desktop.cluster.engine_ray import RayEngine

    t0 = time.perf_counter()
    engine = RayEngine(model_dir, threshold=None, batch_size=256, workers=workers)
    engine.ray.get([a.pid.remote() for a in engine.actors])  # workers started, model loaded
    t1 = time.perf_counter()
    try:
        results = _consume(engine.events(sources))
    finally:
        engine.close()
    t2 = time.perf_counter()
    return t2 - t1, t2 - t0, results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fields", type=int, default=30)
    ap.add_argument("--size", default="1280x960", help="field size WxH (default 1280x960)")
    ap.add_argument("--model", type=Path, help="model folder (default: the bundled model)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    from malaria_desktop.paths import default_model_dir

    model_dir = args.model or default_model_dir()
    before = _load()
    server = _start_s3()
    try:
        sources = _upload(args.fields, width, height)
        local_s, local = _run_local(sources, model_dir)
        from malaria_desktop.cluster.engine_ray import start_ray

        t0 = time.perf_counter()
        start_ray(num_cpus=2)
        cluster_s = time.perf_counter() - t0
        rows: dict[str, Any] = {"local": {"steady_s": local_s, "joined_s": local_s, "end_to_end_s": local_s}}
        for workers in (1, 2):
            steady, e2e, results = _run_ray(sources, model_dir, workers)
            if _signature(results) != _signature(local):
                print(f"FAIL: Ray with {workers} worker(s) differs from the local engine", file=sys.stderr)
                return 1
            rows[f"ray_{workers}"] = {"steady_s": steady, "joined_s": e2e, "end_to_end_s": e2e + cluster_s}
    finally:
        server.stop()
    after = _load()
    n = args.fields
    print(f"{n} fields {args.size} JPEG from a local S3 server (moto); {before} before, {after} after")
    print(f"local Ray cluster start: {cluster_s:.1f} s (in the end-to-end figures; --address skips it)")
    print("fields/s (x local): steady = workers up; joined = + worker start (a running cluster, --address);"
          " end-to-end = + local cluster start")
    print(f"{'engine':<8} {'steady':>14} {'joined':>14} {'end-to-end':>14}")
    for name, row in rows.items():
        cells = []
        for kind in ("steady", "joined", "end_to_end"):
            row[f"{kind}_fps"] = n / row[f"{kind}_s"]
            cells.append(f"{row[f'{kind}_fps']:6.2f} ({row[f'{kind}_fps'] * rows['local']['steady_s'] / n:4.2f})")
        print(f"{name:<8} " + " ".join(f"{c:>14}" for c in cells))
    print("identical cells and probabilities: yes (all engines)")
    if args.json:
        args.json.write_text(json.dumps({"fields": n, "size": args.size, "load_before": before, "load_after": after,
                                         "cluster_start_s": cluster_s, "engines": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
