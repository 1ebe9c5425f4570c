"""The frozen build's entry script (packaging/frozen_entry.py) without building anything.

A windowed Windows executable starts with ``sys.stdout``/``sys.stderr`` = None; the entry script must make
printing, argparse errors and logging harmless there, and hand over to the same ``cli.main`` as the source.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY = ROOT / "packaging" / "frozen_entry.py"


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    prelude = f"import sys, runpy; sys.argv = ['malaria-desktop', *{list(args)!r}]\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)


def test_entry_runs_the_cli() -> None:
    proc = _run(f"runpy.run_path({str(ENTRY)!r}, run_name='__main__')", "--version")
    assert proc.returncode == 0, proc.stderr
    assert "malaria-desktop" in proc.stdout


def test_missing_streams_do_not_crash_cli_errors() -> None:
    """Windowed Windows build: no console. An argparse usage error must still exit 2, not raise."""
    code = (
        "sys.stdout = None; sys.stderr = None\n"
        f"ns = runpy.run_path({str(ENTRY)!r})\n"
        "rc = ns['main']()\n"
        "sys.__stdout__.write(f'rc={rc} stdout_is_none={sys.stdout is None}')\n"
    )
    proc = _run(code, "analyze", "--no-such-option")
    assert proc.returncode == 0, proc.stderr
    assert "rc=2 stdout_is_none=False" in proc.stdout


def test_finder_psn_argument_is_dropped_on_macos() -> None:
    code = (
        "sys.platform = 'darwin'\n"
        f"ns = runpy.run_path({str(ENTRY)!r})\n"
        "ns['_drop_finder_arguments'](); print(sys.argv[1:])\n"
    )
    proc = _run(code, "-psn_0_12345", "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['--version']"
