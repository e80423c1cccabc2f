"""Attachment file types: the extensions a file field may `accept`, their content types and magic bytes.

Pure helpers shared by the spec checks (generator) and the upload route (runtime/attachments): an
upload is accepted when its name's extension is allowed and its first bytes look like that type,
so a renamed executable or HTML page is refused whatever it is called.
"""
from __future__ import annotations

# extension -> (content type, magic prefixes (offset, bytes); empty: any content (plain text), preview kind)
# The preview kind says how a page shows the file inline ("image", "pdf", "video", "audio"); "" : downloaded only.
TYPES: dict[str, tuple[str, tuple[tuple[int, bytes], ...], str]] = {
    "pdf": ("application/pdf", ((0, b"%PDF-"),), "pdf"),
    "jpg": ("image/jpeg", ((0, b"\xff\xd8\xff"),), "image"),
    "jpeg": ("image/jpeg", ((0, b"\xff\xd8\xff"),), "image"),
    "png": ("image/png", ((0, b"\x89PNG\r\n\x1a\n"),), "image"),
    "gif": ("image/gif", ((0, b"GIF87a"), (0, b"GIF89a")), "image"),
    "webp": ("image/webp", ((8, b"WEBP"),), "image"),
    "bmp": ("image/bmp", ((0, b"BM"),), "image"),
    "mp3": ("audio/mpeg", ((0, b"ID3"), (0, b"\xff\xfb"), (0, b"\xff\xf3"), (0, b"\xff\xf2")), "audio"),
    "wav": ("audio/wav", ((8, b"WAVE"),), "audio"),
    "mp4": ("video/mp4", ((4, b"ftyp"),), "video"),
    "webm": ("video/webm", ((0, b"\x1a\x45\xdf\xa3"),), "video"),
    "mov": ("video/quicktime", ((4, b"ftyp"), (4, b"moov")), ""),  # browsers do not all play it: downloaded
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ((0, b"PK\x03\x04"),), ""),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ((0, b"PK\x03\x04"),), ""),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", ((0, b"PK\x03\x04"),), ""),
    "zip": ("application/zip", ((0, b"PK\x03\x04"),), ""),
    "doc": ("application/msword", ((0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),), ""),
    "xls": ("application/vnd.ms-excel", ((0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),), ""),
    "txt": ("text/plain; charset=utf-8", (), ""),
    "csv": ("text/csv; charset=utf-8", (), ""),
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


def preview_kind(ext: str) -> str:
    """How a page previews a file of this extension: "image", "pdf", "video", "audio", or "" (download only)."""
    return TYPES[ext][2] if ext in TYPES else ""


def previewable(ext: str) -> bool:
    """Served inline (images, PDF, video, audio); everything else is downloaded. HTML and SVG are never
    types here, so nothing that runs script is ever served inline."""
    return bool(preview_kind(ext))
