"""Autosave on a really full disk (not a simulated one): the last good file is offered after every save.

Why (issue 24, high): on a nearly full disk every autosave after the third failed and the main file had
already been moved away, so the crash was never offered. The unit tests simulate ENOSPC; this script
fills a real small file system instead (a tmpfs it mounts when run as root on Linux, or ``--folder`` on a
small volume you provide), leaves room for about ``--room`` session versions, then saves versions
1..N of a growing session. After each save it lets go of the lock (as a crash would) and asks a fresh
store what it would offer.

    sudo .venv/bin/python -m benchmarks.autosave_full_disk [--saves 30] [--room 2.5]
    .venv/bin/python -m benchmarks.autosave_full_disk --folder /media/small-usb-stick/x

Prints saves done / failed, and how often the offered version was the last one saved; exits 1 if any
offer was older than the last good save or missing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from malaria_desktop.core.review.session import Session, SessionMetadata, session_to_json  # noqa: E402
from malaria_desktop.qt.autosave import AutosaveStore  # noqa: E402


def version(n: int) -> Session:
    paths = [Path(f"slide/field_{i:05d}.png") for i in range(800 + 10 * n)]  # grows a little each time
    return Session(metadata=SessionMetadata(patient_id=f"v{n}"), image_paths=paths)


def fill(folder: Path, leave: int) -> None:
    """Fill the file system of ``folder`` until ``leave`` bytes are free."""
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with (folder / "filler.bin").open("wb") as handle:
        handle.write(b"\0" * max(0, free - leave))
        handle.flush()
        os.fsync(handle.fileno())


def offered(folder: Path) -> int | None:
    other = AutosaveStore(folder)
    try:
        latest = other.latest() if other.crashed() else None
        return int(other.load(latest).metadata.patient_id[1:]) if latest is not None else None
    finally:
        for path in list(other.crashed()):
            other.settle(path, "discarded")
        other.close()


def run(folder: Path, saves: int, room: float) -> int:
    size = len(session_to_json(version(saves)).encode())
    store_dir = folder / "autosave"
    store_dir.mkdir()
    fill(folder, int(room * size))
    store = AutosaveStore(store_dir)
    done = failed = right = 0
    last_good = None
    for n in range(1, saves + 1):
        try:
            store.save(version(n))
            done, last_good = done + 1, n
        except Exception as exc:  # noqa: BLE001 - SessionError on a full disk: counted, the run goes on
            failed += 1
            print(f"save {n} failed: {exc}")
        store._lock.unlock()  # as a crash would: the lock is free, the files stay
        got = offered(store_dir)
        right += got == last_good
        if got != last_good:
            print(f"after save {n}: offered v{got}, last good v{last_good}")
        store._lock.lock()
    print(f"{saves} saves on a disk with room for {room:g} versions ({size:,} bytes each): {done} written, "
          f"{failed} failed; the last good version offered {right}/{saves} times")
    store.close()
    return 0 if right == saves else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saves", type=int, default=30)
    parser.add_argument("--room", type=float, default=2.5, help="free space left, in session versions")
    parser.add_argument("--folder", type=Path, help="an empty folder on a small volume (default: a tmpfs)")
    args = parser.parse_args(argv)
    if args.folder is not None:
        return run(args.folder, args.saves, args.room)
    with tempfile.TemporaryDirectory(prefix="autosave-full-") as tmp:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", tmp], capture_output=True)
        if mounted.returncode != 0:
            print("could not mount a tmpfs (root on Linux needed); pass --folder on a small volume instead")
            return 2
        try:
            return run(Path(tmp), args.saves, args.room)
        finally:
            with contextlib.suppress(OSError):
                subprocess.run(["umount", tmp], check=False)


if __name__ == "__main__":
    sys.exit(main())
