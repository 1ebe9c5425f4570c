"""Smoke test of the frozen PyInstaller build (``make bundle`` -> ``dist/malaria-desktop/``).

What a clinic PC does with the folder, reproduced: the folder is copied to a path with spaces and made
read-only (``chmod -R a-w``); HOME/XDG/``MALARIA_DESKTOP_DATA`` point at a temporary user profile. Then
- ``analyze`` on synthetic smears with the *bundled* model writes the three CSVs, byte-identical to what the
  source checkout's ``python -m malaria_desktop analyze`` writes for the same images and model;
- ``classify`` gives the same CSV as the source checkout too;
- the GUI starts offscreen with ``gui --quit-after 2`` and exits 0, writing its log into the user data dir;
- nothing at all was written into the program folder. Tests may run as root, for whom ``chmod a-w`` denies
  nothing, so this is checked directly with a before/after snapshot of the folder, not by relying on EACCES.
Also checked: the training stack, tkinter and matplotlib are not inside (folders nor frozen archive).

Skipped only when no bundle was built; under CI (``CI`` set) a missing bundle is an error instead,
because ``.ci/run`` builds it first (whenever a model is committed: without one there is nothing to bundle).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "dist" / "malaria-desktop"
EXE_NAME = "malaria-desktop.exe" if sys.platform == "win32" else "malaria-desktop"
CSV_NAMES = ("images.csv", "cells.csv", "slide.csv")
FORBIDDEN = ("tensorflow", "keras", "tf2onnx", "training", "tkinter", "_tkinter", "matplotlib")
RUN_TIMEOUT_S = 180

MODEL_COMMITTED = all((ROOT / "trained_model" / n).is_file() for n in ("model.onnx", "model_card.json"))
if not (BUNDLE / EXE_NAME).is_file() and os.environ.get("CI") and MODEL_COMMITTED:
    raise RuntimeError(f"CI must build the bundle before testing it: {BUNDLE / EXE_NAME} is missing (make bundle)")

pytestmark = [
    pytest.mark.bundle,
    pytest.mark.slow,
    pytest.mark.skipif(not (BUNDLE / EXE_NAME).is_file(), reason="no frozen build: run `make bundle` first"),
]


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry below ``folder`` with its size and mtime (ns): any write shows up as a difference."""
    snap = {}
    for path in [folder, *folder.rglob("*")]:
        st = path.lstat()
        snap[path.relative_to(folder).as_posix()] = (st.st_size, st.st_mtime_ns)
    return snap


def _set_writable(folder: Path, writable: bool) -> None:
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        new = mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        os.chmod(path, new)


def _drop_privileges() -> list[str]:
    """Command prefix that runs the frozen program as ``nobody`` when the tests run as root.

    Root ignores file permissions, so without this ``chmod -R a-w`` would prove nothing. Elsewhere (a
    normal user, Windows) the program simply runs as the current user, for whom the chmod is real.
    """
    if getattr(os, "geteuid", lambda: -1)() == 0 and shutil.which("setpriv"):
        return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    return []


def _chmod_tree(folder: Path, dirs: int, files: int) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, dirs if path.is_dir() else files)


@pytest.fixture(scope="module")
def clinic() -> Iterator[Path]:
    """A clinic PC in a temp folder: read-only program folder, a user profile, inputs, outputs.

    Not under pytest's tmp_path (mode 0700 for root) so that ``nobody`` can reach it. On teardown the
    program folder must be byte-for-byte unchanged: the before/after snapshot is the check that also holds
    where permissions are not enforced.
    """
    base = Path(tempfile.mkdtemp(prefix="malaria bundle "))
    os.chmod(base, 0o755)
    program = base / "Program Files" / "Malaria Desktop"
    shutil.copytree(BUNDLE, program, symlinks=True)
    _set_writable(program, False)
    for name in ("home dir", "outputs"):
        (base / name).mkdir()
        os.chmod(base / name, 0o777)
    before = _snapshot(program)
    try:
        yield base
        assert _snapshot(program) == before, "the frozen program wrote into its own folder"
    finally:
        _set_writable(program, True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def installed(clinic: Path) -> Path:
    """The bundle as a technician gets it: under a path with spaces, read-only."""
    return clinic / "Program Files" / "Malaria Desktop"


@pytest.fixture(scope="module")
def user_env(clinic: Path) -> dict[str, str]:
    """A fresh user profile: everything the app writes must land under it."""
    home = clinic / "home dir"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALARIA_DESKTOP_")}
    env.update(
        HOME=str(home), USERPROFILE=str(home), LOCALAPPDATA=str(home / "AppData" / "Local"),
        XDG_DATA_HOME=str(home / ".local" / "share"), XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"), MALARIA_DESKTOP_DATA=str(home / "malaria data"),
        QT_QPA_PLATFORM="offscreen", PYTHONDONTWRITEBYTECODE="1",
    )
    return env


@pytest.fixture(scope="module")
def smears(clinic: Path) -> Path:
    """Two synthetic thin-smear fields in a folder whose name has spaces."""
    from malaria_desktop.core.synthetic import write_synthetic_smear

    folder = clinic / "inputs" / "slide 7 fields"
    folder.mkdir(parents=True)
    for seed in (11, 12):
        write_synthetic_smear(folder / f"field {seed}.png", seed=seed, width=640, height=480)
    _chmod_tree(clinic / "inputs", 0o755, 0o644)
    return folder


@pytest.fixture(scope="module")
def crops(clinic: Path) -> Path:
    """NIH-style single-cell crops: pink discs on black, half with a purple ring."""
    import cv2

    folder = clinic / "inputs" / "cell crops"
    folder.mkdir(parents=True)
    for i in range(4):
        img = np.zeros((90, 90, 3), np.uint8)
        cv2.circle(img, (45, 45), 38, (160, 120, 220), -1)  # BGR pink
        if i % 2:
            cv2.circle(img, (55, 35), 9, (140, 30, 80), 3)  # BGR purple ring
        cv2.imwrite(str(folder / f"cell_{i}.png"), img)
    _chmod_tree(clinic / "inputs", 0o755, 0o644)
    return folder


@pytest.fixture
def out_dir(clinic: Path, request: pytest.FixtureRequest) -> Path:
    """An output folder the (possibly unprivileged) frozen program may write."""
    folder = clinic / "outputs" / request.node.name
    folder.mkdir()
    os.chmod(folder, 0o777)
    return folder


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, f"{cmd} -> {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def _run_frozen(installed: Path, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The frozen program, from an unrelated working directory, unprivileged where possible."""
    return _run([*_drop_privileges(), str(installed / EXE_NAME), *args], env, cwd)


def _build_info_module():
    """packaging/build_info.py, loaded by path as build.spec loads it (packaging/ is not an import package)."""
    spec = importlib.util.spec_from_file_location("build_info", ROOT / "packaging" / "build_info.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _require_fresh_bundle() -> None:
    """Frozen and source outputs are only comparable when the bundle was built from these sources."""
    build_info = _build_info_module()
    built = build_info.read_build_info(BUNDLE / "_internal")["fingerprint"]
    if built != build_info.source_fingerprint(ROOT / "malaria_desktop"):
        pytest.fail("dist/malaria-desktop is stale: malaria_desktop/ changed since it was built; run `make bundle`")


def _bundled_model(installed: Path) -> Path:
    return installed / "_internal" / "trained_model"


def test_bundled_model_is_the_committed_one() -> None:
    """The model inside the build is the committed artifact (model.onnx + card, and the not-a-cell model with
    its card when committed), nothing else (no .keras, no split or report)."""
    bundled = BUNDLE / "_internal" / "trained_model"
    expected = sorted(["model.onnx", "model_card.json", *(n for n in ("not_a_cell.onnx", "not_a_cell_card.json")
                                                          if (ROOT / "trained_model" / n).is_file())])
    assert sorted(p.name for p in bundled.iterdir()) == expected
    for name in expected:
        assert (bundled / name).read_bytes() == (ROOT / "trained_model" / name).read_bytes(), name


def test_frozen_analyze_matches_source_checkout(installed: Path, user_env: dict[str, str], smears: Path,
                                                out_dir: Path, tmp_path: Path) -> None:
    _require_fresh_bundle()
    frozen_out, source_out = out_dir / "frozen out", tmp_path / "source out"
    proc = _run_frozen(installed, ["analyze", str(smears), "--out", str(frozen_out)], user_env, cwd=out_dir)
    assert "Analysed 2 images: 2 ok" in proc.stdout
    _run([sys.executable, "-m", "malaria_desktop", "analyze", str(smears), "--out", str(source_out),
          "--model", str(_bundled_model(installed))], user_env, cwd=ROOT)
    for name in CSV_NAMES:
        frozen_csv = (frozen_out / name).read_text(encoding="utf-8-sig")
        assert frozen_csv.count("\n") >= 2, f"{name} has no data rows"
        assert frozen_csv == (source_out / name).read_text(encoding="utf-8-sig"), f"{name} differs"
    assert "field 11.png" in (frozen_out / "cells.csv").read_text(encoding="utf-8-sig")
    # Both reports name the same engine: the frozen one from its build_info, the source one from the venv.
    frozen_engine = json.loads((frozen_out / "manifest.json").read_text(encoding="utf-8"))["engine"]
    assert frozen_engine == json.loads((source_out / "manifest.json").read_text(encoding="utf-8"))["engine"]
    assert frozen_engine["opencv-python-headless"] != "not installed"


def test_bundle_carries_the_locked_versions_the_tests_ran_on() -> None:
    """`make bundle` builds from the lock-installed venv: every locked package the bundle recorded has the
    version this test run uses (tests/test_lock.py checks the test run uses the lock)."""
    from malaria_desktop.versions import installed_distributions

    build_info = _build_info_module()
    recorded = build_info.read_build_info(BUNDLE / "_internal").get("packages")
    assert recorded, "build_info.json records no package versions: rebuild with `make bundle`"
    here = installed_distributions()
    lock = (ROOT / "requirements" / "lock.txt").read_text(encoding="utf-8")
    for name in ("numpy", "opencv-python-headless", "onnxruntime", "pillow", "pyside6-essentials", "pyinstaller"):
        assert recorded[name] == here[name], f"{name}: bundle {recorded[name]} vs tests {here[name]}"
        assert f"\n{name}=={recorded[name]}" in lock, f"{name}=={recorded[name]} is not the locked version"


def test_frozen_classify_matches_source_checkout(installed: Path, user_env: dict[str, str], crops: Path,
                                                 out_dir: Path, tmp_path: Path) -> None:
    _require_fresh_bundle()
    frozen_csv, source_csv = out_dir / "frozen.csv", tmp_path / "source.csv"
    _run_frozen(installed, ["classify", str(crops), "--csv", str(frozen_csv)], user_env, cwd=out_dir)
    _run([sys.executable, "-m", "malaria_desktop", "classify", str(crops), "--csv", str(source_csv),
          "--model", str(_bundled_model(installed))], user_env, cwd=ROOT)
    text = frozen_csv.read_text(encoding="utf-8-sig")
    assert text.count("\n") == 5  # header + 4 crops
    assert text == source_csv.read_text(encoding="utf-8-sig")


def test_frozen_gui_starts_offscreen_and_quits(installed: Path, user_env: dict[str, str], out_dir: Path) -> None:
    _run_frozen(installed, ["gui", "--quit-after", "2"], user_env, cwd=out_dir)
    log_file = Path(user_env["MALARIA_DESKTOP_DATA"]) / "logs" / "malaria-desktop.log"
    assert log_file.is_file(), "the GUI must log into the user data dir, not next to the program"


def test_frozen_version_and_help(installed: Path, user_env: dict[str, str], out_dir: Path) -> None:
    import malaria_desktop

    assert malaria_desktop.__version__ in _run_frozen(installed, ["--version"], user_env, out_dir).stdout
    assert "analyze" in _run_frozen(installed, ["--help"], user_env, out_dir).stdout


def test_program_folder_is_really_read_only_for_the_program(installed: Path, user_env: dict[str, str],
                                                            out_dir: Path) -> None:
    """Guards the guard: the frozen program's own user cannot create files in its folder here."""
    if sys.platform == "win32":
        pytest.skip("POSIX permissions; on Windows the before/after snapshot is the check")
    if not _drop_privileges() and os.geteuid() == 0:
        pytest.skip("running as root without setpriv: only the before/after snapshot applies")
    probe = installed / "_internal" / "probe.txt"
    proc = subprocess.run([*_drop_privileges(), "sh", "-c", 'echo x > "$0"', str(probe)],
                          capture_output=True, text=True, cwd=out_dir)
    assert proc.returncode != 0 and "Permission denied" in proc.stderr, proc.stderr
    assert not probe.exists()


def test_no_training_stack_or_unused_toolkits_inside() -> None:
    """Neither as collected folders nor as modules in the executable's frozen archive."""
    from PyInstaller.archive.readers import CArchiveReader, ZlibArchiveReader

    internal = BUNDLE / "_internal"
    top_level = {p.name.split(".")[0].lower() for p in internal.iterdir()}
    assert not top_level & set(FORBIDDEN)
    archive = CArchiveReader(str(BUNDLE / EXE_NAME))
    pyz_name = next(name for name in archive.toc if name.endswith(".pyz"))
    modules = _pyz_modules(archive, pyz_name, ZlibArchiveReader)
    roots = {name.split(".")[0] for name in modules}
    assert "malaria_desktop" in roots and "onnxruntime" in roots
    assert not roots & set(FORBIDDEN), sorted(roots & set(FORBIDDEN))
    # Qt bindings are extension modules next to the archive (PySide6/QtCore.abi3.so, QtCore.pyd ...)
    qt_modules = {p.name.split(".")[0] for p in (internal / "PySide6").glob("Qt*.*")}
    assert {"QtCore", "QtGui", "QtWidgets"} <= qt_modules
    assert qt_modules <= {"QtCore", "QtGui", "QtWidgets"} | _qt_modules_named_in_source(), qt_modules
    assert not list(internal.rglob("translations/*.qm")), "Qt translations should be filtered out"


def _pyz_modules(archive, pyz_name: str, reader_cls) -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frozen.pyz"
        path.write_bytes(archive.extract(pyz_name))
        return list(reader_cls(str(path)).toc)


def _qt_modules_named_in_source() -> set[str]:
    import re

    text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "malaria_desktop").rglob("*.py"))
    return set(re.findall(r"PySide6\.(Qt\w+)", text))


@pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("ldd"), reason="ELF/ldd check")
def test_no_pruned_library_is_still_needed() -> None:
    """build.spec prunes libraries nobody links to; no bundled binary may miss one of them at load time."""
    build_info = _build_info_module()
    internal = BUNDLE / "_internal"
    pruned = set(build_info.read_build_info(internal)["pruned"])
    env = {**os.environ, "LD_LIBRARY_PATH": f"{internal}:{internal / 'PySide6' / 'Qt' / 'lib'}"}
    missing: dict[str, list[str]] = {}
    for path in internal.rglob("*.so*"):
        if path.is_symlink() or not path.is_file():
            continue
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env).stdout
        for line in out.splitlines():
            if "not found" in line and line.split()[0].lower() in pruned:
                missing.setdefault(line.split()[0], []).append(path.name)
    assert not missing, missing


def test_bundle_size_guard() -> None:
    """Regression guard, not the issue's 300 MB target (see docs/packaging.md): catches e.g. TensorFlow sneaking in."""
    total = sum(p.stat().st_size for p in BUNDLE.rglob("*") if p.is_file() and not p.is_symlink())
    assert total < 420e6, f"bundle grew to {total / 1e6:.0f} MB"


def test_frozen_calibrate_writes_a_model_the_frozen_app_loads(installed: Path, user_env: dict[str, str],
                                                               clinic: Path, out_dir: Path) -> None:
    """``calibrate`` runs inside the build (no TensorFlow): a lab's reviewed crops -> a model folder that
    ``classify --model`` then loads. A tiny test-made base model keeps it quick (docs/calibration.md)."""
    import cv2

    from tests.helpers.calibration_cells import foreign, pretrained_base, synthetic_cells

    inputs = clinic / "inputs" / "calibration"
    crops, labels, _ = synthetic_cells(range(20))
    base = pretrained_base(inputs / "base model", crops, labels)
    lab_crops, lab_labels, fields = synthetic_cells(range(200, 208))
    for i, (crop, label, field) in enumerate(zip(foreign(lab_crops, seed=3), lab_labels, fields, strict=False)):
        folder = inputs / "lab export" / "crops" / ("Parasitized" if label else "Uninfected")
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"C{int(field[5:]) // 2:09d}_{field}_cell{i}.png"), crop[..., ::-1])
    _chmod_tree(inputs, 0o755, 0o644)
    site = out_dir / "site model"
    proc = _run_frozen(installed, ["calibrate", str(inputs / "lab export"), "--out", str(site), "--model", str(base),
                                   "--force"], user_env, clinic)
    assert "calibrated (out-of-fold)" in proc.stdout
    assert sorted(p.name for p in site.iterdir()) == ["model.onnx", "model_card.json"]
    _run_frozen(installed, ["classify", str(inputs / "lab export"), "--csv", str(out_dir / "c.csv"), "--model",
                            str(site)], user_env, clinic)
    assert (out_dir / "c.csv").read_text().count("\n") == len(lab_labels) + 1


def test_frozen_analyze_writes_a_valid_fhir_bundle(installed: Path, user_env: dict[str, str], smears: Path,
                                                   out_dir: Path) -> None:
    """The FHIR models load by name at run time: the build must carry them (bundle_helpers.fhir_modules)."""
    from fhir.resources.R4B.bundle import Bundle

    out = out_dir / "fhir out"
    _run_frozen(installed, ["analyze", str(smears), "--out", str(out), "--fhir", str(out / "slide.fhir.json"),
                            "--patient-id", "P-1", "--slide-id", "S-1"], user_env, cwd=out_dir)
    text = (out / "slide.fhir.json").read_text(encoding="utf-8")
    Bundle.model_validate_json(text)
    import csv

    with open(out / "slide.csv", encoding="utf-8-sig", newline="") as handle:
        row = next(csv.DictReader(handle))
    counted = [e["resource"]["valueQuantity"]["value"] for e in json.loads(text)["entry"]
               if e["resource"]["resourceType"] == "Observation"
               and e["resource"].get("valueQuantity", {}).get("code") == "{cells}"]
    assert counted == [int(row["rbc_counted"])]
