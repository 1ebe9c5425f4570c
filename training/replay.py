"""Write ``replay.npz`` beside a model folder: a compact sample of its TRAINING cells for calibration.

Why: ``malaria-desktop calibrate`` mixes these cells into every fine-tuning batch (with the base model's
own outputs as soft targets) so a lab's calibration keeps the base behaviour on the original data. The
file is derived from the data set, so it is never committed or bundled: a lab (or a developer) that has
the data creates it locally; without it calibration relies on the L2 pull and soft targets alone.

    python -m training.replay MODEL_DIR --data /path/to/nih_cells/cell_images [--cells 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from malaria_desktop.core.calibration.calibrate import REPLAY_FILE
from malaria_desktop.core.classification.model_card import load_model_card
from training.data import decode_crops
from training.split import read_split


def write_replay(model_dir: Path, roots: list[Path], cells: int = 2000, seed: int = 0) -> Path:
    """Balanced random TRAIN-split cells of ``model_dir/split.csv`` at the model's input size."""
    card = load_model_card(model_dir)
    samples, names = read_split(model_dir / "split.csv")
    train = [s for s, n in zip(samples, names, strict=False) if n == "train" and s.root < len(roots)]
    rng = np.random.default_rng(seed)
    chosen = []
    for label in (0, 1):
        pool = [s for s in train if s.label == label]
        chosen += [pool[i] for i in rng.permutation(len(pool))[: cells // 2]]
    crops = decode_crops([roots[s.root] / s.rel for s in chosen], card.input_size)
    out = model_dir / REPLAY_FILE
    np.savez_compressed(out, crops=crops, labels=np.array([s.label for s in chosen], np.int64))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--data", type=Path, action="append", required=True,
                    help="the training data folder(s), in the order of split.csv's root column")
    ap.add_argument("--cells", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = write_replay(args.model_dir, args.data, args.cells, args.seed)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); do not commit it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
