"""Print what would change between the lock and another resolution (``make check-latest``).

Why: moving to newer versions is a deliberate step; the first thing to see is which packages move, and
whether a major version changes (the kind of change that broke a fresh clone with OpenCV 5).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(?P<version>[^ ;\\]+)(?P<marker>\s*;[^\\]*)?")


def pins(text: str) -> dict[str, str]:
    """``name -> version`` (versions under different markers joined with ``|``)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            name = match["name"].lower().replace("_", "-")
            out.setdefault(name, []).append(match["version"])
    return {k: "|".join(sorted(set(v))) for k, v in out.items()}


def changes(old: dict[str, str], new: dict[str, str]) -> list[str]:
    lines = []
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if a is None or b is None:
            lines.append(f"{'+' if a is None else '-'} {name} {b or a}")
            continue
        major = a.split(".")[0] != b.split(".")[0]
        lines.append(f"  {name} {a} -> {b}{'   MAJOR' if major else ''}")
    return lines


def main(argv: list[str]) -> int:
    old, new = (pins(Path(p).read_text(encoding="utf-8")) for p in argv[1:3])
    lines = changes(old, new)
    print(f"{len(lines)} change(s) against the lock:" if lines else "no change against the lock")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
