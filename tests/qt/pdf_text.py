"""A small PDF text reader for the tests: enough of PDF to read what ``QPdfWriter`` writes (no dependency).

Qt writes text as glyph ids of Type0/Identity-H fonts, one ``<hhhh> Tj`` per glyph, with a ToUnicode CMap
per font; spaces are positioning, not glyphs, so the text comes back without them.
"""

from __future__ import annotations

import re
import unicodedata
import zlib

_OBJ = re.compile(rb"(\d+) 0 obj(.*?)endobj", re.S)


def _stream(body: bytes) -> bytes:
    head, rest = body.split(b"stream", 1)
    raw = rest.lstrip(b"\r\n").rsplit(b"endstream", 1)[0]
    return zlib.decompress(raw) if b"/FlateDecode" in head else raw


def _cmap(text: bytes) -> dict[int, str]:
    out: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", text, re.S):
        for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            out[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", text, re.S):
        for lo, hi, arr, start in re.findall(
                rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*(?:\[(.*?)\]|<([0-9A-Fa-f]+)>)", block, re.S):
            lo_i, hi_i = int(lo, 16), int(hi, 16)
            if arr:
                for i, dst in enumerate(re.findall(rb"<([0-9A-Fa-f]+)>", arr)):
                    out[lo_i + i] = bytes.fromhex(dst.decode()).decode("utf-16-be")
            else:
                base = int(start, 16)
                for i in range(hi_i - lo_i + 1):
                    out[lo_i + i] = chr(base + i)
    return out


def pdf_objects(data: bytes) -> dict[int, bytes]:
    return {int(n): body for n, body in _OBJ.findall(data)}


def pdf_pages(data: bytes) -> list[str]:
    """The text of each page (page order as written), glyphs concatenated without spaces."""
    objs = pdf_objects(data)
    cmaps = {n: _cmap(_stream(objs[int(m.group(1))])) for n, body in objs.items()
             if (m := re.search(rb"/Subtype /Type0.*?/ToUnicode (\d+) 0 R", body, re.S))}
    names = {name.decode(): int(ref) for body in objs.values() for name, ref in re.findall(rb"/(F\d+) (\d+) 0 R", body)}
    pages = []
    for body in objs.values():
        m = re.search(rb"/Type /Page\b.*?/Contents (\d+) 0 R", body, re.S)
        if not m:
            continue
        content = _stream(objs[int(m.group(1))])
        chars, cmap = [], {}
        for font, glyphs in re.findall(rb"/(F\d+) [\d.]+ Tf|<([0-9A-Fa-f]+)> Tj", content):
            if font:
                cmap = cmaps.get(names.get(font.decode(), -1), {})
            else:
                chars += [cmap.get(int(glyphs[i:i + 4], 16), "?") for i in range(0, len(glyphs), 4)]
        text = unicodedata.normalize("NFKC", "".join(chars))  # ligatures: "ﬁ" -> "fi"
        pages.append("".join(c for c in text if not c.isspace()))
    return pages


def squash(text: str) -> str:
    """``text`` without whitespace, to compare with ``pdf_pages`` output."""
    return "".join(unicodedata.normalize("NFKC", text).split())
