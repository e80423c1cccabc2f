"""An S3-compatible attachment store (AWS S3, MinIO, Ceph RGW, OSS/COS in S3 mode) over httpx with
AWS Signature Version 4, path-style URLs `<endpoint>/<bucket>/<prefix><key>`.

Configured by the environment (values may also come from a secrets manager through it):
SPECADMIN_S3_ENDPOINT (e.g. https://minio.example:9000), SPECADMIN_S3_BUCKET (an existing bucket),
SPECADMIN_S3_ACCESS_KEY, SPECADMIN_S3_SECRET_KEY, SPECADMIN_S3_REGION (default us-east-1) and
SPECADMIN_S3_PREFIX (default `attachments/`). Sensitive files are encrypted before they leave the
app (runtime/attachments/store.py), so the store only ever holds their ciphertext.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import httpx

from specadmin.runtime.errors import BadRequest

TIMEOUT = 30.0
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def sign(method: str, url: str, payload_sha256: str, *, access_key: str, secret_key: str, region: str,
         now: dt.datetime | None = None) -> dict[str, str]:
    """The headers that sign one S3 request with SigV4 (host, x-amz-date, x-amz-content-sha256, Authorization)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    parts = urlsplit(url)
    query = sorted((quote(unquote(k), safe="-_.~"), quote(unquote(v), safe="-_.~"))
                   for k, _, v in (p.partition("=") for p in parts.query.split("&") if p))
    headers = {"host": parts.netloc, "x-amz-content-sha256": payload_sha256, "x-amz-date": stamp}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([method, quote(parts.path or "/", safe="/-_.~%"), "&".join(f"{k}={v}" for k, v in query),
                           "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, payload_sha256])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, "
                                f"Signature={signature}")
    return headers


@dataclass(frozen=True)
class S3Storage:
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    prefix: str = "attachments/"

    @classmethod
    def from_env(cls) -> "S3Storage":
        env = os.environ
        endpoint = env.get("SPECADMIN_S3_ENDPOINT", "").rstrip("/")
        if not endpoint:
            raise BadRequest("未配置附件存储地址 SPECADMIN_S3_ENDPOINT")
        return cls(endpoint=endpoint, bucket=env["SPECADMIN_S3_BUCKET"], access_key=env.get("SPECADMIN_S3_ACCESS_KEY", ""),
                   secret_key=env.get("SPECADMIN_S3_SECRET_KEY", ""), region=env.get("SPECADMIN_S3_REGION") or "us-east-1",
                   prefix=env.get("SPECADMIN_S3_PREFIX", "attachments/"))

    def _url(self, key: str = "", query: str = "") -> str:
        path = f"/{quote(self.bucket)}" + (f"/{quote(self.prefix + key)}" if key else "")
        return f"{self.endpoint}{path}" + (f"?{query}" if query else "")

    async def _send(self, method: str, url: str, body: bytes = b"") -> httpx.Response:
        payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        headers = sign(method, url, payload, access_key=self.access_key, secret_key=self.secret_key, region=self.region)
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            return await client.request(method, url, content=body or None, headers=headers)

    async def put(self, key: str, source: Path) -> None:
        data = Path(source).read_bytes()
        r = await self._send("PUT", self._url(key), data)
        if r.status_code >= 300:
            raise OSError(f"附件存储写入失败（{r.status_code}）")
        Path(source).unlink(missing_ok=True)

    async def read(self, key: str) -> bytes:
        r = await self._send("GET", self._url(key))
        if r.status_code == 404:
            raise FileNotFoundError(key)
        if r.status_code >= 300:
            raise OSError(f"附件存储读取失败（{r.status_code}）")
        return r.content

    async def delete(self, key: str) -> None:
        r = await self._send("DELETE", self._url(key))
        if r.status_code >= 300 and r.status_code != 404:
            raise OSError(f"附件存储删除失败（{r.status_code}）")

    async def keys(self) -> AsyncIterator[str]:
        token = ""
        while True:
            query = f"list-type=2&prefix={quote(self.prefix, safe='')}"
            if token:
                query += f"&continuation-token={quote(token, safe='')}"
            r = await self._send("GET", self._url(query=query))
            if r.status_code >= 300:
                raise OSError(f"附件存储列举失败（{r.status_code}）")
            root = ET.fromstring(r.content)
            ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            for item in root.iter(f"{ns}Key"):
                name = (item.text or "")[len(self.prefix):]
                if name.isalnum():
                    yield name
            token = root.findtext(f"{ns}NextContinuationToken") or ""
            if root.findtext(f"{ns}IsTruncated") != "true" or not token:
                return
