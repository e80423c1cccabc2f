"""Litestar's checks of typed parameters and bodies (msgspec's English messages), said in Chinese.

A ValidationException's `extra` is a list like
[{"message": "Expected `int | null`, got `str`", "key": "min_daily", "source": "body"}];
the error handler answers 400 with {"detail": "请求参数不正确：字段 min_daily 应为整数",
"errors": {"min_daily": "应为整数"}}.
"""
from __future__ import annotations

import re
from typing import Any

KINDS = {"int": "整数", "float": "数字", "number": "数字", "decimal": "数字", "str": "文本", "bool": "是或否",
         "array": "列表", "object": "对象", "date": "日期", "datetime": "时间"}


def _expected(kinds: str) -> str:
    """ "int | null" -> 整数 (null is allowed wherever a value is optional, so it is not named)."""
    names = [KINDS.get(k.strip(), k.strip()) for k in kinds.split("|") if k.strip() not in ("null", "")]
    return "或".join(dict.fromkeys(names)) or "空值"


def message(text: str) -> str:
    """msgspec's message about one value, in Chinese."""
    if m := re.match(r"Expected `([^`]*)`, got `([^`]*)`", text):
        return f"应为{_expected(m.group(1))}"
    if m := re.match(r"Expected `([^`]*)` of length ([<>]=?) (\d+)", text):
        return f"长度{'不能超过' if m.group(2).startswith('<') else '不能少于'} {m.group(3)}"
    if m := re.match(r"Expected `([^`]*)` ([<>]=?) (-?[\d.]+)", text):
        return f"{'不能大于' if m.group(2).startswith('<') else '不能小于'} {m.group(3)}"
    if "RFC3339 encoded datetime" in text:
        return "时间格式应为 YYYY-MM-DDTHH:MM:SS"
    if "RFC3339 encoded date" in text:
        return "日期格式应为 YYYY-MM-DD"
    if m := re.match(r"Object missing required field `([^`]*)`", text):
        return f"缺少必填项 {m.group(1)}"
    if "Invalid enum value" in text:
        return "不是有效的选项"
    return "格式不正确"


def field_errors(extra: Any) -> dict[str, tuple[str, str]]:
    """Field or parameter -> (where: body/query/path/..., Chinese message), first problem of each."""
    out: dict[str, tuple[str, str]] = {}
    for item in extra if isinstance(extra, list) else []:
        if not isinstance(item, dict):
            continue
        key = str(item.get("key") or "").removeprefix("$").removeprefix(".")
        parts = re.split(r"[.\[]", key)
        # roles[0] -> roles; params.org (a custom action's parameter) -> org; the body itself
        key = (parts[1] if parts[0] == "params" and len(parts) > 1 and parts[1] else parts[0]) or "请求体"
        source = item.get("source") or "body"
        out.setdefault(key, (str(getattr(source, "value", source)), message(str(item.get("message") or ""))))
    return out


def answer(extra: Any) -> tuple[str, dict[str, str] | None]:
    """(detail, errors) of the 400 answer: every field named, in Chinese."""
    errors = field_errors(extra)
    if not errors:
        return "请求参数不正确", None
    named = "；".join(f"{'参数' if where in ('query', 'path', 'header', 'cookie') else '字段'} {key} {text}"
                     for key, (where, text) in list(errors.items())[:5])
    return f"请求参数不正确：{named}", {key: text for key, (_, text) in errors.items()}
