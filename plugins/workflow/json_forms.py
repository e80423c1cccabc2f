"""The `validate_json` effect: a text field holding JSON checked against a JSON Schema (an event's
`form_data` against its type's published form), with Chinese messages naming where it fails."""
from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from specadmin.runtime.data.values import Invalid
from specadmin.runtime.errors import Conflict

TYPES = {"string": "文本", "integer": "整数", "number": "数字", "boolean": "是或否", "object": "对象", "array": "列表",
         "null": "空值"}
MOST = 5  # problems named in one answer


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _problem(error) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "表单"
    v, expected = error.validator, error.validator_value
    if v == "required":
        missing = [name for name in expected if isinstance(error.instance, dict) and name not in error.instance]
        return f"{where}：缺少必填项 {'、'.join(missing)}"
    if v == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        return f"{where}：应为{'或'.join(TYPES.get(k, k) for k in kinds)}"
    phrases = {"enum": "不在可选值内", "const": "不是规定的值", "pattern": "格式不正确", "format": "格式不正确",
               "maxLength": f"长度不能超过 {expected}", "minLength": f"长度不能少于 {expected}",
               "maximum": f"不能大于 {expected}", "minimum": f"不能小于 {expected}",
               "exclusiveMaximum": f"应小于 {expected}", "exclusiveMinimum": f"应大于 {expected}",
               "maxItems": f"最多 {expected} 项", "minItems": f"至少 {expected} 项",
               "additionalProperties": "含有表单未定义的项"}
    return f"{where}：{phrases.get(v, '不符合表单定义')}"


def validate_json(field: str, label: str, value: Any, schema: Any) -> None:
    """Refuse (422 on `field`) a value that is not JSON or does not meet `schema`; a schema that is not
    a JSON Schema is the configuration's fault (409), not the writer's."""
    try:
        schema = _loaded(schema)
        Draft202012Validator.check_schema(schema)
    except (ValueError, SchemaError):
        raise Conflict(f"“{label}”的表单定义不是有效的 JSON Schema，请联系配置管理员") from None
    if value in (None, ""):
        value = "{}"
    try:
        data = _loaded(value)
    except ValueError:
        raise Invalid({field: f"{label}：应为 JSON"}) from None
    problems = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    if problems:
        named = "；".join(_problem(e) for e in problems[:MOST])
        more = f"等 {len(problems)} 处" if len(problems) > MOST else ""
        raise Invalid({field: f"{label}不符合表单定义：{named}{more}"})
