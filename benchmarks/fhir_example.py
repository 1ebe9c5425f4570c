"""The example FHIR Bundle of docs/fhir.md, made by the app itself from synthetic smears.

Usage: ``.venv/bin/python -m benchmarks.fhir_example [--out docs/fhir-example.json]``

Writes four synthetic fields (``core.synthetic``, no patient data), runs ``malaria-desktop analyze --fhir``
with the bundled model, checks that the Bundle parses with the ``fhir.resources`` R4B models and that its
numbers equal ``slide.csv``'s, and copies it to ``--out``. Prints the command it ran and the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import ROOT


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "fhir-example.json")
    args = parser.parse_args()
    from fhir.resources.R4B.bundle import Bundle

    from malaria_desktop.core.synthetic import write_synthetic_smear

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fields = [work / f"field{seed}.png" for seed in (1, 2, 3, 4)]  # > 500 red cells: a verdict is given
        for seed, field in enumerate(fields, start=1):
            write_synthetic_smear(field, seed=seed)
        command = [sys.executable, "-m", "malaria_desktop", "analyze", *map(str, fields),
                   "--out", str(work / "report"), "--fhir",
                   str(work / "report" / "slide.fhir.json"), "--patient-id", "P-2026-0042", "--slide-id", "S-117"]
        print("$ malaria-desktop " + " ".join(command[3:]).replace(str(work), "<tmp>"))
        proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        print(proc.stdout.strip())
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        text = (work / "report" / "slide.fhir.json").read_text(encoding="utf-8")
        Bundle.model_validate_json(text)
        with open(work / "report" / "slide.csv", encoding="utf-8-sig", newline="") as f:
            row = next(csv.DictReader(f))
        values = {e["resource"]["code"]["coding"][-1]["code"]: e["resource"].get("valueQuantity", {}).get("value")
                  for e in json.loads(text)["entry"] if e["resource"]["resourceType"] == "Observation"}
        for code, column in (("parasitemia", "parasitemia_pct"), ("parasites-per-ul", "parasites_per_ul"),
                             ("rbc-examined", "rbc_counted")):  # an empty CSV cell: no value in the Bundle
            assert values[code] == (float(row[column]) if row[column] else None), (code, values, row)
        print(f"Bundle valid (fhir.resources R4B); parasitemia {values['parasitemia']} %, "
              f"{values['parasites-per-ul']} /uL, {values['rbc-examined']} cells = slide.csv")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(work / "report" / "slide.fhir.json", args.out)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
