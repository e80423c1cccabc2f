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


def test_a_custom_action_declares_typed_parameters(tmp_path):
    module = MODULE.replace("    actions: [create, update]\n", """    actions: [create, update]
    custom_actions:
      paint:
        label: 涂色
        set: {name: 已涂色}
        params:
          shade:  {type: dict, dict: color, label: 颜色, multi: true, default: [red], required: true}
          unit:   {type: ref, to: org, label: 单位}
          until:  {type: date, label: 截止日期, help: 留空表示长期}
          secret: {type: password, label: 口令}
          reason: {type: string, label: 原因, max_length: 20, codes: entities}
""", 1)
    action = load_app(make_app(tmp_path, module)).screen("shop_admin").custom_actions[0]
    assert [(p.name, p.type) for p in action.params] == [("shade", "dict"), ("unit", "ref"), ("until", "date"),
                                                         ("secret", "password"), ("reason", "string")]
    assert action.param("shade").multi and action.param("shade").default == ("red",) and action.param("shade").required
    assert action.param("unit").to == "org" and action.param("until").help == "留空表示长期"


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
    ("an action's file parameter that no set attaches to a file field", "    actions: [create, update]\n",
     "    actions: [create, update]\n    custom_actions:\n      note:\n        label: 备注\n        set: {name: 已备注}\n"
     "        params:\n          attachment: {type: file, label: 附件}\n", "SA164", "attachment: {type: file"),
    ("an action parameter naming no dictionary", "    actions: [create, update]\n",
     "    actions: [create, update]\n    custom_actions:\n      paint:\n        label: 涂色\n        set: {name: 已涂色}\n"
     "        params:\n          shade: {type: dict, dict: colours, label: 颜色}\n", "SA082", "dict: colours"),
    ("an action parameter referring to no entity", "    actions: [create, update]\n",
     "    actions: [create, update]\n    custom_actions:\n      move:\n        label: 迁移\n        set: {name: 已迁移}\n"
     "        params:\n          target: {type: ref, to: orgs, label: 目标单位}\n", "SA082", "to: orgs"),
    ("an action parameter with a reserved name", "    actions: [create, update]\n",
     "    actions: [create, update]\n    custom_actions:\n      tag:\n        label: 标记\n        set: {name: 已标记}\n"
     "        params:\n          ids: {type: string, label: 编号}\n", "SA082", "ids: {type: string"),
    ("an action parameter with a ref scope no plugin offers", "    actions: [create, update]\n",
     "    actions: [create, update]\n    custom_actions:\n      give:\n        label: 赋予\n        set: {name: 已赋予}\n"
     "        params:\n          roles: {type: multi_ref, to: role, label: 角色, ref_scope: identity.everyone}\n",
     "SA082", "ref_scope: identity.everyone"),
    ("an action parameter whose default is no choice", "    actions: [create, update]\n",
     "    actions: [create, update]\n    custom_actions:\n      paint:\n        label: 涂色\n        set: {name: 已涂色}\n"
     "        params:\n          shade: {type: dict, dict: color, label: 颜色, default: green}\n", "SA082", "default: green"),
    ("an action setting a field from a parameter it does not declare", "    actions: [create, update]\n",
     "    actions: [create, update]\n    custom_actions:\n      rename:\n        label: 改名\n"
     "        set: {name: $params.new_name}\n        params:\n          other: {type: string, label: 其他}\n",
     "SA081", "set: {name: $params.new_name}"),
    ("an action setting a field from a parameter of another kind", "    actions: [create, update]\n",
     "    actions: [create, update]\n    custom_actions:\n      rate:\n        label: 评分\n"
     "        set: {low: $params.score}\n        params:\n          score: {type: date, label: 日期}\n",
     "SA081", "set: {low: $params.score}"),
    ("unmask on a screen that shows no sensitive value", "actions: [list, update]", "actions: [list, unmask]", "SA062",
     "actions: [list, unmask]"),
    ("clear_view on a screen that shows no sensitive value", "fields: [low, high],", "fields: [low, high], clear_view: true,",
     "SA062", "clear_view: true"),
    ("import mode outside the import modes", "    actions: [create, update]\n",
     "    actions: [create, update, import]\n    import: {modes: [skip_bad_rows], mode: all_or_nothing}\n", "SA110",
     "import: {modes"),
    ("import mode upsert without a key", "    actions: [create, update]\n",
     "    actions: [create, update, import]\n    import: {modes: [all_or_nothing, upsert]}\n", "SA110", "import: {modes"),
    ("unique set naming an unknown field", "    label: 店铺\n", "    label: 店铺\n    unique: [[name, colour]]\n", "SA036",
     "unique: [[name, colour]]"),
    ("unique set naming a field twice", "    label: 店铺\n", "    label: 店铺\n    unique: [[name, name]]\n", "SA037",
     "unique: [[name, name]]"),
    ("unique set declared twice", "    label: 店铺\n", "    label: 店铺\n    unique:\n      - [name, color]\n      - [color, name]\n",
     "SA037", "- [color, name]"),
    ("unique set repeating a unique field", "    label: 店铺\n", "    label: 店铺\n    unique: [[code]]\n", "SA037",
     "unique: [[code]]"),
    ("unique set over a lookup", "    label: 店铺\n", "    label: 店铺\n    unique: [[name, head]]\n", "SA038",
     "unique: [[name, head]]"),
    ("bad YAML syntax", "    label: 店铺\n", "    label: [店铺\n", "SA001", None),
]


def test_unmask_is_offered_where_a_sensitive_value_shows_and_granted_only_by_name(tmp_path):
    module = MODULE.replace("{type: string, label: 名称}", "{type: string, label: 名称, sensitive: name}").replace(
        "      shop_admin: {actions: [list, update], fields: [low, high],",
        "      shop_admin: {actions: [list, update], clear_view: true, fields: [low, high],") + (
        "  boss:\n    label: 店长\n    grants: {shop_admin: all}\n")
    app = load_app(make_app(tmp_path / "sensitive", module))
    assert "unmask" in app.screen("shop_admin").offered_actions
    grants = {r.name: r.grants[0].actions for r in app.roles if r.name in ("clerk", "boss")}
    assert "unmask" in grants["clerk"]  # clear_view: true is its synonym
    assert "unmask" not in grants["boss"] and "update" in grants["boss"]  # `all` never includes clear view
    plain = load_app(make_app(tmp_path / "plain"))
    assert "unmask" not in plain.screen("shop_admin").offered_actions
    # A lookup that ends at a sensitive value (the unit head's mobile) is enough to offer it.
    via_lookup = load_app(make_app(tmp_path / "lookup", MODULE.replace("path: unit.head_name", "path: unit.head_phone")))
    assert "unmask" in via_lookup.screen("shop_admin").offered_actions


def test_import_modes_default_to_every_mode_that_applies(tmp_path):
    with_import = MODULE.replace("    actions: [create, update]\n", "    actions: [create, update, import]\n")
    app = load_app(make_app(tmp_path / "default", with_import))
    spec = app.screen("shop_admin").import_spec
    assert (spec.mode, spec.choices) == ("all_or_nothing", ("all_or_nothing", "skip_bad_rows"))
    pinned = with_import.replace("import]\n", "import]\n    import: {modes: [skip_bad_rows], key: [code]}\n")
    spec = load_app(make_app(tmp_path / "pinned", pinned)).screen("shop_admin").import_spec
    assert (spec.mode, spec.choices) == ("skip_bad_rows", ("skip_bad_rows",))


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
