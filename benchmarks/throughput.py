"""Seconds per field (load + segment, no classification) and peak RSS, per field size.

Each size runs in a fresh Python subprocess so its peak RSS (resource.getrusage ru_maxrss) belongs to
that size alone (imports included). Fields are synthetic smears written as JPEG (what phone and
microscope cameras give); RBC diameters are typical for each size.

    .venv/bin/python -m benchmarks.throughput [--repeats 5] [--format jpg|png] [--sizes 1280x960:60,5312x2988:130]

Prints one line per size: mean / best wall seconds per field, best process CPU seconds per field (less
sensitive to other jobs on a shared machine), segmentation-only ms, cells, peak RSS in MB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import ROOT

WRITE = r"""
import sys
from malaria_desktop.core.synthetic import write_synthetic_smear
write_synthetic_smear(sys.argv[2], seed=1, width=int(sys.argv[3]), height=int(sys.argv[4]),
                      cell_diameter=float(sys.argv[5]))
"""

CHILD = r"""
import json, resource, sys, time
from malaria_desktop.core.image_io import load_image
from malaria_desktop.core.segmentation.engine import segment_cells
path, repeats = sys.argv[2], int(sys.argv[3])
totals, segs, cpus = [], [], []
for _ in range(repeats):
    c0 = time.process_time()
    t0 = time.perf_counter()
    image = load_image(path)
    t1 = time.perf_counter()
    result = segment_cells(image)
    t2 = time.perf_counter()
    totals.append(t2 - t0)
    segs.append(t2 - t1)
    cpus.append(time.process_time() - c0)
    del image
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB
print(json.dumps({"totals": totals, "segs": segs, "cpus": cpus, "cells": len(result.cells), "rss_mb": rss_mb}))
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--format", choices=("jpg", "png"), default="jpg")
    ap.add_argument("--sizes", default="1280x960:60,5312x2988:130", help="WxH:RBC-diameter, comma separated")
    args = ap.parse_args(argv)
    # Linux keeps the RSS high-water mark across fork+exec, so this parent stays small: the fields are
    # drawn in one subprocess and each measurement runs in another.
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sizes.split(","):
            dims, diameter = spec.split(":")
            w, h = (int(v) for v in dims.split("x"))
            path = Path(tmp) / f"field_{w}x{h}.{args.format}"
            subprocess.run([sys.executable, "-c", WRITE, str(ROOT), str(path), str(w), str(h), diameter], check=True)
            out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(path), str(args.repeats)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            totals, segs = r["totals"], r["segs"]
            print(f"{w}x{h} d={diameter} {args.format}: seconds_per_field mean {sum(totals) / len(totals):.3f} "
                  f"best {min(totals):.3f} | cpu_s best {min(r['cpus']):.3f} | segment_ms best {1e3 * min(segs):.0f} | "
                  f"cells {r['cells']} | "
                  f"peak_rss_mb {r['rss_mb']:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
