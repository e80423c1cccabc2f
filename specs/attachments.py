"""Attachment file types: the extensions a file field may `accept`, their content types and magic bytes.

Pure helpers shared by the spec checks (generator) and the upload route (runtime/attachments): an
upload is accepted when its name's extension is allowed and its first bytes look like that type,
so a renamed executable or HTML page is refused whatever it is called.
"""
from __future__ import annotations

# extension -> (content type, magic prefixes (offset, bytes); empty: any content (plain text), inline preview)
TYPES: dict[str, tuple[str, tuple[tuple[int, bytes], ...], bool]] = {
    "pdf": ("application/pdf", ((0, b"%PDF-"),), True),
    "jpg": ("image/jpeg", ((0, b"\xff\xd8\xff"),), True),
    "jpeg": ("image/jpeg", ((0, b"\xff\xd8\xff"),), True),
    "png": ("image/png", ((0, b"\x89PNG\r\n\x1a\n"),), True),
    "gif": ("image/gif", ((0, b"GIF87a"), (0, b"GIF89a")), True),
    "webp": ("image/webp", ((8, b"WEBP"),), True),
    "bmp": ("image/bmp", ((0, b"BM"),), True),
    "mp3": ("audio/mpeg", ((0, b"ID3"), (0, b"\xff\xfb"), (0, b"\xff\xf3"), (0, b"\xff\xf2")), False),
    "wav": ("audio/wav", ((8, b"WAVE"),), False),
    "mp4": ("video/mp4", ((4, b"ftyp"),), False),
    "mov": ("video/quicktime", ((4, b"ftyp"), (4, b"moov")), False),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ((0, b"PK\x03\x04"),), False),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ((0, b"PK\x03\x04"),), False),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", ((0, b"PK\x03\x04"),), False),
    "zip": ("application/zip", ((0, b"PK\x03\x04"),), False),
    "doc": ("application/msword", ((0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),), False),
    "xls": ("application/vnd.ms-excel", ((0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),), False),
    "txt": ("text/plain; charset=utf-8", (), False),
    "csv": ("text/csv; charset=utf-8", (), False),
}
DEFAULT_ACCEPT = ("pdf", "jpg", "jpeg", "png")
SNIFF_BYTES = 16


def extension(name: str) -> str:
    """The lower-case extension of a file name, without the dot ('' when none)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[1].lower() if "." in base else ""


def looks_like(ext: str, head: bytes) -> bool:
    """Whether the first bytes of a file fit extension `ext` (plain text: no NUL byte and valid UTF-8 start)."""
    _, magics, _ = TYPES[ext]
    if not magics:
        return b"\x00" not in head
    return any(head[at:at + len(magic)] == magic for at, magic in magics)


def content_type(ext: str) -> str:
    return TYPES[ext][0] if ext in TYPES else "application/octet-stream"


def previewable(ext: str) -> bool:
    """Shown inline (images, PDF); everything else is downloaded. HTML and SVG are never types here."""
    return ext in TYPES and TYPES[ext][2]
