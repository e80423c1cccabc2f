"""The HTTP SMS gateway adapter (httpx), configured in app.yaml and/or by environment.

app.yaml `sms: {url, auth, body, timeout, retries, backoff}`; a `${NAME}` inside a value is
replaced by the environment variable NAME when the gateway is built (so secrets stay out of the
spec and out of the generated model). Each SPECADMIN_SMS_* variable below, when set, overrides
the app.yaml value:

SPECADMIN_SMS_URL      gateway endpoint (POST, JSON body); unset: sending fails with 未配置短信网关
SPECADMIN_SMS_AUTH     value of the Authorization header, e.g. "Bearer <token>" (optional)
SPECADMIN_SMS_BODY     JSON body template; the strings "{phone}" and "{text}" anywhere in it are
                       replaced (default {"phone": "{phone}", "text": "{text}"})
SPECADMIN_SMS_TIMEOUT  seconds per request (default 10)
SPECADMIN_SMS_RETRIES  attempts per message and run (default 3), SPECADMIN_SMS_BACKOFF first pause
                       in seconds, doubled after each failure (default 2)
The template is parsed as JSON and filled value by value, so a text cannot break the body.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_BODY = '{"phone": "{phone}", "text": "{text}"}'


ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class GatewayError(Exception):
    pass


def substitute(value: str, env: Mapping[str, str]) -> str:
    """`${NAME}` → the variable's value (empty when unset: a missing secret reads as 未配置)."""
    return ENV_REF.sub(lambda m: env.get(m.group(1), ""), value)


def fill(template: Any, values: dict[str, str]) -> Any:
    if isinstance(template, str):
        for key, value in values.items():
            if template == "{" + key + "}":
                return value
            template = template.replace("{" + key + "}", value)
        return template
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    return template


@dataclass(frozen=True)
class HttpGateway:
    url: str | None
    auth: str | None = None
    body: str = DEFAULT_BODY
    timeout: float = 10.0
    retries: int = 3
    backoff: float = 2.0

    @classmethod
    def from_env(cls) -> HttpGateway:
        return cls.from_config({})

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, env: Mapping[str, str] | None = None) -> HttpGateway:
        """app.yaml `sms:` with ${ENV} filled in, each key overridden by its SPECADMIN_SMS_* variable."""
        env = os.environ if env is None else env
        values = {key: substitute(str(value), env) for key, value in (config or {}).items() if value is not None}
        for key in ("url", "auth", "body", "timeout", "retries", "backoff"):
            if env.get(f"SPECADMIN_SMS_{key.upper()}"):
                values[key] = env[f"SPECADMIN_SMS_{key.upper()}"]
        return cls(url=values.get("url") or None, auth=values.get("auth") or None,
                   body=values.get("body") or DEFAULT_BODY,
                   timeout=float(values.get("timeout") or 10),
                   retries=max(1, int(float(values.get("retries") or 3))),
                   backoff=float(values.get("backoff") or 2))

    async def send(self, phone: str, text: str) -> None:
        if not self.url:
            raise GatewayError("未配置短信网关（app.yaml sms.url 或 SPECADMIN_SMS_URL）")
        body = fill(json.loads(self.body), {"phone": phone, "text": text})
        headers = {"Authorization": self.auth} if self.auth else {}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(self.url, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise GatewayError(f"短信网关超时（{self.timeout:g} 秒）") from exc
        except httpx.HTTPError as exc:
            raise GatewayError(f"短信网关连接失败：{exc.__class__.__name__}") from exc
        if response.status_code >= 300:
            raise GatewayError(f"短信网关返回 HTTP {response.status_code}")
