"""What every benchmark shares: where the repository and the shared data sets are.

Why a module: each script used to compute its own root and insert it into ``sys.path``; run as
``python -m benchmarks.X`` from the repository root, the packages (``malaria_desktop``, ``training``,
``tests.helpers``, ``benchmarks``) import as they are, and child interpreters a benchmark starts import the
editable install (``make install``), so no script edits ``sys.path``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository
DATA = ROOT.parent / "shared" / "data"  # the shared, read-only data sets (see its README.md)
DOCS = ROOT / "docs"
