"""All PySide6 code of the app; it draws core's models and owns no analysis.

PySide6 is pinned below 6.12 in pyproject.toml: 6.12.0 on CPython 3.11 steals a reference to ``None`` on
every void Qt call and to ``True`` on every ``Signal.emit``, which aborts the interpreter after a few
thousand calls (tests/qt/test_app.py guards against a regression).
"""
