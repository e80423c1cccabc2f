"""`rules:` and `jobs:` in the spec: a valid declaration builds the model; each mistake is a spec
error with its code and line (fields exist with the right types, bounds key, created fields,
reasons in the target dictionary, job rule/function/schedule)."""
from __future__ import annotations

from pathlib import Path

import pytest
from specadmin.generator.build import load_app
from specadmin.generator.errors import SpecInvalid

APP = "app: demo\nlabel: 示例\nmodules: [main]\n"

MODULE = """\
dictionaries:
  why:
    label: 原因
    items: {low: 偏低, high: 偏高}
entities:
  site:
    label: 站点
    fields:
      code: {type: string, label: 编码, required: true, unique: true}
      name: {type: string, label: 名称}
      low:  {type: integer, label: 最小值}
      high: {type: integer, label: 最大值}
  reading:
    label: 读数
    fields:
      site_code: {type: string, label: 站点编码}
      site_name: {type: string, label: 站点名称}
      value: {type: decimal, label: 数值}
      taken_at: {type: datetime, label: 时间}
  alarm:
    label: 告警
    fields:
      site: {type: ref, to: site, label: 站点}
      start: {type: date, label: 开始}
      end: {type: date, label: 结束}
      reason: {type: dict, dict: why, label: 原因}
      note: {type: string, label: 说明}
  alarm_day:
    label: 告警明细
    fields:
      alarm: {type: ref, to: alarm, label: 告警}
      day: {type: date, label: 日期}
      total: {type: decimal, label: 合计}
rules:
  quiet_site:
    kind: consecutive_days
    source: {entity: reading, key: site_code, date: taken_at}
    days: 3
    measure: {sum: value}
    bounds: {entity: site, key: code, min: low, max: high}
    reasons: {below: low, above: high}
    creates:
      entity: alarm
      fields: {site: $bound, start: $start, end: $end, reason: $reason, note: 连续三天}
      days: {entity: alarm_day, fields: {alarm: $parent, day: $date, total: $value}}
  spike:
    kind: threshold
    source: {entity: reading, key: site_code, date: taken_at, value: value}
    bounds: {entity: site, key: code, max: high}
    reasons: {above: high}
    creates: {entity: alarm, fields: {site: $bound, start: $date, end: $date, reason: $reason}}
  unknown_sites:
    kind: missing_reference
    source: {entity: reading, key: site_code, newest: taken_at}
    target: {entity: site, key: code}
    creates: {entity: site, fields: {code: $key, name: $row.site_name}}
jobs:
  nightly:
    label: 夜间比对
    schedule: "15 2 * * *"
    rule: quiet_site
  morning_sms:
    label: 早间短信
    schedule: "0 8 * * 1-5"
    notification: open_alarms
notifications:
  open_alarms:
    channel: sms
    when: {entity: alarm, where: {reason: low}}
    group_by: site
    to: site.name
    once_per: day
    text: 有未处理告警
"""


def make(tmp_path: Path, module: str) -> Path:
    (tmp_path / "modules").mkdir(parents=True, exist_ok=True)
    (tmp_path / "app.yaml").write_text(APP, encoding="utf-8")
    (tmp_path / "modules" / "main.yaml").write_text(module, encoding="utf-8")
    return tmp_path


def test_valid_rules_and_jobs_build_into_the_model(tmp_path):
    app = load_app(make(tmp_path, MODULE))
    rule = app.rule("quiet_site")
    assert (rule.kind, rule.days, rule.measure, rule.measure_field, rule.any_day) == ("consecutive_days", 3, "sum", "value", False)
    assert rule.creates["days"]["fields"]["alarm"] == "$parent"
    assert app.rule("unknown_sites").creates["fields"]["name"] == "$row.site_name"
    assert [(j.name, j.schedule, j.rule, j.notification) for j in app.jobs] == [
        ("nightly", "15 2 * * *", "quiet_site", None), ("morning_sms", "0 8 * * 1-5", None, "open_alarms")]
    sms = app.notification("open_alarms")
    assert (sms.entity, dict(sms.where), sms.group_by, sms.to, sms.once_per) == ("alarm", {"reason": "low"}, "site", "site.name", "day")
    assert type(app).from_dict(app.to_dict()) == app  # survives app_model.json


CASES = [
    ("source date missing field", "date: taken_at}\n    days", "date: taken}\n    days", "SA120", "date: taken}"),
    ("source date wrong type", "date: taken_at}\n    days", "date: site_name}\n    days", "SA120", "date: site_name}"),
    ("sum of text field", "measure: {sum: value}", "measure: {sum: site_name}", "SA120", "measure: {sum: site_name}"),
    ("bounds key not unique", "bounds: {entity: site, key: code, min: low", "bounds: {entity: site, key: name, min: low",
     "SA120", "key: name, min: low"),
    ("bounds entity missing", "bounds: {entity: site, key: code, min: low", "bounds: {entity: sites, key: code, min: low",
     "SA120", "entity: sites"),
    ("created field missing", "note: 连续三天", "memo: 连续三天", "SA121", "memo: 连续三天"),
    ("reason not in dictionary", "reasons: {below: low, above: high}", "reasons: {below: under, above: high}",
     "SA121", "below: under"),
    ("token not offered by kind", "start: $date, end: $date", "start: $start, end: $date", "SA121", "start: $start, end: $date"),
    ("per-day rows without parent", "fields: {alarm: $parent,", "fields: {alarm: $value,", "SA121", "alarm: $value"),
    ("copied source field missing", "name: $row.site_name", "name: $row.nope", "SA121", "$row.nope"),
    ("job names unknown rule", "rule: quiet_site\n", "rule: loud_site\n", "SA122", "rule: loud_site"),
    ("job bad cron", '"15 2 * * *"', '"75 2 * * *"', "SA122", "75 2"),
    ("job function names no plugin", "rule: quiet_site\n", "function: nowhere.job\n", "SA122", "nowhere.job"),
    ("rule kind unknown", "kind: threshold", "kind: thresholds", "SA013", "kind: thresholds"),
    ("job names unknown notification", "notification: open_alarms", "notification: closed_alarms", "SA122",
     "notification: closed_alarms"),
    ("notification group is not a ref", "group_by: site\n", "group_by: note\n", "SA123", "group_by: note"),
    ("notification recipient path broken", "to: site.name", "to: site.phone", "SA123", "to: site.phone"),
    ("notification where on unknown field", "where: {reason: low}", "where: {why: low}", "SA080", "where: {why: low}"),
]


@pytest.mark.parametrize("name,old,new,code,needle", CASES, ids=[c[0] for c in CASES])
def test_rule_mistake_is_reported_with_code_and_line(tmp_path, name, old, new, code, needle):
    assert old in MODULE
    text = MODULE.replace(old, new, 1)
    with pytest.raises(SpecInvalid) as info:
        load_app(make(tmp_path, text))
    line = next(i for i, l in enumerate(text.splitlines(), 1) if needle in l)
    assert (code, line) in [(e.code, e.line) for e in info.value.errors], info.value.errors
