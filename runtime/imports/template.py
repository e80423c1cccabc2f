"""The import template: Chinese headers with type and rules as comments, dictionary drop-downs.

Written by runtime.sheets.writer (openpyxl write-only). Dictionary drop-downs list the labels on
a hidden sheet (a literal list is capped at 255 characters); imports accept a label or a key.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from specadmin.runtime.imports.plan import make_plan
from specadmin.runtime.sheets.writer import Column, write_sheet

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

TYPE_NAMES = {"string": "文本", "text": "长文本", "integer": "整数", "decimal": "数字", "boolean": "是/否",
              "date": "日期（如 2026-11-01）", "datetime": "时间（如 2026-11-01 08:00:00）", "dict": "下拉选择",
              "ref": "编号", "file": "文件"}


def notes(field, names: str | None = None) -> str:
    """names: the label of the target field a ref column's cells name (a business key)."""
    parts = [f"填写{names}" if names else TYPE_NAMES.get(field.type, field.type)]
    if field.type == "multi_ref" and names:  # several targets: the separators of specs/multi_keys.py
        parts = [f"填写{names}，多个用、或逗号分号隔开（如 A01、A02）"]
    if field.required:
        parts.append("必填")
    if field.max_length:
        parts.append(f"最多{field.max_length}字")
    if field.min is not None:
        parts.append(f"最小{field.min:g}")
    if field.max is not None:
        parts.append(f"最大{field.max:g}")
    if field.pattern:
        parts.append(f"格式 {field.pattern}")
    if field.check == "id_number" or field.sensitive == "id_number":
        parts.append("15或18位身份证号")
    if field.type == "ref" and field.key:
        parts = ["文本"] + parts[1:]
    return "，".join(parts)


def build_template(ctx: AppContext, entity_name: str, screen: str | None) -> tuple[str, bytes]:
    plan = make_plan(ctx, entity_name, screen, None)
    fields = [plan.entity.field(n) for n in plan.columns]
    columns = [Column(plan.headers[f.name], width=max(12, min(40, 2 * len(plan.headers[f.name]) + 4)),
                      note=notes(f, by_label(ctx, f, plan.ref_keys.get(f.name))),  # type and rules as cell comments, so no extra row can be mistaken for data
                      choices=tuple(ctx.dict_labels.get(f.dict, {}).values()) if f.type == "dict" and not f.multi else None,
                      required=f.required, choice_error=f"请从下拉列表中选择“{f.label}”")
               for f in fields]
    data = write_sheet(None, "xlsx", columns, [], title=plan.entity.label)
    return f"{plan.entity.label}导入模板.xlsx", data


def by_label(ctx: AppContext, field, target_field: str | None) -> str | None:
    return ctx.app.entity(field.to).field(target_field).label if target_field else None
