"""Crop file I/O (``classify`` and training): its own module, FIFOs and oversized crops refused cheaply."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from malaria_desktop.core.classification.crop_io import MAX_CROP_PIXELS, iter_crop_batches, read_crop
from malaria_desktop.core.errors import ImageLoadError

ROOT = Path(__file__).resolve().parents[2]


def _png_header(path: Path, width: int, height: int, bit_depth: int = 16, colour_type: int = 2) -> None:
    """A small, well-formed PNG whose header claims a big 16-bit image (its IDAT is a few zeros)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_crop_io_does_not_pull_in_the_field_pipeline() -> None:
    code = ("import sys; import malaria_desktop.core.classification.crop_io; "
            "print(sorted(m for m in sys.modules if m.startswith('malaria_desktop.core.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert "pipeline" not in out and "segmentation" not in out


def test_fifo_is_an_error_row_not_a_hang(tmp_path: Path) -> None:
    """Issue 13 item 6: ``classify`` read a FIFO before any regular-file check and blocked forever."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    fifo = tmp_path / "cell.png"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(ImageLoadError, match="not a regular file"):
        read_crop(fifo, 32)
    batch = next(iter_crop_batches([fifo], 32))
    assert "not a regular file" in batch.errors[0] and time.monotonic() - start < 5


def test_oversized_crops_refused_before_decoding(tmp_path: Path) -> None:
    """Issue 13 item 7: two 100 MP 16-bit PNGs reached 5.85 GB decoded in parallel; now refused by header."""
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"huge_{i}.png")
        _png_header(paths[-1], 10_000, 10_000)
    tracemalloc.start()
    try:
        batch = next(iter_crop_batches(paths, 32))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert all("too large" in e for e in batch.errors) and len(batch.crops) == 0
    assert peak < 50 * 2**20


def test_crop_limit_still_reads_real_crops(tmp_path: Path) -> None:
    side = int(MAX_CROP_PIXELS**0.5)
    assert side >= 1024  # far above any RBC crop
    img = np.zeros((150, 130, 3), np.uint16)
    img[10:140, 10:120] = (40000, 20000, 30000)
    cv2.imwrite(str(tmp_path / "deep.png"), img)  # 16-bit: the careful path
    assert read_crop(tmp_path / "deep.png", 32).shape == (32, 32, 3)
