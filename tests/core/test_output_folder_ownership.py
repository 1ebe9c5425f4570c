"""An output folder that is not ours is refused (issue 24, medium): hidden files (``.git/``, ``.notes.md``)
were deleted with the folder, and a ``manifest.json`` that is a FIFO hung ``analyze`` while one linked to
``/dev/zero`` was read without bound."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from malaria_desktop.cli import main
from malaria_desktop.core.atomic import AtomicFolder, write_text
from malaria_desktop.core.errors import UnsafeTargetError
from malaria_desktop.core.report import manifest
from malaria_desktop.core.report.manifest import read_manifest, unlisted_files, write_manifest
from malaria_desktop.core.synthetic import write_synthetic_smear


def _report(folder: Path) -> Path:
    folder.mkdir()
    write_text(folder / "slide.csv", "a")
    write_manifest(folder, "analyze")
    return folder


def _within(seconds: float, call):
    """``call()``'s result, failing (not hanging) when it takes longer than ``seconds``."""
    box: list = []

    def run() -> None:
        try:
            box.append(("value", call()))
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the test's thread
            box.append(("error", exc))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert box, f"still running after {seconds} s (blocked?)"
    kind, value = box[0]
    if kind == "error":
        raise value
    return value


@pytest.mark.parametrize("hidden", [".git/HEAD", ".notes.md"])
def test_a_hidden_entry_makes_the_folder_not_ours(tmp_path: Path, hidden: str) -> None:
    out = _report(tmp_path / "report")
    (out / hidden).parent.mkdir(exist_ok=True)
    (out / hidden).write_text("someone's")
    with pytest.raises(UnsafeTargetError, match="other files"):
        with AtomicFolder(out, allowed=frozenset({"slide.csv", "manifest.json"}), foreign=unlisted_files) as stage:
            write_text(stage / "slide.csv", "b")
    assert (out / hidden).read_text() == "someone's" and (out / "slide.csv").read_text() == "a"


@pytest.mark.parametrize("hidden", ["crops/.notes.md", "crops/.empty_folder/"])
def test_hidden_entries_deeper_down_are_not_ours_either(tmp_path: Path, hidden: str) -> None:
    out = tmp_path / "export"
    (out / "crops").mkdir(parents=True)
    write_text(out / "crops" / "a.png", "png")
    write_manifest(out, "export")
    if hidden.endswith("/"):
        (out / hidden).mkdir()
    else:
        (out / hidden).write_text("x")
    assert unlisted_files(out) == [hidden]


def test_analyze_refuses_an_out_folder_with_a_hidden_file(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    write_synthetic_smear(tmp_path / "a.png", seed=1, width=320, height=240)
    out = tmp_path / "notes"
    out.mkdir()
    (out / ".notes.md").write_text("precious")
    assert main(["analyze", str(tmp_path / "a.png"), "--out", str(out), "--model", str(tiny_model_dir)]) == 2
    assert "other files" in capsys.readouterr().err and os.listdir(out) == [".notes.md"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX thing")
def test_a_fifo_manifest_neither_hangs_nor_passes(tmp_path: Path) -> None:
    out = _report(tmp_path / "report")
    (out / "manifest.json").unlink()
    os.mkfifo(out / "manifest.json")
    assert _within(10, lambda: unlisted_files(out)) == ["manifest.json"]
    with pytest.raises(ValueError, match="not a regular file"):
        _within(10, lambda: read_manifest(out))
    with pytest.raises(UnsafeTargetError, match="other files"):
        _within(10, lambda: AtomicFolder(out, allowed=frozenset({"slide.csv", "manifest.json"}),
                                         foreign=unlisted_files).check())


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_manifest_linked_to_dev_zero_is_not_read(tmp_path: Path) -> None:
    out = _report(tmp_path / "report")
    (out / "manifest.json").unlink()
    (out / "manifest.json").symlink_to("/dev/zero")
    assert _within(10, lambda: unlisted_files(out)) == ["manifest.json"]
    with pytest.raises(ValueError, match="no readable manifest"):
        _within(10, lambda: read_manifest(out))


def test_an_oversized_manifest_is_not_read_whole(tmp_path: Path, monkeypatch) -> None:
    out = _report(tmp_path / "report")
    monkeypatch.setattr(manifest, "MAX_MANIFEST_BYTES", 64)
    with pytest.raises(ValueError, match="larger than"):
        read_manifest(out)
