"""Every example's committed generated code matches its spec (what CI regenerating would write), and so
does the built-in modules' package that every app imports (runtime/system/generated)."""
from __future__ import annotations

import pytest
from conftest import EXAMPLES, ROOT

from specadmin.generator.writer import SYSTEM_DIR, generate

APPS = sorted(p.parent.name for p in EXAMPLES.glob("*/app.yaml"))


@pytest.mark.parametrize("app", APPS)
def test_generated_code_is_current(app):
    assert generate(EXAMPLES / app, check=True) == [], f"run: specadmin generate examples/{app}"


def test_the_built_in_modules_package_is_current():
    assert generate(SYSTEM_DIR, check=True) == [], f"run: specadmin generate {SYSTEM_DIR.relative_to(ROOT)}"


def test_an_app_generates_none_of_the_built_in_tables():
    tables = (EXAMPLES / "kaiping" / "generated" / "tables.py").read_text(encoding="utf-8")
    assert 'tablename="sys_' not in tables and "*system.TABLES" in tables


@pytest.mark.parametrize("app", APPS)
def test_the_committed_model_with_the_built_in_modules_is_the_whole_spec(app):
    from example_apps import model_of

    from specadmin.generator.build import load_app

    assert model_of(app) == load_app(EXAMPLES / app)
