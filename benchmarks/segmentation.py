"""Segmentation benchmark on Chula RBC-12: recall of labelled RBC points, count ratio, time per image.

A labelled point counts as found when it lies inside exactly ONE detected cell (a merged clump that
holds two points, or two overlapping detections, do not count). Labels cover most but not all RBCs,
so the count ratio (detected / labelled) is expected a little above 1 and precision is not measured.

    .venv/bin/python benchmarks/segmentation.py [/path/to/chula_rbc12] [--limit N] [--worst K]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from malaria_desktop.core.image_io import load_image  # noqa: E402
from malaria_desktop.core.segmentation import segment_cells  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "data" / "chula_rbc12"


def coverage(result) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel count of detections covering it, and the id of (one of) them."""
    h, w = result.image_shape
    count = np.zeros((h, w), np.uint8)
    ids = np.zeros((h, w), np.int32)
    for c in result.cells:
        x, y, bw, bh = c.bbox
        count[y : y + bh, x : x + bw] += c.mask
        ids[y : y + bh, x : x + bw][c.mask] = c.cell_id
    return count, ids


def points_found(result, points: np.ndarray) -> int:
    count, _ = coverage(result)
    h, w = result.image_shape
    xs = np.clip(np.rint(points[:, 0]).astype(int), 0, w - 1)
    ys = np.clip(np.rint(points[:, 1]).astype(int), 0, h - 1)
    return int((count[ys, xs] == 1).sum())


def read_points(path: Path) -> np.ndarray:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return np.array([[float(r[0]), float(r[1])] for r in rows], np.float64).reshape(-1, 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", default=str(DEFAULT))
    ap.add_argument("--limit", type=int, default=0, help="only the first N images")
    ap.add_argument("--worst", type=int, default=5, help="list the K images with the lowest recall")
    args = ap.parse_args(argv)
    root = Path(args.path)
    images = sorted((root / "images").glob("*.jpg"), key=lambda p: (len(p.stem), p.stem))
    if args.limit:
        images = images[: args.limit]
    if not images:
        print(f"no images under {root / 'images'}", file=sys.stderr)
        return 2
    n_points = n_found = n_detected = 0
    times, per_image = [], []
    segment_cells(load_image(images[0]))  # warm-up (OpenCV thread pools, imports)
    for img_path in images:
        pts = read_points(root / "labels" / f"{img_path.stem}.txt")
        image = load_image(img_path)
        t0 = time.perf_counter()
        res = segment_cells(image)
        times.append(time.perf_counter() - t0)
        found = points_found(res, pts) if len(pts) else 0
        n_points += len(pts)
        n_found += found
        n_detected += len(res.cells)
        per_image.append((found / max(len(pts), 1), img_path.name, found, len(pts), len(res.cells)))
    ms = np.array(times) * 1e3
    print(f"images {len(images)}")
    print(f"labelled_points {n_points}")
    print(f"recall {n_found / max(n_points, 1):.4f}")
    print(f"count_ratio {n_detected / max(n_points, 1):.4f}")
    print(f"time_ms_mean {ms.mean():.1f}")
    print(f"time_ms_p95 {np.percentile(ms, 95):.1f}")
    print(f"time_ms_min {ms.min():.1f}")
    for rec, name, found, n, det in sorted(per_image)[: args.worst]:
        print(f"worst {name} recall {rec:.3f} found {found}/{n} detected {det}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
