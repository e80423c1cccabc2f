"""Coerce incoming values to their field types and validate them against the spec.

Messages are in Chinese: they are shown next to the form field the user typed in.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from specadmin.specs import expr, multi_keys
from specadmin.specs.model import Entity, Field


class Invalid(Exception):
    """Field errors keyed by field name."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


INT32 = (-(2**31), 2**31 - 1)  # Integer, Serial (ids) and their foreign keys in PostgreSQL
INT64 = (-(2**63), 2**63 - 1)  # BigInt; every SQLite integer


# Dates a query may name: wide enough for any record, narrow enough that a day or a period added to
# or taken from it stays a date (9999-12-31 plus one day would overflow and answer 500).
DATE_MIN, DATE_MAX = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
DATE_RANGE_PROBLEM = "日期应在 1900-01-01 至 2999-12-31 之间"


def date_in_range(value: dt.date) -> bool:
    """False for a date (or datetime) outside DATE_MIN..DATE_MAX."""
    day = value.date() if isinstance(value, dt.datetime) else value
    return DATE_MIN <= day <= DATE_MAX


def fits_column(column, value: int) -> bool:
    """False for an integer the column cannot hold or be compared with (asyncpg and sqlite3 would
    fail with a 500): the bound of the PostgreSQL type, kept on SQLite too so both answer alike."""
    low, high = INT64 if type(column).__name__ in ("BigInt", "BigSerial") else INT32
    return low <= value <= high


def _int_field_fits(field: Field, value: int) -> bool:
    # specs/physical.py makes an integer field BigInt only when its max exceeds 2**31.
    low, high = INT64 if (field.max or 0) > 2**31 else INT32
    return low <= value <= high


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def coerce(field: Field, value: Any, dict_keys: dict[str, str] | None) -> Any:
    """Return the stored form of `value`, or raise ValueError with a message for the user."""
    if _empty(value):
        return None
    if isinstance(value, str) and "\x00" in value:  # PostgreSQL text cannot hold NUL; the driver would fail
        raise ValueError("不能包含空字符")
    t = field.type
    if t in ("string", "text", "file"):
        return str(value).strip() if t == "string" else str(value)
    if t == "integer":
        if isinstance(value, bool):
            raise ValueError("应为整数")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError("应为整数") from None
        if number != number.to_integral_value():
            raise ValueError("应为整数")
        if not _int_field_fits(field, int(number)):
            raise ValueError("数值超出范围")
        return int(number)
    if t == "decimal":
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError("应为数字") from None
    if t == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "on", "yes", "是"):
            return True
        if text in ("0", "false", "off", "no", "否"):
            return False
        raise ValueError("应为是或否")
    if t == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            raise ValueError("日期格式应为 YYYY-MM-DD") from None
    if t == "datetime":
        if isinstance(value, dt.datetime):
            return value.replace(tzinfo=None)
        try:
            return dt.datetime.fromisoformat(str(value).strip().replace("T", " ")).replace(tzinfo=None)
        except ValueError:
            raise ValueError("时间格式应为 YYYY-MM-DD HH:MM:SS") from None
    if t == "dict" and field.multi:
        return _multi_keys(value, dict_keys)
    if t == "dict":
        key = str(value).strip()
        if dict_keys is not None and key not in dict_keys:
            raise ValueError(f"“{key}”不是有效的选项")
        return key
    if t == "ref":
        if field.key:
            return str(value).strip()
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError("应为记录编号") from None
        if not INT32[0] <= number <= INT32[1]:  # ids are Serial
            raise ValueError("应为记录编号")
        return number
    if t == "multi_ref":
        items = value if isinstance(value, (list, tuple)) else str(value).split(",")
        try:
            numbers = sorted({int(v) for v in items if str(v).strip()})
        except (TypeError, ValueError):
            raise ValueError("应为记录编号列表") from None
        if any(not INT32[0] <= n <= INT32[1] for n in numbers):  # ids are Serial
            raise ValueError("应为记录编号列表")
        return numbers
    if t == "geo":
        if isinstance(value, dict):
            lng, lat = value.get("lng"), value.get("lat")
        else:
            lng, lat = (str(value).split(",") + [None])[:2]
        try:
            lng, lat = float(lng), float(lat)
        except (TypeError, ValueError):
            raise ValueError("坐标格式应为 经度,纬度") from None
        if not (-180 <= lng <= 180 and -90 <= lat <= 90):
            raise ValueError("坐标超出范围")
        return {"lng": lng, "lat": lat}
    raise ValueError(f"不支持的类型 {t}")


def _multi_keys(value: Any, dict_keys: dict[str, str] | None) -> list[str] | None:
    """A multi-valued dictionary field's keys (specs/multi_keys.py): a list, or text with 、 , ， ; ；
    between them; in the dictionary's order, each once; None when there is none."""
    if isinstance(value, dict):
        raise ValueError("应为选项列表")
    keys = multi_keys.split(value)
    if any("\x00" in k for k in keys):
        raise ValueError("不能包含空字符")
    if dict_keys is not None:
        bad = [k for k in keys if k not in dict_keys]
        if bad:
            raise ValueError("、".join(f"“{k}”" for k in dict.fromkeys(bad)) + "不是有效的选项")
        order = {k: i for i, k in enumerate(dict_keys)}
        keys = sorted(set(keys), key=order.__getitem__)
    else:
        keys = list(dict.fromkeys(keys))
    return keys or None


def check_rules(field: Field, value: Any) -> str | None:
    """The field's own rules (bounds, length, pattern) for a coerced, non-empty value."""
    if isinstance(value, (int, Decimal, float)) and not isinstance(value, bool):
        if field.min is not None and value < field.min:
            return f"不能小于 {field.min:g}"
        if field.max is not None and value > field.max:
            return f"不能大于 {field.max:g}"
    if isinstance(value, str):
        if field.max_length is not None and len(value) > field.max_length:
            return f"长度不能超过 {field.max_length} 个字符"
        if field.type == "string" and not field.sensitive and field.max_length is None and len(value) > 255:
            return "长度不能超过 255 个字符"
        if field.min_length is not None and len(value) < field.min_length:
            return f"长度不能少于 {field.min_length} 个字符"
        if field.pattern and not re.fullmatch(field.pattern, value):
            return "格式不正确"
    return None


def validate(entity: Entity, data: dict[str, Any], allowed: set[str], existing: dict[str, Any] | None,
             dict_keys_of) -> dict[str, Any]:
    """Clean `data` for a create (existing None) or an update; raise Invalid with every problem."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name in data:
        if name not in allowed:
            label = entity.field(name).label if entity.has_field(name) else name
            if entity.has_field(name) and entity.field(name).type == "computed":
                errors[name] = f"“{label}”由其他字段计算得出，不能填写"
            else:
                errors[name] = f"无权修改“{label}”" if entity.has_field(name) else f"未知字段 {name}"
    for name in allowed:
        if name not in data:
            continue
        field = entity.field(name)
        try:
            value = coerce(field, data[name], dict_keys_of(field.dict) if field.type == "dict" else None)
        except ValueError as exc:
            errors[name] = str(exc)
            continue
        if value is not None:
            problem = check_rules(field, value)
            if problem:
                errors[name] = problem
                continue
        elif field.type == "boolean":  # a boolean column is NOT NULL (specs/physical.py): 是 or 否, never empty
            errors[name] = "不能为空，应为是或否"
            continue
        clean[name] = value
    for field in entity.fields:
        if not field.required or not field.stored or field.system:
            continue
        if existing is None:
            missing = clean.get(field.name) is None and field.default is None
        else:
            missing = field.name in clean and clean[field.name] is None
        if missing and field.name not in errors:
            errors[field.name] = "必填"
    if not errors:
        merged = {**(existing or {}), **clean}
        for check in entity.checks:
            parsed = expr.parse(check.expr)
            if not parsed.holds(merged):
                named = [f.name for f in reversed(entity.fields) if f.name in parsed.fields]
                target = next((n for n in named if n in clean), named[0] if named else "__all__")
                errors[target] = check.message
    if errors:
        raise Invalid(errors)
    return clean


# -- custom action parameters ---------------------------------------------------------------------
CHOICE_TYPES = ("dict", "ref", "multi_ref", "boolean")  # filled in by picking: "请选择…" when missing


def _is_choice(param: Field) -> bool:
    return param.type in CHOICE_TYPES or bool(param.codes)


def _missing(value: Any) -> bool:
    return _empty(value) or (isinstance(value, (list, tuple)) and not [v for v in value if not _empty(v)])


def _choices(param: Field, value: Any, keys: dict[str, str] | None) -> list[str]:
    """Several keys of a dict or code list (`multi: true`): a list, or text separated by commas."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    out = []
    for item in items:
        if _empty(item):
            continue
        key = str(item).strip()
        if "\x00" in key:
            raise ValueError("不能包含空字符")
        if keys is not None and key not in keys:
            raise ValueError(f"“{key}”不是有效的选项")
        out.append(key)
    return list(dict.fromkeys(out))


def coerce_param(param: Field, value: Any, keys: dict[str, str] | None) -> Any:
    """The typed value of one action parameter (coerce() for the field types, plus choices and passwords)."""
    if param.type == "file":
        return _file_ids(param, value)
    if param.multi:
        return _choices(param, value, keys) or None
    if param.type == "password":
        if isinstance(value, (dict, list)) or "\x00" in str(value):
            raise ValueError("格式不正确")
        return str(value)
    if isinstance(value, (dict, list)) and param.type not in ("multi_ref",):
        raise ValueError("应为单个值")
    clean = coerce(param, value, keys if param.type == "dict" else None)
    if param.codes and clean is not None and keys is not None and clean not in keys:
        raise ValueError(f"“{clean}”不是有效的选项")
    return clean


def _file_ids(param: Field, value: Any) -> list[int] | None:
    """A file parameter: the ids of files uploaded for it beforehand (runtime/attachments), a list
    (one id alone is taken as a list of one); several only when `multi`."""
    items = value if isinstance(value, list) else [value]
    items = [part for item in items for part in (item.split(",") if isinstance(item, str) else [item])]
    items = [item for item in items if not (isinstance(item, str) and not item.strip())]
    ids = []
    for item in items:
        text = str(item).strip()
        if isinstance(item, (bool, dict, list, float)) or not text.isdigit() or len(text) > 18:
            raise ValueError("应为已上传文件的编号")
        ids.append(int(text))
    if len(ids) > 1 and not param.multi:
        raise ValueError("只能上传一个文件")
    return list(dict.fromkeys(ids)) or None


def validate_params(params: tuple[Field, ...], data: Any, keys_of) -> dict[str, Any]:
    """Clean the parameters an action was sent against their declarations; raise Invalid, keyed by
    parameter, with every problem (Chinese messages that name the parameter). Missing ones take
    their default; every declared parameter is in the result (None when empty)."""
    if not isinstance(data, dict):
        raise Invalid({"params": "操作参数应为对象"})
    declared = {p.name: p for p in params}
    errors: dict[str, str] = {name: f"未知参数 {name}" for name in data if name not in declared}
    clean: dict[str, Any] = {}
    for name, param in declared.items():
        raw = data.get(name)
        if _missing(raw) and param.type != "boolean":
            raw = list(param.default) if isinstance(param.default, tuple) else param.default
        if param.type == "boolean" and _empty(raw):
            raw = param.default if param.default is not None else False
        keys = keys_of(param.dict if param.type == "dict" else param.codes) if (param.type == "dict" or param.codes) \
            else None
        try:
            value = None if _missing(raw) else coerce_param(param, raw, keys)
        except ValueError as exc:
            errors[name] = f"{param.label}：{exc}"
            continue
        if value is not None and not isinstance(value, list):
            problem = check_rules(param, value)
            if problem:
                errors[name] = f"{param.label}：{problem}"
                continue
        if value is None and param.required:
            errors[name] = f"请选择{param.label}" if _is_choice(param) else f"请填写{param.label}"
            continue
        clean[name] = value
    if errors:
        raise Invalid(errors)
    return clean
