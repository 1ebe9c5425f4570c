"""Cells per second of the bundled classifier: ONNX inference alone, and the whole ``classify`` CLI job.

    .venv/bin/python -m benchmarks.classify_speed                       # both, 10,000 NIH crops
    .venv/bin/python -m benchmarks.classify_speed --limit 2000 --skip-cli

Inference alone: ``Classifier.predict`` (uint8 -> float scaling + ONNX Runtime) on batches of 256 crops
already in memory. End to end: ``malaria-desktop classify FOLDER --csv`` as a subprocess on ``--limit``
crop files (PNG decoding, cropping, batching, CSV writing and the process start-up all included).
The machine is shared: run it on an idle machine for stable numbers, and report the median.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT
from malaria_desktop.core.classification.classifier import Classifier  # noqa: E402
from malaria_desktop.core.classification.crop_io import read_crop  # noqa: E402
from malaria_desktop.core.classification.model_card import load_model_card  # noqa: E402

DEFAULT_DATA = Path("/work/shared/data/nih_cells/cell_images")


def pick_files(data: Path, limit: int) -> list[Path]:
    """``limit`` crop files spread evenly over the sorted list (both classes, many patients)."""
    files = sorted(p for p in data.rglob("*.png") if p.is_file())
    if not files:
        raise SystemExit(f"no PNG files under {data}")
    step = max(1, len(files) // limit)
    return files[::step][:limit]


def inference_speed(model: Path, crops: np.ndarray, batch: int, repeats: int, threads: int | None) -> dict:
    classifier = Classifier.load(model, threads=threads)
    size = classifier.input_size
    crops = np.resize(crops, (batch, size, size, 3)) if len(crops) < batch else crops[:batch]
    classifier.predict(crops, batch_size=batch)  # warm-up: ONNX Runtime allocates on the first run
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        classifier.predict(crops, batch_size=batch)
        times.append(time.perf_counter() - start)
    return {"batch": batch, "repeats": repeats, "median_cells_per_s": batch / float(np.median(times)),
            "best_cells_per_s": batch / min(times)}


def cli_speed(model: Path, files: list[Path]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cells"
        folder.mkdir()
        for i, f in enumerate(files):  # links, not copies: the data set stays where it is
            (folder / f"{i:06d}_{f.name}").symlink_to(f)
        csv = Path(tmp) / "out.csv"
        cmd = [sys.executable, "-m", "malaria_desktop", "classify", str(folder), "--csv", str(csv), "--model",
               str(model)]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"classify failed ({done.returncode}): {done.stderr[-2000:]}")
        rows = max(0, len(csv.read_text(encoding="utf-8-sig").strip().splitlines()) - 1)
    return {"files": len(files), "csv_rows": rows, "wall_s": wall, "cells_per_s": len(files) / wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "trained_model", help="model folder")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of cell crops (searched recursively)")
    parser.add_argument("--limit", type=int, default=10_000, help="crop files for the CLI job")
    parser.add_argument("--batch", type=int, default=256, help="inference batch size")
    parser.add_argument("--repeats", type=int, default=20, help="timed inference batches")
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads (default: all cores)")
    parser.add_argument("--skip-cli", action="store_true", help="only measure inference")
    args = parser.parse_args()

    files = pick_files(args.data, args.limit)
    size = load_model_card(args.model).input_size
    sample = np.stack([read_crop(f, size) for f in files[: args.batch]])
    result = {"model": str(args.model), "inference": inference_speed(args.model, sample, args.batch,
                                                                     args.repeats, args.threads)}
    print(f"inference alone (batch {args.batch}): {result['inference']['median_cells_per_s']:.0f} cells/s median, "
          f"{result['inference']['best_cells_per_s']:.0f} best", flush=True)
    if not args.skip_cli:
        result["cli"] = cli_speed(args.model, files)
        print(f"classify CLI end to end on {len(files)} files: {result['cli']['cells_per_s']:.0f} cells/s "
              f"({result['cli']['wall_s']:.1f} s incl. start-up)", flush=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
