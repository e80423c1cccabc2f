"""Pinyin initials for fields declared `initials_of: <field>` (开平市教育局 → kpsjyj).

pypinyin resolves heteronyms from its phrase dictionary (长沙 → cs, 重庆 → cq), but across
the seam of two names it can pick a wrong phrase: 开平市长沙街道 reads 市长 (mayor) and gives
kpszsjd. Org names are chains of place names, so the text is also read in pieces cut after
the administrative suffixes 省市县区镇乡村; when the two readings differ both are stored,
separated by a space, and a keyword search matches either. Characters that are not Chinese
keep their own letters and digits, lower-cased; everything else drops.
"""
from __future__ import annotations

import re

from pypinyin import Style, lazy_pinyin

SEAMS = re.compile(r"(?<=[省市县区镇乡村])")


def _letters(pieces: list[str]) -> str:
    out = []
    for piece in pieces:  # each piece is segmented into phrases by pypinyin on its own
        for part in lazy_pinyin(piece, style=Style.FIRST_LETTER, errors=lambda chars: list(chars)):
            out.extend(c.lower() for c in part if c.isascii() and c.isalnum())
    return "".join(out)


def initials(text: str | None, max_length: int | None = None) -> str | None:
    if text is None:
        return None
    text = str(text)
    readings = dict.fromkeys([_letters([p for p in SEAMS.split(text) if p]), _letters([text])])
    value = " ".join(r for r in readings if r)
    return value[:max_length].rstrip() if max_length else value
