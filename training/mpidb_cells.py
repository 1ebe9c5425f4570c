"""MP-IDB's P. falciparum infected-cell crops as a training folder: parasitized cells of a third lab.

Why: every other lab here is healthy, so the model had learnt "foreign look = uninfected" and found 22 %
of MP-IDB's parasitized cells (issue 18). MP-IDB's crops (``../shared/data/mpidb_pf_crops``, cut onto
black by the data set's authors like the NIH crops) give it parasites in a foreign lab's stain and size.
This writes, without copying any image:
- ``OUT/Parasitized/<name>.png``: symbolic links to the crops whose longest side is >= 40 px (the data
  set's README: smaller ones are mask fragments; teaching "fragment = parasitized" would be wrong);
- ``OUT/patients.csv``: file -> ``mpidb:<slide>`` (a slide stays in one split), appended to the
  other labs' map given with ``--extend``;
- ``--keep-split``: an earlier split.csv with MP-IDB's slides assigned by hand (``TEST_SLIDES``,
  ``VAL_SLIDES``): 10 slides of very unequal size (3 hold 80 % of the crops) dealt by the cell-fraction
  splitter gave a 3-cell test set. The test slide is the one with the smallest cells (median 45 px), the
  hardest case measured.

    python -m training.mpidb_cells --out runs/mpidb --extend runs/foreign/patients.csv \
        --keep-split trained_model/split.csv --split-out runs/keep_split_mpidb.csv
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

DEFAULT_SOURCE = Path("../shared/data/mpidb_pf_crops")
MIN_SIDE = 40
TEST_SLIDES = {"1701151546"}
VAL_SLIDES = {"1405022890", "1409171742"}


def link_crops(source: Path, out: Path) -> list[tuple[str, str]]:
    """Link the whole-cell crops into ``out/Parasitized``; (file name, patient) rows."""
    folder = out / "Parasitized"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    with open(source / "manifest.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if max(int(r["width"]), int(r["height"])) < MIN_SIDE:
                continue
            link = folder / Path(r["path"]).name
            if not link.exists():
                os.symlink((source / r["path"]).resolve(), link)
            rows.append((link.name, f"mpidb:{r['slide']}"))
    return rows


def keep_split(old: Path, new: Path, patients: set[str]) -> None:
    """``old`` split.csv plus one row per MP-IDB slide, assigned by ``TEST_SLIDES``/``VAL_SLIDES``."""
    with open(old, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    for p in sorted(patients):
        slide = p.split(":", 1)[1]
        name = "test" if slide in TEST_SLIDES else "val" if slide in VAL_SLIDES else "train"
        rows.append(["3", f"Parasitized/{slide}", "1", p, name])  # only the patient -> split mapping is read
    with open(new, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="the MP-IDB crops folder")
    parser.add_argument("--out", type=Path, required=True, help="training folder to write (links only)")
    parser.add_argument("--extend", type=Path, help="patients.csv of other labs to include in OUT/patients.csv")
    parser.add_argument("--keep-split", type=Path, help="split.csv whose patients keep their split")
    parser.add_argument("--split-out", type=Path, help="where to write that split plus MP-IDB's slides")
    args = parser.parse_args()
    rows = link_crops(args.source, args.out)
    lines = args.extend.read_text(encoding="utf-8").splitlines()[1:] if args.extend else []
    with open(args.out / "patients.csv", "w", newline="", encoding="utf-8") as fh:
        fh.write("file,patient\n" + "".join(line + "\n" for line in lines))
        csv.writer(fh).writerows(rows)
    if args.keep_split and args.split_out:
        keep_split(args.keep_split, args.split_out, {p for _, p in rows})
    print(f"mpidb: {len(rows)} crops >= {MIN_SIDE} px from {len({p for _, p in rows})} slides", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
