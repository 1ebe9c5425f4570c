"""What the not-a-cell step costs: cells/s of its context crops + ONNX Runtime, and segmentation with it on.

Synthetic fields (``core.synthetic``) of the throughput benchmark's sizes; the pipeline's own options
(``keep_wbc_regions`` on) and the model folder's ``not_a_cell.onnx``. Best of R; process CPU time too
(steadier than wall time on a shared machine).

    .venv/bin/python -m benchmarks.not_a_cell_speed [--model trained_model] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common import ROOT
from malaria_desktop.core.classification.not_a_cell import NotACellModel  # noqa: E402
from malaria_desktop.core.segmentation.engine import segment_cells  # noqa: E402
from malaria_desktop.core.segmentation.options import SegmentationOptions  # noqa: E402
from malaria_desktop.core.synthetic import generate_smear  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "trained_model"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    model = NotACellModel.load(args.model, threads=args.threads)
    if model is None:
        print(f"no not_a_cell.onnx in {args.model}")
        return 1
    opts = SegmentationOptions(keep_wbc_regions=True)
    for w, h, d in ((1280, 960, 60.0), (5312, 2988, 130.0)):
        image = generate_smear(seed=1, width=w, height=h, cell_diameter=d).image
        seg_s, step_s, cpu_s = [], [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            seg = segment_cells(image, opts)
            t1, c1 = time.perf_counter(), time.process_time()
            p = model.predict(model.crops(image, seg.cells, seg.cell_diameter_px))
            t2, c2 = time.perf_counter(), time.process_time()
            seg_s.append(t1 - t0)
            step_s.append(t2 - t1)
            cpu_s.append(c2 - c1)
        n = len(seg.cells)
        print(f"{w}x{h}: {n} regions | segment (keep_wbc_regions) best {1e3 * min(seg_s):.0f} ms | not-a-cell step "
              f"best {1e3 * min(step_s):.1f} ms = {n / max(min(step_s), 1e-9):,.0f} cells/s "
              f"({args.threads} thread; CPU best {1e3 * min(cpu_s):.1f} ms = "
              f"{n / max(min(cpu_s), 1e-9):,.0f} cells per CPU-second) | "
              f"called not-a-cell {int((p >= model.threshold).sum())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
