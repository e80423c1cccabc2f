"""Every example's committed generated code matches its spec (what CI regenerating would write)."""
from __future__ import annotations

import pytest
from conftest import EXAMPLES

from specadmin.generator.writer import generate

APPS = sorted(p.parent.name for p in EXAMPLES.glob("*/app.yaml"))


@pytest.mark.parametrize("app", APPS)
def test_generated_code_is_current(app):
    assert generate(EXAMPLES / app, check=True) == [], f"run: specadmin generate examples/{app}"
