"""Work around a reference-counting bug of PySide6 6.12 on CPython < 3.12.

Measured here (PySide6 6.12.0, CPython 3.11.7): every call of a ``void`` Qt method (``processEvents``,
``update``, ``setVisible``...) returns ``None`` without taking a reference, and every ``Signal.emit`` does
the same with ``True``; each call steals one reference. After a few thousand calls the interpreter aborts
with "Fatal Python error: none_dealloc / bool_dealloc" — in a technician's session, not only in tests.
CPython 3.12+ makes these singletons immortal (PEP 683), which hides the bug there; we do the same on
older CPythons by giving ``None``, ``True`` and ``False`` a reference count no program can use up.
These objects are never freed by a healthy interpreter anyway, so this changes nothing else.
"""

from __future__ import annotations

import ctypes
import sys

_HUGE = 1 << 60


def guard_singleton_refcounts() -> bool:
    """Make None/True/False practically immortal on CPython < 3.12; returns True when it acted."""
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    for obj in (None, True, False):
        refcnt = ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt is PyObject's first field
        if refcnt.value < _HUGE:
            refcnt.value += _HUGE
    return True
