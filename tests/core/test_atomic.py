"""core.atomic: single files and whole folders are written all-or-nothing (issue 13 items 3, 10, 13)."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from malaria_desktop.core import atomic
from malaria_desktop.core.atomic import AtomicFolder, atomic_open, check_target, recover_folder, write_bytes, write_text
from malaria_desktop.core.errors import UnsafeTargetError

ROOT = Path(__file__).resolve().parents[2]
posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs, permissions and kill -9 are POSIX")


def test_write_replaces_and_uses_normal_permissions(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    write_text(path, "one")
    write_text(path, "two")
    assert path.read_text() == "two"
    assert os.listdir(tmp_path) == ["a.csv"]
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == atomic.FILE_MODE  # not mkstemp's 0600
        os.chmod(path, 0o640)
        write_bytes(path, b"three")
        assert stat.S_IMODE(path.stat().st_mode) == 0o640  # a replaced file keeps its own mode


def test_failure_mid_write_keeps_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "slide.csv"
    write_text(path, "old")
    with pytest.raises(RuntimeError):
        with atomic_open(path, "w") as handle:
            handle.write("half")
            raise RuntimeError("boom")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["slide.csv"]


def test_full_disk_keeps_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.png"
    write_bytes(path, b"old")

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        write_bytes(path, b"new")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["x.png"]


def test_every_write_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: calls.append(fd) or real(fd))
    write_bytes(tmp_path / "a.png", b"\x89PNG")
    assert len(calls) >= 1 + (os.name == "posix")  # the file, then its folder


@posix_only
def test_refuses_symlinks_fifos_and_device_nodes(tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_text("keep")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for target in (link, fifo, Path("/dev/null"), tmp_path):
        with pytest.raises(UnsafeTargetError):
            write_text(target, "x")
    assert real.read_text() == "keep" and link.is_symlink() and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    with pytest.raises(UnsafeTargetError):
        check_target("/dev/null")
    assert check_target(tmp_path / "new.csv") == tmp_path / "new.csv"


@posix_only
def test_temp_file_of_a_killed_writer_is_cleaned_by_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "cells.csv"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from malaria_desktop.core.atomic import atomic_open
        with atomic_open({str(path)!r}, "wb") as h:
            h.write(b"x" * 1000); h.flush(); print("writing", flush=True); time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "writing"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    leftovers = [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    assert len(leftovers) == 1 and not path.exists()
    write_text(path, "done")
    assert os.listdir(tmp_path) == ["cells.csv"]


def test_folder_swap_leaves_no_file_of_the_older_run(tmp_path: Path) -> None:
    out = tmp_path / "report"
    with AtomicFolder(out) as stage:
        write_text(stage / "slide.csv", "patient A")
        (stage / "annotated").mkdir()
        write_bytes(stage / "annotated" / "01_a.png", b"A")
    with AtomicFolder(out) as stage:
        write_text(stage / "slide.csv", "patient B")
    assert (out / "slide.csv").read_text() == "patient B"
    assert sorted(os.listdir(out)) == ["slide.csv"]  # annotated/01_a.png of patient A is gone
    assert os.listdir(tmp_path) == ["report"]  # no staging or old folders left


def test_failed_folder_write_keeps_previous_run_whole(tmp_path: Path) -> None:
    out = tmp_path / "report"
    with AtomicFolder(out) as stage:
        write_text(stage / "slide.csv", "A")
        write_text(stage / "cells.csv", "A cells")
    with pytest.raises(OSError):
        with AtomicFolder(out) as stage:
            write_text(stage / "cells.csv", "B cells")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert (out / "slide.csv").read_text() == "A" and (out / "cells.csv").read_text() == "A cells"
    assert os.listdir(tmp_path) == ["report"]


def test_folder_with_foreign_files_is_refused_untouched(tmp_path: Path) -> None:
    docs = tmp_path / "Documents"
    docs.mkdir()
    (docs / "thesis.docx").write_text("precious")
    with pytest.raises(UnsafeTargetError, match="other files"):
        with AtomicFolder(docs, allowed=frozenset({"slide.csv"})) as stage:
            write_text(stage / "slide.csv", "x")
    assert os.listdir(docs) == ["thesis.docx"] and os.listdir(tmp_path) == ["Documents"]


def test_recover_folder_after_a_kill_between_the_two_renames(tmp_path: Path) -> None:
    out = tmp_path / "report"
    old = tmp_path / ".report.old-999999999-abcd.tmp"  # pid that cannot exist
    old.mkdir()
    (old / "slide.csv").write_text("previous run")
    recover_folder(out)
    assert (out / "slide.csv").read_text() == "previous run" and os.listdir(tmp_path) == ["report"]


def test_stale_staging_folder_is_removed(tmp_path: Path) -> None:
    out = tmp_path / "report"
    stale = tmp_path / ".report.new-999999999-abcd.tmp"
    stale.mkdir()
    (stale / "cells.csv").write_text("half")
    with AtomicFolder(out) as stage:
        write_text(stage / "slide.csv", "x")
    assert os.listdir(tmp_path) == ["report"]


def test_current_folder_is_never_swapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for target in (Path("."), tmp_path):
        with pytest.raises(UnsafeTargetError, match="current folder"):
            with AtomicFolder(target) as stage:
                write_text(stage / "slide.csv", "x")
    assert os.listdir(work) == [] and work.is_dir()


def test_clean_stale_temps_in_folder_keeps_live_writers(tmp_path: Path) -> None:
    dead = tmp_path / ".a.mdsession.999999999-abcd.tmp"
    dead.write_text("half")
    stage = tmp_path / ".report.new-999999999-abcd.tmp"
    stage.mkdir()
    live = tmp_path / f".b.csv.{os.getpid()}-abcd.tmp"
    live.write_text("writing")
    removed = atomic.clean_stale_temps_in(tmp_path)
    assert sorted(p.name for p in removed) == sorted([dead.name, stage.name])
    assert os.listdir(tmp_path) == [live.name]
