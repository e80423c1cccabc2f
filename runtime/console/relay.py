"""ASGI plumbing for the ops console mount: read a request body, run piccolo-admin with its answer
held back, and send an answer (held or new) on."""
from __future__ import annotations

import asyncio
import json
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 1024 * 1024  # console writes are one row of JSON


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def with_body(scope: Scope, body: bytes) -> Scope:
    """A copy of the scope whose content-length says `body`'s length."""
    headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    return {**scope, "headers": headers}


class Held:
    """piccolo-admin's answer to one request, kept until the mount decides to send it."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    @property
    def status(self) -> int:
        for m in self.messages:
            if m["type"] == "http.response.start":
                return int(m["status"])
        return 500

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def replaced(self, data: Any) -> None:
        """Answer `data` as JSON instead, with the held status and headers."""
        body = json.dumps(data, ensure_ascii=False, default=str).encode()
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        self.messages = [{**start, "headers": headers}, {"type": "http.response.body", "body": body}]

    async def send_to(self, send: Send) -> None:
        for m in self.messages:
            await send(m)


async def run_held(app: ASGIApp, scope: Scope, body: bytes) -> Held:
    held = Held()
    given = False

    async def receive() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # as a server does while the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        held.messages.append(message)

    await app(scope, receive, send)
    return held


async def answer(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    """A plain-text answer: piccolo-admin shows a refused request's text as it is (a JSON body it
    would show as JSON)."""
    body = detail.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
