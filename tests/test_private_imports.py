"""No module reaches into another module's privates (issue 12 item 3): ``_name`` stays inside its module.

Why: ``report._num`` and ``report._counted`` used from export and review made the report's internals a
hidden API; a public helper (``format_number``, ``counted``) says it is meant to be shared.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("malaria_desktop", "training", "benchmarks")


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _own_module(module: str | None, level: int) -> bool:
    return level > 0 or (module or "").split(".")[0] in PACKAGES


def private_uses(source: str) -> list[str]:
    """``from our.module import _x`` and ``our_module._x`` (a name bound to one of our modules)."""
    tree = ast.parse(source)
    found: list[str] = []
    module_names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _own_module(node.module, node.level):
            for alias in node.names:
                if _is_private(alias.name):
                    found.append(f"from {'.' * node.level}{node.module or ''} import {alias.name}")
                module_names.add(alias.asname or alias.name)  # may be a module: checked below
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _own_module(alias.name, 0):
                    module_names.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in module_names and base.id not in ("self", "cls"):
                found.append(f"{ast.unparse(node)}")
    return found


def test_detector_catches_both_forms() -> None:
    src = ("from malaria_desktop.core.report.counts import _num\n"
           "from malaria_desktop.core.report import counts as report\n"
           "x = report._counted\nfrom .foreground import resize as _resize\n")
    assert private_uses(src) == ["from malaria_desktop.core.report.counts import _num", "report._counted"]


def test_no_module_imports_another_modules_privates() -> None:
    offenders = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            uses = private_uses(path.read_text(encoding="utf-8"))
            if uses:
                offenders[str(path.relative_to(ROOT))] = uses
    assert not offenders, f"use a public helper instead: {offenders}"
