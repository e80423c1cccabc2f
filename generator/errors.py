"""Spec errors: every problem found in a spec, with file, line and a stable code."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class SpecError:
    file: str
    line: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: [{self.code}] {self.message}"


class SpecInvalid(Exception):
    """Raised with every error found, so the user fixes them in one pass."""

    def __init__(self, errors: list[SpecError]):
        self.errors = sorted(set(errors))
        super().__init__("\n".join(str(e) for e in self.errors))


# Stable codes, documented in specs/REFERENCE.md.
CODES = {
    "SA001": "YAML syntax error",
    "SA002": "duplicate key in a YAML mapping",
    "SA003": "module file listed in app.yaml is missing",
    "SA010": "unknown key",
    "SA011": "value has the wrong type",
    "SA012": "required key missing",
    "SA013": "value not allowed (enum, pattern or range)",
    "SA020": "entity defined twice",
    "SA021": "screen defined twice",
    "SA022": "role defined twice",
    "SA023": "dictionary defined twice",
    "SA030": "ref to an entity that does not exist",
    "SA031": "dict field names a dictionary that does not exist",
    "SA032": "lookup path does not resolve",
    "SA033": "ref key is not a unique field of the target",
    "SA034": "tree parent field is not a ref to the same entity",
    "SA035": "field name is reserved for a system column (the row version)",
    "SA210": "multi: true on a field whose type cannot hold several values (dict or file)",
    "SA211": "a multi-valued dict that is unique, sensitive, has codes/choices/pattern/index, a default that is not a list of its keys, or a dictionary with separator characters in its keys",
    "SA212": "a statistic groups by a multi-valued dict",
    "SA213": "a where clause compares a multi-valued dict with an operator other than eq, contains, in, not",
    "SA214": "a multi-valued dict as a unique set member, import key or data scope field",
    "SA195": "renamed_from names an entity or field in use (or a field without a column)",
    "SA190": "pull names an external database that app.yaml does not declare, or a URL of an unsupported kind",
    "SA191": "pull names an unknown entity or field, a field it cannot write, or leaves a required field without a column",
    "SA192": "pull key field is not among the pulled fields",
    "SA193": "pull owns a screen that does not exist or shows another entity",
    "SA036": "unique names a field the entity does not have",
    "SA037": "unique names a field twice, or a field set declared already",
    "SA038": "unique on a field without a column of its own (lookup, multi_ref)",
    "SA039": "ref `by` names no field of the target, or one that is not unique (or is encrypted)",
    "SA040": "screen names an entity that does not exist",
    "SA041": "screen column is not a field of its entity",
    "SA042": "filter or search field cannot be used that way",
    "SA043": "form field is not editable",
    "SA044": "related list names an unknown entity, a ref that does not point here, or unknown columns",
    "SA050": "scope names a field that does not exist",
    "SA051": "scope field does not lead to an org or user",
    "SA060": "grant names a screen that does not exist",
    "SA061": "grant names a field the screen cannot edit",
    "SA062": "grant names an action the screen does not offer",
    "SA070": "check expression is invalid",
    "SA071": "bounds contradict each other",
    "SA072": "default value does not fit the field",
    "SA080": "where clause names an unknown field or operator",
    "SA081": "action sets an unknown field or bad value",
    "SA082": "action parameter: unknown type, dictionary, code list, ref target or ref scope, bad bounds or default, or a reserved name",
    "SA083": "where clause value is a malformed relative date, or one on a field that is no date or datetime",
    "SA090": "stat names an unknown field",
    "SA200": "stat ratio names no earlier measure, a ratio, or percent/places without ratio; expr uses a ratio",
    "SA201": "stat measure where on a derived (expr/ratio) measure",
    "SA202": "stat compare (mom/yoy) without a fitting period first group key, or compare_measures unknown",
    "SA203": "stat drill names no list screen of the same entity",
    "SA100": "display field does not exist",
    "SA110": "import, export or delete-by-range names a field that cannot be used that way",
    "SA111": "field check does not fit the field type",
    "SA112": "stamp_on needs a system current_user/now field and editable fields to watch",
    "SA113": "import ref_keys names no ref column by id, or a target field that is not unique (or is encrypted)",
    "SA024": "rule defined twice",
    "SA025": "job defined twice",
    "SA026": "notification defined twice",
    "SA123": "notification path does not resolve or leads to the wrong kind of field",
    "SA124": "notification title/text/link uses a placeholder it cannot fill",
    "SA125": "event notification watches an unknown field or a custom action no screen of its entity offers",
    "SA126": "event notification recipients: bad `to`/`to_users` path, or none given",
    "SA120": "rule names an unknown entity or field, or a field of the wrong type",
    "SA121": "rule mapping or reason does not fit the created entity",
    "SA122": "job names an unknown rule, a bad function or a bad schedule",
    "SA180": "rule bounds: a literal min above the literal max",
    "SA181": "rule closes on a kind that raises no alerts (missing_reference, custom)",
    "SA182": "rule closes: not a stored field of the created entity, a value its dictionary lacks, or `at` not a date",
    "SA183": "rule reason no_data outside consecutive_days or without bounds min",
    "SA184": "rule closes: the created rows keep no owner, day or reason to close by",
    "SA027": "feed defined twice",
    "SA140": "feed names an unknown entity or field, or a field that cannot be used that way",
    "SA141": "inbound feed key, ops or ref_keys do not fit the entity",
    "SA142": "inbound feed grant: screen of another entity, unknown role, or neither/both of screen and caller_role",
    "SA143": "outbound feed names a target missing from app.yaml feed_targets, or a bad where clause",
    "SA150": "a screen's lookup key is not a sensitive field among its filters, or its scope is wrong",
    "SA175": "a computed field's expression cannot be read (syntax, unknown function, argument count) or is missing",
    "SA176": "a computed field's expression names an unknown field or path, or a field it cannot read",
    "SA177": "a computed field's expression gives a function or operator a value of the wrong type",
    "SA178": "a computed field's band bounds or labels are wrong",
    "SA179": "a computed field is placed where a value is written (form, import, default, required, unique)",
    "SA205": "an aggregate over child rows is on a field that is not computed, beside an expr, or names an unknown child entity",
    "SA206": "an aggregate's via is not a ref of the child entity to this entity (or is missing where the child has several or none)",
    "SA207": "an aggregate's agg and field do not fit (count/exists with a field, max/min/sum without one, a field it cannot read)",
    "SA208": "a rule names an aggregate over child rows where it reads a stored field (source, bounds key/min/max)",
    "SA209": "an aggregate over the entity's own rows (a tree's children), which is not supported",
    "SA130": "bulk_query names an unknown entity, screen or field, or a field of the wrong type",
    "SA170": "participated scope: `through` missing or naming an unknown entity, or through/and_sub on another mode",
    "SA171": "participated scope: `through.ref` is not a ref of the through entity to the scoped entity",
    "SA172": "participated scope: `through.field` does not lead to an org",
    "SA173": "screen `levels: true` without a tree scope (own_and_sub) to narrow",
    "SA174": "stat group `<level>(path)`: path not a ref to org, unknown org level, or a clashing group key",
    "SA165": "deadline on a field that is not a datetime, a bad from, or not exactly one amount unit",
    "SA166": "deadline amount path is not a number field of the row or through a ref",
    "SA167": "lights without a deadline, a done field or value that does not exist, or a clashing <field>_warn_at",
    "SA169": "app.yaml calendar working_hours out of order, overlapping or ending before they start",
    "SA215": "screen map: field is not a geo field of the entity",
    "SA216": "screen map: label is not a stored, unencrypted field of the entity",
    "SA217": "app.yaml map: tiles is not an http(s) URL template with {z}, {x} and {y}",
    "SA226": "an inbound feed carries a file field without max_mb, or with max_mb over what one feed call holds",
    "SA235": "a lights yellow param names an entity that does not exist, or a key/value/fallback field it lacks",
    "SA236": "a lights yellow param whose key is not a string field or value/fallback not a string or number field, or without exactly one unit",
    "SA168": "a where clause compares <field>_light with something other than green, yellow or red, or names it in a feed or chart line",
    "SA160": "accept, max_mb or max_files on a field that is not a file field",
    "SA161": "a file field accepts an extension specadmin cannot recognise by content",
    "SA162": "a file field's max_files without multi, or max_mb beyond security.max_upload_mb",
    "SA163": "a file field declared required, unique, index, or sensitive other than true",
    "SA164": "a custom action's file parameter not attached by set to a file field, on a batch action, or a file field set otherwise",
    "SA220": "an import column that is a multi_ref whose targets are named by no business key (`by:` or import ref_keys)",
}
