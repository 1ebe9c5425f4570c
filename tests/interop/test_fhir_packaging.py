"""The FHIR export stays out of start-up and gets into the frozen build (its models load by name)."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _helpers():
    spec = importlib.util.spec_from_file_location("bundle_helpers_fhir", ROOT / "packaging" / "bundle_helpers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_help_and_the_interop_modules_do_not_load_fhir_or_pydantic() -> None:
    code = ("import sys\nfrom malaria_desktop.cli import main\n"
            "import malaria_desktop.interop.fhir, malaria_desktop.interop.fhir_cli\n"
            "import malaria_desktop.interop.fhir_session\n"
            "try:\n    main(['analyze', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fhir', 'fhir_core', 'pydantic')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_every_model_the_export_loads_is_a_hidden_import_of_the_build() -> None:
    code = ("import sys\nfrom datetime import datetime, timezone\n"
            "from malaria_desktop.core.report.counts import ImageSummary, summarise_slide\n"
            "from malaria_desktop.interop.fhir import ModelInfo, SlideReport, bundle_json\n"
            "from malaria_desktop.interop.fhir_report import csv_row\n"
            "s = csv_row(summarise_slide([ImageSummary('a', 'ok', '', 10, 1, None, None)]))\n"
            "bundle_json(SlideReport(s, ModelInfo('m', 0.5, 'ab', True), '1', datetime.now(timezone.utc),\n"
            "    patient_id='p', slide_id='s', collected='2026-01-02', reviewed=True, reviewer='r', automatic=s))\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('fhir.resources'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = set(proc.stdout.split()) - {"fhir.resources"}
    helpers = _helpers()
    hidden = set(helpers.fhir_modules())
    assert loaded and loaded <= hidden
    assert "yaml" in helpers.EXCLUDES and "fhir.resources.STU3" in helpers.EXCLUDES
    for name in sorted(hidden)[:5]:
        importlib.import_module(name)  # names of real modules
