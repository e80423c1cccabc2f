"""Uploaded files (imports, bulk-query batches): streamed to a private file, never held whole in memory.

`receive` reads a multipart/form-data body chunk by chunk with the `multipart` package's push
parser (the one Litestar uses), writes the file part straight to `var/imports/uploads/<job>.<ext>`
(folder 0700, file 0600) and hashes it on the way (SHA-256, for the already-imported check), on a
worker thread so the event loop only moves bytes. A body over `security.max_upload_mb` (app.yaml,
default 1024) is refused with 413 as soon as it is announced or read.

Uploads are named by their transfer job (runtime/data/transfer_jobs.py), whose row exists before
the first byte is written: the job deletes its upload when it ends, and `sweep` at start-up
deletes every upload whose job is not running any more (a killed import's file included).
"""
from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from litestar.exceptions import HTTPException
from multipart import MultipartSegment, ParserError, ParserLimitReached, PushMultipartParser

from specadmin.runtime.data import transfer_jobs
from specadmin.runtime.data.private_files import open_private, private_dir
from specadmin.runtime.errors import BadRequest

if TYPE_CHECKING:
    from litestar import Request

    from specadmin.runtime.app.context import AppContext

DEFAULT_MAX_MB = 1024
SUFFIXES = (".xlsx", ".csv")
WRITE_BLOCK = 1 << 20  # bytes gathered before one write (on a worker thread)
FIELD_LIMIT = 64 << 10  # a plain form field (not a file) is small
MAX_PARTS = 16


def upload_dir(ctx: AppContext) -> Path:
    return private_dir(ctx.app_dir / "var" / "imports" / "uploads")


def max_bytes(ctx: AppContext) -> int:
    return int((ctx.app.security or {}).get("max_upload_mb", DEFAULT_MAX_MB)) << 20


def _megabytes(limit: int) -> str:
    return f"{limit / (1 << 20):g}"


def too_large(ctx: AppContext) -> HTTPException:
    return HTTPException(status_code=413, detail=f"上传的文件过大：不能超过 {max_bytes(ctx) >> 20} MB")


@dataclass
class Upload:
    path: Path
    filename: str
    size: int
    sha256: str
    fields: dict[str, str]


class _Sink:
    """The file part on its way to disk: gathered in blocks, hashed and written on a worker thread."""

    def __init__(self, path: Path):
        self.path = path
        self.fh: IO[bytes] = open_private(path, "xb")
        self.digest = hashlib.sha256()
        self.buffer = bytearray()
        self.size = 0

    def _write(self, block: bytes) -> None:
        self.digest.update(block)
        self.fh.write(block)

    async def add(self, data: Any) -> None:
        self.buffer += data
        self.size += len(data)
        if len(self.buffer) >= WRITE_BLOCK:
            block, self.buffer = bytes(self.buffer), bytearray()
            await asyncio.to_thread(self._write, block)

    async def close(self) -> None:
        if self.buffer:
            block, self.buffer = bytes(self.buffer), bytearray()
            await asyncio.to_thread(self._write, block)
        await asyncio.to_thread(self.fh.close)


async def receive(request: Request, ctx: AppContext, token: str, *, field: str = "file",
                  missing: str = "请选择要上传的文件", dest: Path | None = None,
                  suffixes: tuple[str, ...] | None = SUFFIXES, limit: int | None = None) -> Upload:
    """Stream the body's `field` file part to the upload of job `token` (or to `dest`, for other
    callers such as attachments, with their own `suffixes` (None: any) and byte `limit`); 400/413 on a bad body."""
    content_type, options = request.content_type
    boundary = options.get("boundary")
    if content_type != "multipart/form-data" or not boundary:
        raise BadRequest(f"请以 multipart/form-data 方式上传文件（字段 {field}）")
    body_limit = max_bytes(ctx)
    if (request.content_length or 0) > body_limit:
        raise too_large(ctx)
    limit = min(limit or body_limit, body_limit)
    refusal = HTTPException(status_code=413, detail=f"上传的文件过大：不能超过 {_megabytes(limit)} MB")
    sink: _Sink | None = None
    filename: str | None = None
    fields: dict[str, str] = {}
    received = 0
    try:
        with PushMultipartParser(boundary, max_segment_count=MAX_PARTS) as parser:
            segment: MultipartSegment | None = None
            text, into = bytearray(), None  # into: where the part's bytes go ("file", "skip", None: a field)
            async for chunk in request.stream():
                received += len(chunk)
                if received > body_limit:
                    raise too_large(ctx)
                for event in parser.parse(chunk):
                    if isinstance(event, MultipartSegment):
                        segment, text, into = event, bytearray(), None
                        if segment.filename is not None:  # a file part: ours, or ignored
                            into = "skip"
                            if segment.name == field and segment.filename:
                                if sink is not None:
                                    raise BadRequest(f"只能上传一个文件（字段 {field}）")
                                suffix = Path(segment.filename).suffix.lower()
                                if suffixes is not None and suffix not in suffixes:
                                    raise BadRequest("只支持 .xlsx 和 .csv 文件")
                                sink = _Sink(dest or upload_dir(ctx) / f"{token}{suffix}")
                                filename, into = segment.filename, "file"
                    elif event is None:  # the end of a part
                        if segment is not None and into is None:
                            fields[segment.name or ""] = text.decode(segment.charset or "utf-8", "replace")
                        segment = None
                    elif into == "file":
                        await sink.add(event)
                        if sink.size > limit:
                            raise refusal
                    elif into is None:
                        text += event
                        if len(text) > FIELD_LIMIT:
                            raise BadRequest(f"表单字段 {segment.name if segment else ''} 过长")
                if parser.closed:
                    break
        if sink is None or sink.size == 0:
            raise BadRequest(missing)
        await sink.close()
        return Upload(sink.path, filename or sink.path.name, sink.size, sink.digest.hexdigest(), fields)
    except (ParserError, ParserLimitReached) as exc:
        await _discard(sink)
        raise BadRequest("上传内容不是有效的 multipart/form-data") from exc
    except BaseException:
        await _discard(sink)
        raise


async def _discard(sink: _Sink | None) -> None:
    if sink is None:
        return
    try:
        await asyncio.to_thread(sink.fh.close)
    finally:
        sink.path.unlink(missing_ok=True)


def remove(path: str | Path | None) -> None:
    if path:
        Path(path).unlink(missing_ok=True)


async def sweep(ctx: AppContext) -> int:
    """At start-up: interrupted jobs are marked so, and every upload whose job is not running any
    more is deleted (uploads hold ID numbers and phones: none may outlive its job). A job's row is
    written before its upload, so a file is judged by its own job, also while other workers run.
    Returns the number of files deleted."""
    await transfer_jobs.recover(ctx)
    deleted = 0
    for path in upload_dir(ctx).iterdir():
        if not path.is_file():
            continue
        job = await transfer_jobs.load(ctx, path.stem[:32])
        if job is None or job["status"] != "running":
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted
