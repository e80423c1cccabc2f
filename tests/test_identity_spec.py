"""Spec keys added for the identity backbone: `initials_of` and custom-action `handler`."""
from __future__ import annotations

from pathlib import Path

import pytest

from specadmin.generator.build import load_app
from specadmin.generator.errors import SpecInvalid

APP = "app: demo\nlabel: 示例\nmodules: [main]\n"
MODULE = """\
entities:
  shop:
    label: 店铺
    fields:
      name:     {type: string, label: 名称}
      count:    {type: integer, label: 数量}
      initials: {type: string, label: 简码, initials_of: {source}}
screens:
  shop_admin:
    entity: shop
    label: 店铺管理
    search: [name, initials]
    actions: [create, update]
    custom_actions:
      {action}: {{label: 操作, {body}}}
"""


def load(tmp_path: Path, source="name", action="touch", body="handler: identity.change_org"):
    (tmp_path / "modules").mkdir(parents=True, exist_ok=True)
    (tmp_path / "app.yaml").write_text(APP, encoding="utf-8")
    text = MODULE.replace("{source}", source).replace("{action}", action).replace("{body}", body)
    (tmp_path / "modules" / "main.yaml").write_text(text.replace("{{", "{").replace("}}", "}"), encoding="utf-8")
    return load_app(tmp_path)


def codes(tmp_path: Path, **kw) -> list[tuple[str, str]]:
    with pytest.raises(SpecInvalid) as info:
        load(tmp_path, **kw)
    return [(e.code, e.message) for e in info.value.errors]


def test_valid_initials_and_handler_load_into_the_model(tmp_path):
    app = load(tmp_path)
    field = app.entity("shop").field("initials")
    assert field.initials_of == "name" and not field.editable
    assert "initials" not in app.screen("shop_admin").form
    action = app.screen("shop_admin").custom_actions[0]
    assert action.handler == "identity.change_org" and not action.set


def test_initials_of_must_name_a_string_field(tmp_path):
    found = codes(tmp_path, source="count")
    assert any(code == "SA013" and "initials_of" in message for code, message in found)


def test_handler_must_name_a_handler_of_a_plugin_in_use(tmp_path):
    found = codes(tmp_path, body="handler: identity.nothing_here")
    assert any(code == "SA081" and "has no handler 'nothing_here'" in message for code, message in found)
    found = codes(tmp_path, body="handler: video.reconcile")
    assert any(code == "SA081" and "list it under plugins: in app.yaml" in message for code, message in found)


def test_an_import_path_handler_fails_check_naming_the_new_spelling(tmp_path):
    found = codes(tmp_path, body="handler: specadmin.runtime.identity.actions.change_org")
    assert any(code == "SA081" and "write 'identity.change_org'" in message for code, message in found)


def test_action_needs_set_or_handler(tmp_path):
    found = codes(tmp_path, body="batch: true")
    assert any(code == "SA012" for code, _ in found)


def test_custom_action_cannot_take_a_built_in_name(tmp_path):
    found = codes(tmp_path, action="delete")
    assert any(code == "SA081" and "built-in" in message for code, message in found)
