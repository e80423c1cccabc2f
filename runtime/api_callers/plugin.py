"""Built-in plugin `api_callers`: registered external systems (integration.yaml) calling /ext/api
with a bearer token or an SM2 signature."""
from __future__ import annotations

from pathlib import Path

from specadmin.runtime.api_callers.commands import KEYS
from specadmin.runtime.api_callers.routes import ext_router
from specadmin.runtime.plugin import Plugin

plugin = Plugin(name="api_callers", label="接入系统", builtin=True, order=40,
                modules=(Path(__file__).with_name("integration.yaml"),),
                routes=lambda ctx, options: [ext_router()], commands=(KEYS,))
