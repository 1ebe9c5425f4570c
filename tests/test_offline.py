"""Nothing leaves the PC (issue 24, high): dependency telemetry is off before the dependency loads, and
``analyze``, ``calibrate`` and the window, observed with a fresh home, make no call outside loopback.

The observation (socket guard + ``strace`` + the fresh home's ``.cache``) is ``benchmarks/offline_trace.py``;
the bare-library control shows it catches ONNX Runtime's client when the package's switch is absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from benchmarks.offline_trace import CONTROL, observed_env, outside_calls, run_observed
from malaria_desktop.offline import OFFLINE_ENVIRONMENT

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "trained_model" / "model.onnx"
FROZEN_ENTRY = ROOT / "packaging" / "frozen_entry.py"


def _fresh_home_run(tmp_path: Path, code: str) -> list[str]:
    """Run ``code`` with a fresh home and ORT_DISABLE_TELEMETRY=0 inherited; return files under its .cache."""
    home = tmp_path / "home"
    home.mkdir()
    env = observed_env(home, tmp_path, tmp_path / "guard.log")
    env["ORT_DISABLE_TELEMETRY"] = "0"  # a user's shell asking for telemetry must not win
    proc = subprocess.run([sys.executable, "-c", code, str(MODEL), "0"], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()]


def test_onnxruntime_alone_writes_its_telemetry_cache(tmp_path: Path) -> None:
    """The control: without the package, ONNX Runtime's client starts (device ID under ~/.cache)."""
    assert any(".onnxruntime" in f for f in _fresh_home_run(tmp_path, CONTROL))


def test_importing_the_package_first_keeps_onnxruntime_quiet(tmp_path: Path) -> None:
    assert _fresh_home_run(tmp_path, "import malaria_desktop\n" + CONTROL) == []


def test_switches_are_forced_in_the_package_and_the_frozen_entry() -> None:
    code = ("import os, runpy, sys\n"
            "import malaria_desktop\n"
            "print(sorted((k, os.environ[k]) for k in malaria_desktop.offline.OFFLINE_ENVIRONMENT))\n"
            "for k in malaria_desktop.offline.OFFLINE_ENVIRONMENT: os.environ[k] = 'x'\n"
            f"sys.argv = ['malaria-desktop', '--version']; ns = runpy.run_path({str(FROZEN_ENTRY)!r})\n"
            "try:\n    ns['main']()\nexcept SystemExit:\n    pass\n"
            "print(sorted((k, os.environ[k]) for k in malaria_desktop.offline.OFFLINE_ENVIRONMENT))\n")
    env = {**os.environ, "ORT_DISABLE_TELEMETRY": "0", "RAY_USAGE_STATS_ENABLED": "1"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    expected = str(sorted(OFFLINE_ENVIRONMENT.items()))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert lines == [expected, expected], proc.stdout + proc.stderr
    assert OFFLINE_ENVIRONMENT["ORT_DISABLE_TELEMETRY"] == "1"
    assert OFFLINE_ENVIRONMENT["RAY_USAGE_STATS_ENABLED"] == "0"


def test_trace_parser_counts_outside_addresses_and_name_lookups() -> None:
    trace = "\n".join([
        '1 connect(9, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 0',
        '1 connect(8, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT',
        '1 connect(3, {sa_family=AF_INET6, sin6_port=htons(443), inet_pton(AF_INET6, "2603:1030::1", &x)}) = 0',
        '1 connect(5, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
        '1 connect(6, {sa_family=AF_UNIX, sun_path="/tmp/.X11-unix/X0"}, 110) = 0',
        '1 socketpair(AF_UNIX, SOCK_STREAM, 0, [3, 4]) = 0',
    ])
    assert len(outside_calls(trace)) == 3


CHILD = r"""
import sys, time
from malaria_desktop.cli import main
start = time.monotonic()
fields, out, export, site, base = sys.argv[1:6]
codes = [main(["analyze", fields, "--out", out]), main(["calibrate", export, "--out", site, "--model", base])]
time.sleep(max(0.0, 12 - (time.monotonic() - start)))  # ONNX Runtime's client woke after ~10 s (audit)
print("CODES", codes)
"""


@pytest.mark.slow
def test_analyze_calibrate_and_window_make_no_network_call(tmp_path: Path) -> None:
    from malaria_desktop.core.synthetic import write_synthetic_smear
    from tests.helpers.calibration_cells import foreign, pretrained_base, synthetic_cells
    from tests.test_calibrate_cli import write_export

    fields = tmp_path / "fields"
    fields.mkdir()
    for i in range(3):
        write_synthetic_smear(fields / f"f{i}.png", seed=i, width=480, height=360)
    crops, labels, _ = synthetic_cells(range(6))
    base = pretrained_base(tmp_path / "base", crops, labels)
    crops, labels, names = synthetic_cells(range(200, 210))
    export = write_export(tmp_path / "lab export", foreign(crops, seed=3), labels, names)
    cli_args = ["-c", CHILD, str(fields), str(tmp_path / "out"), str(export), str(tmp_path / "site"), str(base)]
    gui_args = ["-m", "malaria_desktop", "gui", str(fields), "--quit-after", "11"]
    with ThreadPoolExecutor(2) as pool:
        cli_run = pool.submit(run_observed, cli_args, tmp_path / "cli", 300)
        gui_run = pool.submit(run_observed, gui_args, tmp_path / "gui", 300)
        cli, gui = cli_run.result(), gui_run.result()
    assert cli.returncode == 0 and "CODES [0, 0]" in cli.output, cli.output
    assert gui.returncode == 0, gui.output
    assert cli.seconds > 10 and gui.seconds > 10
    for obs in (cli, gui):
        assert obs.network == [] and obs.guard == [] and obs.cache == [], (obs.network, obs.guard, obs.cache)
        assert obs.traced or shutil.which("strace") is None
