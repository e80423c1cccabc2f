"""Administrative divisions (行政区划): import of a national code file and descendant queries.

Codes follow the national standard: 6 digits for county level and above (GB/T 2260,
e.g. 440783 开平市), 9 for towns and streets, 12 for villages; shorter forms as published in
open datasets (44, 4407) are padded. A code's significant part (trailing zero groups cut)
gives its level, and its parent is the nearest stored code whose significant part is a
prefix of it, so files may come in any order and may skip levels (省直辖县).
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

SEGMENTS = (2, 4, 6, 9, 12)  # significant lengths: province, city, district, street, community
LEVELS = {2: "province", 4: "city", 6: "district", 9: "street", 12: "community"}


class DivisionFileError(ValueError):
    pass


def normalise(raw: str) -> str:
    """The standard form: 2/4-digit codes padded to 6; 6, 9 and 12 digits kept."""
    code = raw.strip()
    if not code.isdigit() or len(code) not in SEGMENTS:
        raise DivisionFileError(f"区划代码 {raw!r} 应为 2、4、6、9 或 12 位数字")
    return code.ljust(6, "0") if len(code) < 6 else code


def significant(code: str) -> str:
    """510184000000 → 510184; 510100 → 5101; 440000 → 44."""
    for length in reversed(SEGMENTS[:-1]):
        if len(code) > length and set(code[length:]) == {"0"}:
            code = code[:length]
    return code


def parent_candidates(sig: str) -> list[str]:
    return [sig[:n] for n in reversed(SEGMENTS) if n < len(sig)]


def read_file(path: Path) -> list[dict[str, Any]]:
    """CSV with a header naming at least `code` and `name`; optional `sort` and `active`."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"code", "name"} <= {f.strip() for f in reader.fieldnames}:
            raise DivisionFileError("文件第一行应为表头，至少包含 code,name 两列")
        rows = []
        for line, raw in enumerate(reader, start=2):
            raw = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
            if not raw.get("code") and not raw.get("name"):
                continue
            try:
                code = normalise(raw["code"])
            except DivisionFileError as exc:
                raise DivisionFileError(f"第 {line} 行：{exc}") from None
            if not raw.get("name"):
                raise DivisionFileError(f"第 {line} 行：缺少名称")
            rows.append({"code": code, "name": raw["name"][:100], "sort": int(raw.get("sort") or 0),
                         "active": (raw.get("active") or "1").lower() not in ("0", "false", "否", "no")})
    return rows


async def import_divisions(ctx: "AppContext", path: Path) -> dict[str, int]:
    """Upsert by code (idempotent); parents by code prefix; tree paths kept."""
    rows = read_file(Path(path))
    table = ctx.table("division")
    stored = {r["code"]: r for r in await table.select(table.id, table.code, table.name, table.parent, table.level,
                                                         table.sort, table.active, table.path)}
    by_sig = {significant(code): r for code, r in stored.items()}
    added = updated = 0
    for row in sorted(rows, key=lambda r: len(significant(r["code"]))):  # parents before children
        sig = significant(row["code"])
        parent = next((by_sig[p] for p in parent_candidates(sig) if p in by_sig), None)
        values = {"name": row["name"], "level": LEVELS[len(sig)], "sort": row["sort"], "active": row["active"],
                  "parent": parent["id"] if parent else None}
        current = stored.get(row["code"])
        if current is None:
            result = await table.insert(table(code=row["code"], **values)).returning(table.id)
            current = {"id": result[0]["id"], "code": row["code"], **values}
            added += 1
        elif any(current.get(k) != v for k, v in values.items()):
            await table.update(values).where(table.id == current["id"])
            current.update(values)
            updated += 1
        path = f"{parent['path'] if parent else '/'}{current['id']}/"
        if current.get("path") != path:
            await table.update({table.path: path}).where(table.id == current["id"])
            current["path"] = path
        stored[row["code"]] = by_sig[sig] = current
    return {"rows": len(rows), "added": added, "updated": updated}


def descendants_condition(ctx: "AppContext", path: str):
    table = ctx.table("division")
    return table.path.like(f"{path}%")
