"""Issue 13 target: kill -9 at random moments, 30 times on ``analyze`` and 30 on export; every folder
must hold exactly one consistent run (``benchmarks/fault_injection.py`` does the work)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from benchmarks.fault_injection import analyze_loop, export_loop, make_fields

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")]


@pytest.mark.parametrize("loop", [analyze_loop, export_loop], ids=["analyze", "export"])
def test_kill_loop_leaves_one_consistent_run(loop, tiny_model_dir: Path, tmp_path: Path) -> None:
    fields = make_fields(tmp_path, n=3)
    stats = loop(tmp_path, tiny_model_dir, fields, 30, random.Random(7))
    assert stats["runs"] == 30 and stats.get("killed", 0) >= 5, stats
    assert stats.get("consistent", 0) == 30, stats
    assert not stats.get("inconsistent") and not stats.get("leftovers") and not stats.get("crashed"), stats
