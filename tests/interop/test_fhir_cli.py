"""``analyze --fhir``: the Bundle's numbers are slide.csv's; a bad target fails clearly, the CSVs still land."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from malaria_desktop import __version__
from malaria_desktop.cli import main
from malaria_desktop.core.report.manifest import read_manifest, verify_folder
from malaria_desktop.core.synthetic import write_synthetic_smear
from malaria_desktop.interop import fhir_codes as codes


@pytest.fixture(scope="module")
def fields(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fields")
    for seed in (1, 2):
        write_synthetic_smear(folder / f"field{seed}.png", seed=seed)
    return folder


def slide_row(out: Path) -> dict[str, str]:
    with open(out / "slide.csv", encoding="utf-8-sig", newline="") as f:
        return next(csv.DictReader(f))


def values(bundle_path: Path) -> dict[str, dict]:
    text = bundle_path.read_text(encoding="utf-8")
    Bundle.model_validate_json(text)
    out = {}
    for entry in json.loads(text)["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "Observation":
            out[next(c["code"] for c in res["code"]["coding"] if c["system"] == codes.LOCAL)] = res
        else:
            out[res["resourceType"]] = res
    return out


def test_fhir_beside_the_report_equals_slide_csv(fields: Path, tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    out, bundle = tmp_path / "rep", tmp_path / "result.json"
    code = main(["analyze", str(fields), "--out", str(out), "--model", str(tiny_model_dir), "--fhir", str(bundle),
                 "--patient-id", "P-ü-42", "--slide-id", "S-1", "--rbc-per-ul", "4500000"])
    assert code == 0 and "FHIR Bundle:" in capsys.readouterr().out
    row, res = slide_row(out), values(bundle)
    assert res["parasitemia"]["valueQuantity"]["value"] == float(row["parasitemia_pct"])
    density = res["parasites-per-ul"].get("valueQuantity", {}).get("value")
    assert density == (float(row["parasites_per_ul"]) if row["parasites_per_ul"] else None)  # withheld alike
    components = res["parasitemia"].get("component", [])
    parts = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in components}
    for code, column in (("parasitemia-estimate", "parasitemia_estimate_pct"), ("parasitemia-ci-low",
                         "parasitemia_ci_low_pct"), ("parasitemia-ci-high", "parasitemia_ci_high_pct")):
        assert parts.get(code) == (float(row[column]) if row.get(column) else None)
    verdict = res.get("slide-result", {}).get("valueCodeableConcept", {}).get("coding", [{}])[0].get("code")
    assert verdict == {"parasites_seen": "260373001", "not_seen": "260415000", "indeterminate": "419984006"}.get(
        row.get("slide_result", ""))
    assert res["parasites-per-ul"]["component"][0]["valueQuantity"]["value"] == float(row["rbc_per_ul"]) == 4.5e6
    assert res["rbc-examined"]["valueQuantity"]["value"] == int(row["rbc_counted"]) > 0
    assert res["rbc-examined"]["component"][0]["valueQuantity"]["value"] == int(row["n_parasitized"])
    assert res["DiagnosticReport"]["status"] == "preliminary"  # analyze is automatic: never final
    assert res["DiagnosticReport"]["subject"]["identifier"]["value"] == "P-ü-42"
    assert res["Specimen"]["identifier"][0]["value"] == "S-1"
    assert res["Device"]["deviceName"][1]["name"].startswith("tiny-test-")  # the model card's name
    assert len(res["Device"]["identifier"][0]["value"]) == 64  # the model card's SHA-256
    assert res["Device"]["version"][0]["value"] == __version__
    assert sorted(p.name for p in out.iterdir()) == ["cells.csv", "images.csv", "manifest.json", "slide.csv"]


def test_fhir_inside_the_report_folder_is_listed_in_the_manifest(fields: Path, tiny_model_dir: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "rep"
    argv = ["analyze", str(fields), "--out", str(out), "--model", str(tiny_model_dir),
            "--fhir", str(out / "slide.fhir.json")]
    assert main(argv) == 0
    assert "slide.fhir.json" in read_manifest(out)["files"] and verify_folder(out) == []
    assert values(out / "slide.fhir.json")["parasitemia"]["valueQuantity"]["value"] == float(
        slide_row(out)["parasitemia_pct"])
    assert main(argv) == 0  # a re-run replaces the folder, Bundle included (not refused as a foreign file)


@pytest.mark.parametrize("target", ["folder", "missing"])
def test_bad_fhir_target_fails_clearly_and_the_csvs_are_still_written(target: str, fields: Path,
                                                                      tiny_model_dir: Path, tmp_path: Path,
                                                                      capsys) -> None:
    out = tmp_path / "rep"
    bad = tmp_path if target == "folder" else tmp_path / "no" / "such" / "b.json"
    before = sorted(tmp_path.iterdir())
    code = main(["analyze", str(fields), "--out", str(out), "--model", str(tiny_model_dir), "--fhir", str(bad)])
    err = capsys.readouterr().err
    assert code == 1
    assert "--fhir" in err and ("is a folder" in err or "does not exist" in err) and "were written" in err
    assert "Traceback" not in err
    assert verify_folder(out) == [] and slide_row(out)["rbc_counted"]
    assert sorted(tmp_path.iterdir()) == sorted([*before, out])  # no partial or temporary file anywhere
    assert not (tmp_path / "no").exists()


def test_fhir_cannot_replace_a_report_file(fields: Path, tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "rep"
    code = main(["analyze", str(fields), "--out", str(out), "--model", str(tiny_model_dir),
                 "--fhir", str(out / "slide.csv")])
    assert code == 2 and "would replace" in capsys.readouterr().err and not out.exists()
