"""Broken specs report the right file, line and code; all errors at once; exit 1 from the CLI."""
from __future__ import annotations

from pathlib import Path

import pytest

from specadmin.cli import main
from specadmin.generator.build import load_app
from specadmin.generator.errors import SpecInvalid

APP = """\
app: demo
label: 示例
modules: [main]
"""

MODULE = """\
dictionaries:
  color:
    label: 颜色
    items: {red: 红, blue: 蓝}
entities:
  shop:
    label: 店铺
    fields:
      code:   {type: string, label: 编码, required: true, unique: true}
      name:   {type: string, label: 名称}
      color:  {type: dict, dict: color, label: 颜色}
      unit:   {type: ref, to: org, label: 监管单位}
      head:   {type: lookup, path: unit.head_name, label: 负责人}
      low:    {type: integer, label: 最小值, min: 0}
      high:   {type: integer, label: 最大值}
screens:
  shop_admin:
    entity: shop
    label: 店铺管理
    list: [code, name, color, unit]
    filters: [color]
    actions: [create, update]
roles:
  clerk:
    label: 店员
    grants:
      shop_admin: {actions: [list, update], fields: [low, high], scope: {mode: own_unit, field: unit}}
"""


def make_app(tmp_path: Path, module: str = MODULE, app: str = APP) -> Path:
    (tmp_path / "modules").mkdir(parents=True, exist_ok=True)
    (tmp_path / "app.yaml").write_text(app, encoding="utf-8")
    (tmp_path / "modules" / "main.yaml").write_text(module, encoding="utf-8")
    return tmp_path


def errors_of(tmp_path: Path, module: str = MODULE, app: str = APP):
    with pytest.raises(SpecInvalid) as info:
        load_app(make_app(tmp_path, module, app))
    return info.value.errors


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_base_spec_is_valid(tmp_path):
    app = load_app(make_app(tmp_path))
    assert app.entity("shop").field("head").path == "unit.head_name"


def test_a_string_field_may_name_a_code_list_or_a_dictionary_for_its_labels(tmp_path):
    module = MODULE.replace("{type: string, label: 名称}", "{type: string, label: 名称, codes: entities}")
    module = module.replace("{type: integer, label: 最小值, min: 0}", "{type: string, label: 最小值, codes: color}")
    app = load_app(make_app(tmp_path, module))
    assert app.entity("shop").field("name").codes == "entities" and app.entity("shop").field("low").codes == "color"


CASES = [
    # (name, old text, new text, code, line needle)
    ("unknown field in list", "list: [code, name, color, unit]", "list: [code, nmae, color, unit]", "SA041", "list: [code, nmae"),
    ("ref to missing entity", "to: org, label: 监管单位", "to: orgs, label: 监管单位", "SA030", "to: orgs"),
    ("bad field type", "{type: integer, label: 最小值, min: 0}", "{type: int, label: 最小值, min: 0}", "SA013", "type: int,"),
    ("unknown key with suggestion", "{type: string, label: 名称}", "{type: string, lable: 名称}", "SA010", "lable: 名称"),
    ("missing required key", "{type: string, label: 名称}", "{type: string}", "SA012", "name:   {type: string}"),
    ("scope on missing field", "field: unit}}", "field: owner}}", "SA050", "field: owner"),
    ("scope on non-org field", "field: unit}}", "field: name}}", "SA051", "field: name}}"),
    ("dictionary missing", "dict: color, label: 颜色", "dict: colour, label: 颜色", "SA031", "dict: colour"),
    ("lookup path broken", "path: unit.head_name", "path: unit.boss", "SA032", "path: unit.boss"),
    ("codes naming no code list or dictionary", "{type: string, label: 名称}", "{type: string, label: 名称, codes: colours}",
     "SA031", "codes: colours"),
    ("codes on a field that is no string", "{type: integer, label: 最大值}", "{type: integer, label: 最大值, codes: entities}",
     "SA031", "codes: entities"),
    ("choices on a field that is no plain string", "{type: integer, label: 最大值}",
     "{type: integer, label: 最大值, choices: [一, 二]}", "SA031", "choices: [一, 二]"),
    ("grant on missing screen", "      shop_admin: {actions", "      shop_list: {actions", "SA060", "shop_list: {actions"),
    ("grant field not editable", "fields: [low, high]", "fields: [low, head]", "SA061", "fields: [low, head]"),
    ("grant action not offered", "actions: [list, update]", "actions: [list, delete]", "SA062", "actions: [list, delete]"),
    ("min greater than max", "{type: integer, label: 最大值}", "{type: integer, label: 最大值, min: 9, max: 1}", "SA071", "label: 最大值, min: 9"),
    ("default of wrong type", "{type: integer, label: 最大值}", "{type: integer, label: 最大值, default: lots}", "SA072", "default: lots"),
    ("filter on unknown field", "filters: [color]", "filters: [colour]", "SA041", "filters: [colour]"),
    ("screen on missing entity", "    entity: shop\n", "    entity: shops\n", "SA040", "entity: shops"),
    ("duplicate key", "      high:   {type: integer, label: 最大值}", "      high:   {type: integer, label: 最大值}\n      high:   {type: integer, label: 又一个}", "SA002", "label: 又一个"),
    ("bad check expression", "      high:   {type: integer, label: 最大值}\n", "      high:   {type: integer, label: 最大值}\n    checks:\n      - {expr: \"low <= \", message: 错}\n", "SA070", "expr: \"low <= \""),
    ("related list via a field that is no ref here", "    actions: [create, update]\n",
     "    actions: [create, update]\n    related:\n      others: {label: 其他, entity: shop, via: name, columns: [code]}\n",
     "SA044", "others: {label"),
    ("related list with an unknown column", "    actions: [create, update]\n",
     "    actions: [create, update]\n    related:\n      staff: {label: 店员, entity: user, via: org, columns: [nickname]}\n",
     "SA044", "staff: {label"),
    ("stamp_on without a system value", "{type: integer, label: 最大值}", "{type: integer, label: 最大值, stamp_on: [low]}",
     "SA112", "stamp_on: [low]"),
    ("lookup by a key that is not sensitive", "    actions: [create, update]\n",
     "    actions: [create, update]\n    lookup: {keys: [color]}\n", "SA150", "lookup: {keys: [color]}"),
    ("a field named like the row version", "      high:   {type: integer, label: 最大值}\n",
     "      high:   {type: integer, label: 最大值}\n      version: {type: integer, label: 版本}\n", "SA035",
     "version: {type: integer"),
    ("bad YAML syntax", "    label: 店铺\n", "    label: [店铺\n", "SA001", None),
]


@pytest.mark.parametrize("name,old,new,code,needle", CASES, ids=[c[0] for c in CASES])
def test_broken_spec_reports_file_line_and_code(tmp_path, name, old, new, code, needle):
    assert old in MODULE, name
    broken = MODULE.replace(old, new, 1)
    errors = errors_of(tmp_path, broken)
    matching = [e for e in errors if e.code == code]
    assert matching, f"{name}: expected {code}, got {[str(e) for e in errors]}"
    error = matching[0]
    assert error.file.endswith("modules/main.yaml")
    if needle:
        assert error.line == line_of(broken, needle), str(error)
    assert str(error).startswith(f"{error.file}:{error.line}: [{code}]")


def test_duplicate_entity_across_modules_points_at_the_second(tmp_path):
    app = APP.replace("modules: [main]", "modules: [main, extra]")
    make_app(tmp_path, MODULE, app)
    extra = "entities:\n  shop:\n    label: 又一个店铺\n    fields:\n      name: {type: string, label: 名称}\n"
    (tmp_path / "modules" / "extra.yaml").write_text(extra, encoding="utf-8")
    with pytest.raises(SpecInvalid) as info:
        load_app(tmp_path)
    [error] = [e for e in info.value.errors if e.code == "SA020"]
    assert error.file.endswith("modules/extra.yaml") and error.line == 2 and "main.yaml" in error.message


def test_missing_module_file_is_reported_in_app_yaml(tmp_path):
    errors = errors_of(tmp_path, MODULE, APP.replace("modules: [main]", "modules: [main, ghost]"))
    assert [(e.code, e.file.endswith("app.yaml"), e.line) for e in errors] == [("SA003", True, 3)]


def test_all_errors_are_reported_at_once(tmp_path):
    broken = MODULE.replace("to: org,", "to: orgs,").replace("filters: [color]", "filters: [colour]")
    codes = sorted(e.code for e in errors_of(tmp_path, broken))
    assert "SA030" in codes and "SA041" in codes


def test_cli_check_prints_errors_and_exits_1(tmp_path, capsys):
    make_app(tmp_path, MODULE.replace("to: org,", "to: orgs,"))
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"modules/main.yaml:{line_of(MODULE, 'to: org,')}: [SA030]" in err


def test_generate_check_detects_stale_code(tmp_path, capsys):
    make_app(tmp_path)
    assert main(["generate", str(tmp_path)]) == 0
    assert main(["generate", str(tmp_path), "--check"]) == 0
    before = (tmp_path / "generated" / "tables.py").read_bytes()
    assert main(["generate", str(tmp_path)]) == 0
    assert (tmp_path / "generated" / "tables.py").read_bytes() == before  # deterministic
    (tmp_path / "modules" / "main.yaml").write_text(MODULE.replace("      high:", "      note:   {type: text, label: 备注}\n      high:"), encoding="utf-8")
    assert main(["generate", str(tmp_path), "--check"]) == 1
    assert "tables.py" in capsys.readouterr().err
    assert main(["generate", str(tmp_path)]) == 0
    migrations = sorted(p.name for p in (tmp_path / "generated" / "migrations").glob("m*.py"))
    assert migrations == ["m0001_initial.py", "m0002_auto.py"]
    assert "add_column" in (tmp_path / "generated" / "migrations" / "m0002_auto.py").read_text()
