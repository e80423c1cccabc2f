"""The import template: Chinese headers with type and rules as comments, dictionary drop-downs.

Built with openpyxl in write-only mode. Dictionary drop-downs list the labels on a hidden
sheet (a literal list is capped at 255 characters); imports accept a label or a key.
"""
from __future__ import annotations

import io
from typing import TYPE_CHECKING

from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from specadmin.runtime.imports.plan import make_plan

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

TYPE_NAMES = {"string": "文本", "text": "长文本", "integer": "整数", "decimal": "数字", "boolean": "是/否",
              "date": "日期（如 2026-11-01）", "datetime": "时间（如 2026-11-01 08:00:00）", "dict": "下拉选择",
              "ref": "编号", "file": "文件"}
DATA_ROWS = 10000  # rows the drop-downs cover


def notes(field) -> str:
    parts = [TYPE_NAMES.get(field.type, field.type)]
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
    from openpyxl import Workbook

    plan = make_plan(ctx, entity_name, screen, None)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(plan.entity.label[:31])
    lists = book.create_sheet("选项")
    lists.sheet_state = "hidden"
    fields = [plan.entity.field(n) for n in plan.columns]
    header = []
    for f in fields:  # type and rules as cell comments, so no extra row can be mistaken for data
        cell = WriteOnlyCell(sheet, plan.headers[f.name])
        cell.comment = Comment(notes(f), "specadmin")
        header.append(cell)
    sheet.append(header)
    list_columns = []
    for index, f in enumerate(fields, start=1):
        if f.type != "dict":
            continue
        labels = list(ctx.dict_labels.get(f.dict, {}).values())
        list_columns.append(labels)
        letter = get_column_letter(len(list_columns))
        dv = DataValidation(type="list", formula1=f"=选项!${letter}$1:${letter}${max(len(labels), 1)}",
                            allow_blank=not f.required, showErrorMessage=True,
                            errorTitle="无效的选项", error=f"请从下拉列表中选择“{f.label}”")
        column = get_column_letter(index)
        dv.add(f"{column}2:{column}{DATA_ROWS + 1}")
        sheet.data_validations.append(dv)
    depth = max((len(c) for c in list_columns), default=0)
    for i in range(depth):
        lists.append([c[i] if i < len(c) else None for c in list_columns])
    buffer = io.BytesIO()
    book.save(buffer)
    return f"{plan.entity.label}导入模板.xlsx", buffer.getvalue()
