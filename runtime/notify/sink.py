"""A loop-back SMS gateway for demos (`specadmin serve --sms-sink`, `specadmin demo --sms-sink`).

It answers the gateway's POST like a real one (HTTP 200) and, instead of sending anything,
appends each message to DIR/var/sms_sink.jsonl (`{"at", "body"}`, 0600) and prints it, mobile
numbers masked (138****5678) in both, so the outbox (短信发送记录) shows 已发送 and the demo
shows the whole loop. It listens on 127.0.0.1 on a
free port and points SPECADMIN_SMS_URL at itself for the process and the workers it starts. Demo
phone numbers are made up: a demo never reaches a real gateway while the sink is on.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from specadmin.runtime.crypto.masking import mask
from specadmin.runtime.data.private_files import open_private

MAX_BODY = 64 * 1024
FILE_NAME = "sms_sink.jsonl"
MOBILE = re.compile(r"(?<!\d)1\d{10}(?!\d)")


def masked(body: Any) -> Any:
    """The message with every mobile number in it masked (phones are sensitive at rest and in logs)."""
    if isinstance(body, str):
        return MOBILE.sub(lambda m: mask(m.group(0), "phone"), body)
    if isinstance(body, list):
        return [masked(v) for v in body]
    if isinstance(body, dict):
        return {k: masked(v) for k, v in body.items()}
    return body


class SmsSink:
    """Runs in a daemon thread while the `with` block (or the process) lasts."""

    def __init__(self, app_dir: Path):
        self.path = Path(app_dir) / "var" / FILE_NAME
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if not 0 <= length <= MAX_BODY:
                    self._answer(413, {"ok": False, "error": "消息过大"})
                    return
                raw = self.rfile.read(length).decode("utf-8", errors="replace")
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                sink.record(body)
                self._answer(200, {"ok": True})

            def _answer(self, status: int, payload: dict) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args) -> None:  # noqa: A002 - the access log stays quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, name="sms-sink", daemon=True)

    def record(self, body: Any) -> None:
        body = masked(body)
        line = {"at": dt.datetime.now().replace(microsecond=0).isoformat(sep=" "), "body": body}
        with self.lock, open_private(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
        shown = body if not isinstance(body, dict) else f"{body.get('phone', '')}：{body.get('text', body)}"
        print(f"[演示短信网关] {shown}", file=sys.stderr, flush=True)

    def start(self) -> SmsSink:
        """Listen, and point this process's (and its children's) SMS gateway here."""
        self.thread.start()
        os.environ["SPECADMIN_SMS_URL"] = self.url
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> SmsSink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
