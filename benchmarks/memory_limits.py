"""Peak memory (RSS) of hostile inputs (issue 13 item 7 target: no input tried drives memory above 1.5 GB).

Each case runs in a fresh Python process that reports its own peak RSS (``VmHWM``), imports and model
included:

- ``classify`` on two 10000 x 10000 16-bit RGB PNGs (~600 KB each: the decompression-amplification case
  that reached 5.85 GB);
- ``analyze`` on one such PNG (a 100-megapixel field, the largest ``load_image`` accepts);
- opening a session whose three cells claim 9999 x 9999 boxes in a 10000 x 10000 image (was 2 GB);
- opening a deeply nested session file, and one with NaN.

    .venv/bin/python -m benchmarks.memory_limits [--skip-analyze]

Prints one line per case: peak RSS in MB, seconds, exit status, and whether it stayed under 1.5 GB.
Linux only (``/proc/self/status``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT

LIMIT_MB = 1536

WRAPPER = r"""
import sys
code = sys.argv[2]
try:
    exec(code)
finally:  # VmHWM: this program's own peak (ru_maxrss would keep the parent's peak across fork + exec)
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
    print("PEAK_KB", hwm.split()[1], flush=True)
"""

CLASSIFY = """
from malaria_desktop.cli import main
main(["classify", *sys.argv[3].split("|"), "--csv", sys.argv[4], "--model", sys.argv[5]])
"""
ANALYZE = """
from malaria_desktop.cli import main
main(["analyze", sys.argv[3], "--out", sys.argv[4], "--model", sys.argv[5]])
"""
LOAD_SESSION = """
from malaria_desktop.core.review.session import SessionError, load_session
try:
    load_session(sys.argv[3])
except SessionError as exc:
    print("refused:", str(exc)[:100])
"""


def big_png(path: Path, side: int = 10_000) -> Path:
    import cv2
    import numpy as np

    image = np.full((side, side, 3), (40000, 30000, 50000), np.uint16)
    cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return path


def giant_box_session(path: Path) -> Path:
    cell = {"id": 0, "bbox": [0, 0, 9999, 9999], "centroid": [5000.0, 5000.0], "area": 1, "contour": [0, 0, 9998, 0,
            9998, 9998], "p": 0.9, "label": "parasitized", "edge": False}
    result = {"path": "f.png", "status": "ok", "error": "", "image_shape": [10000, 10000], "cell_diameter_px": 80.0,
              "warnings": [], "threshold": 0.5, "cells": [{**cell, "id": i} for i in range(3)]}
    data = {"format": "malaria-desktop-session", "version": 1, "metadata": {}, "image_paths": ["f.png"],
            "settings": {}, "model": {}, "review": {}, "results": {"f.png": result}}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def run(name: str, code: str, *args: str) -> tuple[str, float, float, int]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAPPER, str(ROOT), code, *args], capture_output=True, text=True,
                          timeout=1800)
    seconds = time.perf_counter() - t0
    peak = next((int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("PEAK_KB")), -1)
    return name, peak / 1024, seconds, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-analyze", action="store_true", help="skip the 100-megapixel field (slowest case)")
    args = parser.parse_args(argv)
    from tests.helpers.tiny_model import make_tiny_model

    over = False
    with tempfile.TemporaryDirectory(prefix="memory-limits-") as tmp:
        work = Path(tmp)
        (work / "model").mkdir()
        model = str(make_tiny_model(work / "model", input_size=32, threshold=0.5))
        pngs = [big_png(work / "huge_a.png"), work / "huge_b.png"]
        pngs[1].write_bytes(pngs[0].read_bytes())
        deep = work / "deep.mdsession"
        deep.write_text('{"format": "malaria-desktop-session", "version": 1, "model": ' + "[" * 200_000
                        + "]" * 200_000 + "}")
        nan = work / "nan.mdsession"
        nan.write_text('{"format": "malaria-desktop-session", "version": 1, "settings": {"rbc_per_ul": NaN}}')
        cases = [
            run(f"classify 2 x 16-bit 100 MP PNG ({pngs[0].stat().st_size // 1024} KB each)", CLASSIFY,
                "|".join(map(str, pngs)), str(work / "c.csv"), model),
            run("session with 3 giant boxes", LOAD_SESSION, str(giant_box_session(work / "giant.mdsession"))),
            run("deeply nested session", LOAD_SESSION, str(deep)),
            run("NaN session", LOAD_SESSION, str(nan)),
        ]
        if not args.skip_analyze:
            cases.append(run("analyze 1 x 16-bit 100 MP PNG", ANALYZE, str(pngs[0]), str(work / "out"), model))
        for name, peak_mb, seconds, code in cases:
            ok = 0 < peak_mb <= LIMIT_MB
            over |= not ok
            print(f"{name:55s} peak {peak_mb:7.0f} MB  {seconds:6.1f} s  exit {code}  {'ok' if ok else 'OVER'}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
