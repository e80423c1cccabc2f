"""The one resolver of `a.b.c` paths through refs (specs/paths.py), on the Kaiping and Xicheng models."""
from __future__ import annotations

from pathlib import Path

import pytest

from specadmin.generator.build import load_app, load_registry
from specadmin.generator.semantics import Checker
from specadmin.specs.paths import PathError, resolve

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def kaiping():
    return load_app(ROOT / "examples" / "kaiping")


@pytest.fixture(scope="module")
def xicheng():
    return load_app(ROOT / "examples" / "xicheng")


def hops(path):
    return [(h.entity, h.name, h.target) for h in path.hops]


def test_one_hop_to_a_field_of_the_target(kaiping):
    path = resolve(kaiping, "place", "supervisor.head_name")
    assert hops(path) == [("place", "supervisor", "org")]
    assert (path.owner, path.name, path.field.type) == ("org", "head_name", "string")
    assert path.names == ("supervisor", "head_name")
    assert path.first is kaiping.entity("place").field("supervisor")
    assert path.rest() == "head_name"


def test_several_hops_and_the_entity_as_a_model_object(kaiping):
    path = resolve(kaiping, kaiping.entity("scan_alert_day"), "alert.place.supervisor.head_phone")
    assert hops(path) == [("scan_alert_day", "alert", "scan_alert"), ("scan_alert", "place", "place"),
                          ("place", "supervisor", "org")]
    assert path.field is kaiping.entity("org").field("head_phone")
    assert path.field.sensitive == "phone"
    assert path.rest() == "place.supervisor.head_phone"


def test_a_single_field_has_no_hops(kaiping):
    path = resolve(kaiping, "place", "supervisor")
    assert path.hops == () and path.owner == "place"
    assert path.target == "org"
    assert path.rest() == ""


def test_a_ref_by_business_key_is_followed(xicheng):
    path = resolve(xicheng, "site_scan_stat", "site.street")
    assert hops(path) == [("site_scan_stat", "site", "testing_site")]
    assert path.hops[0].field.key == "site_code"
    assert path.target == "org"


def test_id_at_the_end(kaiping):
    path = resolve(kaiping, "scan_alert", "place.id")
    assert hops(path) == [("scan_alert", "place", "place")]
    assert (path.field.name, path.field.type) == ("id", "integer")
    assert resolve(kaiping, "org", "id").owner == "org"


def test_audit_columns_of_every_table(kaiping):
    """created_by and friends are columns of every table without a declared created_by (specs/physical.py)."""
    assert resolve(kaiping, "place", "created_by").field.type == "integer"
    assert resolve(kaiping, "scan_alert", "place.updated_at").field.type == "datetime"


def test_unknown_field(kaiping):
    with pytest.raises(PathError) as info:
        resolve(kaiping, "scan_alert", "place.nope")
    assert str(info.value) == "'nope' is not a field of entity 'place'"
    assert (info.value.part, info.value.entity) == ("nope", "place")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)


def test_hop_through_a_field_that_is_not_a_ref(kaiping):
    with pytest.raises(PathError) as info:
        resolve(kaiping, "place", "name.first.second")
    assert str(info.value) == "'name' of 'place' is not a ref, so 'first.second' cannot follow it"
    assert info.value.part == "name"


def test_a_lookup_is_not_followed_unless_asked(kaiping):
    with pytest.raises(PathError, match="'supervisor' of 'scan_alert' is not a ref, so 'head_name' cannot follow it"):
        resolve(kaiping, "scan_alert", "supervisor.head_name")
    plain = resolve(kaiping, "scan_alert", "supervisor")
    assert plain.field.type == "lookup" and plain.hops == ()


def test_lookups_expand_to_their_paths(kaiping):
    path = resolve(kaiping, "scan_alert", "supervisor.head_name", lookups=True)
    assert hops(path) == [("scan_alert", "place", "place"), ("place", "supervisor", "org")]
    assert path.names == ("place", "supervisor", "head_name")
    assert path.path == "supervisor.head_name"


def test_lookups_through_multi_hops(kaiping):
    # alert -> scan_alert, whose lookup `supervisor` stands for place.supervisor
    path = resolve(kaiping, "scan_alert_day", "alert.supervisor", lookups=True)
    assert path.names == ("alert", "place", "supervisor")
    assert path.owner == "place" and path.target == "org"
    # a lookup at the end of several hops: place.supervisor_phone stands for supervisor.head_phone
    path = resolve(kaiping, "scan_alert_day", "alert.place.supervisor_phone", lookups=True)
    assert path.names == ("alert", "place", "supervisor", "head_phone")
    assert path.field.sensitive == "phone"
    # a lookup through a ref by business key
    path = resolve(kaiping, "scan_record", "supervisor", lookups=True)
    assert hops(path) == [("scan_record", "place_code", "place")]
    assert path.hops[0].field.key == "place_code" and path.target == "org"


def test_the_semantic_check_resolves_the_raw_specs_with_the_same_messages():
    reg, errors = load_registry(ROOT / "examples" / "kaiping")
    assert not errors
    checker = Checker(reg)
    final, problem = checker.resolve("scan_alert_day", "alert.place.supervisor.head_name")
    assert problem == "" and final["type"] == "string"
    assert checker.resolve("place", "id") == ({"type": "integer", "label": "ID"}, "")
    assert checker.resolve("place", "nope") == (None, "'nope' is not a field of entity 'place'")
    assert checker.resolve("place", "name.x") == (None, "'name' of 'place' is not a ref, so 'x' cannot follow it")
    # the raw specs know only declared fields (and id): the audit columns are no spec fields
    assert checker.resolve("place", "created_at")[0] is None
