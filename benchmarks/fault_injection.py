"""Kill -9 at random moments during ``analyze`` and during an export; every folder must hold one run.

Why (issue 13 item 3): each CSV was atomic but the set was not, so a kill between files left a new
``cells.csv`` beside an old ``slide.csv``. This loop runs the real command (``python -m malaria_desktop
analyze``) and the export the GUI runs (``core.report.export.export_session``) in child processes, kills each
child with SIGKILL after a random delay (every third run is let finish, so the folder's content keeps
changing), and after every kill checks the folder:

- it is absent only before the first run ever finished; otherwise ``core.report.manifest.verify_folder`` is
  clean (every file listed, none extra, hashes equal) and the files agree with each other (images.csv
  counts = cells.csv rows per image = slide.csv total; export: slide.csv patient = session copy's,
  annotated PNGs and crops = what the CSVs and crop manifest list);
- after a run that finished, no staging or temp entry is left beside it.

    .venv/bin/python -m benchmarks.fault_injection [--runs 30] [--seed 1]

Prints one line per loop (runs, kills, consistent folders, seconds) and exits 1 on any inconsistency.
POSIX only (SIGKILL).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.common import ROOT
from malaria_desktop.core.report.manifest import read_manifest, verify_folder  # noqa: E402

EXPORT_CHILD = r"""
import sys
from malaria_desktop.core.report.export import export_session
from malaria_desktop.core.review.session import load_session
session = load_session(sys.argv[2])
session.metadata.patient_id = sys.argv[4]
keep = set(sys.argv[5].split("|"))
session.results = {k: r for k, r in session.results.items() if k in keep}
session.image_paths = [p for p in session.image_paths if str(p) in keep]
export_session(session, sys.argv[3], crops="all")
"""


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def check_analyze_folder(out: Path) -> list[str]:
    """Why ``out`` is not one consistent analyze run ([] when it is)."""
    problems = verify_folder(out)
    if problems:
        return problems
    images, cells, slide = _rows(out / "images.csv"), _rows(out / "cells.csv"), _rows(out / "slide.csv")
    per_image = Counter(c["image"] for c in cells)
    if len(images) != read_manifest(out).get("inputs"):
        problems.append("images.csv rows != inputs of this run")
    problems += [f"cells.csv rows != n_cells for {r['image']}" for r in images
                 if int(r["n_cells"]) != per_image[r["image"]]]
    if len(slide) != 1 or int(slide[0]["rbc_counted"]) != sum(int(r["n_cells"]) for r in images):
        problems.append("slide.csv total != sum of images.csv")
    return problems


def check_export_folder(out: Path) -> list[str]:
    """Why ``out`` is not one consistent export ([] when it is)."""
    problems = verify_folder(out)
    if problems:
        return problems
    slide = _rows(out / "slide.csv")
    session = json.loads((out / "session.mdsession").read_text(encoding="utf-8"))
    if len(slide) != 1 or slide[0]["patient_id"] != session["metadata"]["patient_id"]:
        problems.append("slide.csv patient != the session copy's patient")
    annotated = {r["annotated_png"] for r in _rows(out / "images.csv") if r["annotated_png"]}
    folder = out / "annotated"
    present = {f"annotated/{p.name}" for p in folder.glob("*.png")} if folder.is_dir() else set()
    if annotated != present:
        problems.append("annotated PNGs != images.csv")
    crops = {r["path"] for r in _rows(out / "crops" / "manifest.csv")}
    files = {p.relative_to(out / "crops").as_posix() for p in (out / "crops").rglob("*.png")}
    if crops != files:
        problems.append("crop files != crops/manifest.csv")
    return problems


def _leftovers(out: Path) -> list[str]:
    return [e for e in os.listdir(out.parent) if e.startswith(f".{out.name}.")]


def _kill_loop(runs: int, rng: random.Random, start, check, out: Path, full_time: float) -> dict[str, float]:
    """Start/kill ``runs`` children; returns counts. ``start(i)`` returns a Popen."""
    stats = Counter()
    t0 = time.perf_counter()
    for i in range(runs):
        child = start(i)
        finish = i % 3 == 2
        if finish:
            child.wait(timeout=300)
        else:
            time.sleep(rng.uniform(0.0, full_time * 1.1))
            if child.poll() is None:
                os.kill(child.pid, signal.SIGKILL)
                stats["killed"] += 1
            child.wait(timeout=60)
        if child.returncode not in (0, 1, -signal.SIGKILL):
            stats["crashed"] += 1
        if out.exists():
            problems = check(out)
            stats["consistent" if not problems else "inconsistent"] += 1
            if problems:
                print(f"run {i}: {problems}", file=sys.stderr)
        else:
            stats["absent"] += 1
        if finish and child.returncode in (0, 1) and _leftovers(out):
            stats["leftovers"] += 1
            print(f"run {i}: left {_leftovers(out)}", file=sys.stderr)
    stats["seconds"] = time.perf_counter() - t0
    stats["runs"] = runs
    return dict(stats)


def _timed(popen) -> float:
    t0 = time.perf_counter()
    child = popen()
    child.wait(timeout=300)
    if child.returncode not in (0, 1):
        raise RuntimeError(f"a full run failed: {child.returncode}")
    return time.perf_counter() - t0


def analyze_loop(work: Path, model: Path, fields: list[Path], runs: int, rng: random.Random) -> dict[str, float]:
    out = work / "analyze-report"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def popen(i: int = 0) -> subprocess.Popen:
        chosen = rng.sample(fields, rng.randint(1, len(fields))) if i else fields
        return subprocess.Popen([sys.executable, "-m", "malaria_desktop", "analyze", *map(str, chosen),
                                 "--out", str(out), "--model", str(model)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    full = _timed(popen)
    return _kill_loop(runs, rng, popen, check_analyze_folder, out, full)


def export_loop(work: Path, model: Path, fields: list[Path], runs: int, rng: random.Random) -> dict[str, float]:
    from malaria_desktop.core.classification.classifier import Classifier
    from malaria_desktop.core.pipeline import analyze_images, iter_results
    from malaria_desktop.core.review.session import Session, save_session

    session = Session()
    for result in iter_results(analyze_images(fields, Classifier.load(model))):
        session.set_result(result)
    saved = save_session(session, work / "slide.mdsession")
    out = work / "export"

    def popen(i: int = 0) -> subprocess.Popen:
        keys = rng.sample(list(session.results), rng.randint(1, len(session.results))) if i else list(session.results)
        return subprocess.Popen([sys.executable, "-c", EXPORT_CHILD, str(ROOT), str(saved), str(out),
                                 f"patient-{i}", "|".join(keys)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    full = _timed(popen)
    return _kill_loop(runs, rng, popen, check_export_folder, out, full)


def make_fields(folder: Path, n: int = 4) -> list[Path]:
    from malaria_desktop.core.synthetic import write_synthetic_smear

    paths = []
    for seed in range(n):
        paths.append(folder / f"field_{seed}.png")
        write_synthetic_smear(paths[-1], seed=seed, width=480, height=360, parasitized_fraction=0.2)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    from tests.helpers.tiny_model import make_tiny_model

    rng = random.Random(args.seed)
    failed = False
    with tempfile.TemporaryDirectory(prefix="fault-injection-") as tmp:
        work = Path(tmp)
        (work / "model").mkdir()
        model = make_tiny_model(work / "model", input_size=32, threshold=0.5)
        (work / "fields").mkdir()
        fields = make_fields(work / "fields")
        for name, loop in (("analyze", analyze_loop), ("export", export_loop)):
            stats = loop(work, model, fields, args.runs, rng)
            bad = stats.get("inconsistent", 0) + stats.get("leftovers", 0) + stats.get("crashed", 0)
            failed |= bool(bad)
            print(f"{name}: {stats['runs']} runs, {stats.get('killed', 0)} killed, "
                  f"{stats.get('consistent', 0)} consistent, {stats.get('absent', 0)} absent, "
                  f"{stats.get('inconsistent', 0)} inconsistent, {stats.get('leftovers', 0)} with leftovers, "
                  f"{stats['seconds']:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
