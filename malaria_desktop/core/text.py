"""Text that came from the file system, made safe to write and show.

Why: a file name in Latin-1 bytes (USB sticks, old shares) arrives in Python as a ``str`` with lone
surrogates (``os.fsdecode``'s ``surrogateescape``). Such a string cannot be encoded as UTF-8, so writing it
into a CSV or JSON file, or handing it to Qt, fails (issue 13 item 5). ``display_text`` keeps every valid
character and shows each undecodable byte as ``\\xe9``: unambiguous, ASCII, and two different names stay
different.
"""

from __future__ import annotations

from os import PathLike


def display_text(value: str | PathLike[str]) -> str:
    """``value`` (a path or text) as a string that encodes to UTF-8; undecodable bytes become ``\\xNN``."""
    text = str(value)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")  # the original bytes of a decoded file name
    except UnicodeEncodeError:  # a surrogate that did not come from a file name
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


__all__ = ["display_text"]
