"""The `pulls:` module key and the app.yaml `external_databases:` key: schemas and the parsed form.

```yaml
# app.yaml
external_databases:
  province: {label: 省政务大数据平台前置库, url: "${KAIPING_FRONT_DB_URL:-}"}   # empty: switched off
# a module
pulls:
  province_scans:
    label: 前置库扫码进场数据
    database: province
    table: v_scan_entry                  # a table or view (schema.table allowed)
    entity: scan_record
    fields: {place_code: CSMC_ID, scanned_at: CJSJ}   # entity field: source column
    watermark: GXSJ                      # a source column that grows with every new or changed row
    key: [subject_id_number, place_code, scanned_at]  # optional: a row whose key is stored is updated
    owns: [scan_admin]                   # while the database is configured: no import or delete there
```
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from specadmin.runtime.env import expand

if TYPE_CHECKING:
    from specadmin.specs.model import App

APP_KEY, MODULE_KEY = "external_databases", "pulls"
MAX_ROWS = 100_000
OWNED_ACTIONS = frozenset(("import", "delete"))  # what a configured pull takes over on the screens it owns

_NAME = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}
DATABASES_SCHEMA = {
    "type": "object", "propertyNames": _NAME,
    "additionalProperties": {
        "type": "object", "additionalProperties": False, "required": ["url"],
        "properties": {"label": {"type": "string"}, "url": {"type": "string"}},
    },
}
PULLS_SCHEMA = {
    "type": "object", "propertyNames": _NAME,
    "additionalProperties": {
        "type": "object", "additionalProperties": False,
        "required": ["label", "database", "table", "entity", "fields", "watermark"],
        "properties": {
            "label": {"type": "string"},
            "database": {"type": "string"},
            "table": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)?$"},
            "entity": {"type": "string"},
            "fields": {"type": "object", "minProperties": 1,
                       "additionalProperties": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}},
            "watermark": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
            "key": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "max_rows": {"type": "integer", "minimum": 1},
            "owns": {"type": "array", "items": {"type": "string"}},
            "user": {"type": "string"},
        },
    },
}


@dataclass(frozen=True)
class Database:
    name: str
    label: str
    url_template: str

    @property
    def url(self) -> str:
        """The URL as the environment makes it now; empty: not configured (the pulls are off)."""
        return expand(self.url_template).strip()


@dataclass(frozen=True)
class Pull:
    name: str
    label: str
    database: str
    table: str
    entity: str
    fields: tuple[tuple[str, str], ...]  # (entity field, source column)
    watermark: str
    key: tuple[str, ...] = ()
    max_rows: int = MAX_ROWS
    owns: tuple[str, ...] = ()
    user: str | None = None  # whom the rows are imported as (default: the first superuser)

    @property
    def mode(self) -> str:
        return "upsert" if self.key else "skip_bad_rows"


def databases(app: "App") -> dict[str, Database]:
    raw = app.section(APP_KEY).get("app.yaml") or {}
    return {name: Database(name, d.get("label", name), d["url"]) for name, d in raw.items()}


def pulls(app: "App") -> dict[str, Pull]:
    out: dict[str, Pull] = {}
    for section in app.section(MODULE_KEY).values():
        for name, raw in section.items():
            out[name] = _pull(name, raw)
    return out


def _pull(name: str, raw: Any) -> Pull:
    return Pull(name, raw["label"], raw["database"], raw["table"], raw["entity"], tuple(raw["fields"].items()),
                raw["watermark"], tuple(raw.get("key", ())), int(raw.get("max_rows", MAX_ROWS)),
                tuple(raw.get("owns", ())), raw.get("user"))


def withheld(ctx) -> dict[str, frozenset[str]]:
    """Screens owned by a pull whose database is configured: their import and delete are off."""
    dbs = databases(ctx.app)
    out: dict[str, frozenset[str]] = {}
    for pull in pulls(ctx.app).values():
        db = dbs.get(pull.database)
        if db is not None and db.url:
            for screen in pull.owns:
                out[screen] = OWNED_ACTIONS
    return out
