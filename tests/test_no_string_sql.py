"""No SQL is built from strings in runtime/ or in any app's generated/ code.

Every query goes through Piccolo's builders with values as parameters. The few raw-SQL
templates Piccolo cannot express are constants, each reviewed and listed below with why it is
safe; anything else the checker (tests/sql_string_checker.py) reports fails the suite.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT
from sql_string_checker import check_source, looks_like_sql

# (file, constant template) -> why it is safe. A template only ever receives Piccolo columns (quoted
# identifiers) or parameters through its {} placeholders, never text from a request.
REVIEWED_TEMPLATES = {
    ("runtime/imports/bulk.py", "SELECT nextval(pg_get_serial_sequence({}, {})) FROM generate_series(1, {})"):
        "PostgreSQL 批量导入预取新行的 id（多值引用的关联行要用）：表名、主键列名与行数均作为参数传入",
    ("runtime/data/multi_dict.py", "{} LIKE {} ESCAPE {}"):
        "多值字典字段“含有某键”：列由 Piccolo 写出，匹配模式与转义符作为参数传入",
    ("runtime/data/multi_dict.py", "{} NOT LIKE {} ESCAPE {}"):
        "多值字典字段“不含某键”：列由 Piccolo 写出，匹配模式与转义符作为参数传入",
    ("runtime/data/computed.py", '({} + {})'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '({} - {})'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '({} * {})'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '({} < {})'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '({} <= {})'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '({} > {})'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '({} >= {})'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '({} = {})'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '{} <> {}'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '({} <> {})'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '({} AND {})'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '({} OR {})'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '{}'):
        "计算字段：数字或文字常量作为参数传入，或包裹 Piccolo 写出的列名",
    ("runtime/data/computed.py", '{} = {}'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '{} > {}'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '{} >= {}'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '{} < {}'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '{} <= {}'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '{} IS NULL'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '{} IS NOT NULL'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '{} IS NULL AND {} IS NOT NULL'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '{} ILIKE {}'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '{} LIKE {}'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '(0 - {})'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '({} * 1.0 / NULLIF({}, 0))'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '({})'):
        "计算字段经引用的路径：占位符只接收 Piccolo 生成的关联 select 查询",
    ("runtime/data/computed.py", 'CAST(strftime({}, {}) AS INTEGER)'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", 'CAST(EXTRACT(YEAR FROM {}) AS INTEGER)'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", 'CAST(EXTRACT(MONTH FROM {}) AS INTEGER)'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", 'CAST(EXTRACT(DAY FROM {}) AS INTEGER)'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", '({} - {} - CASE WHEN {} * 100 + {} > {} THEN 1 ELSE 0 END)'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", 'CASE WHEN {} < {} THEN {} ELSE {} END'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", 'CASE WHEN {} IS NULL THEN NULL ELSE {} END'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", 'CASE WHEN {} THEN {} ELSE {} END'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/data/computed.py", 'COALESCE({}, {})'):
        "计算字段（specs/computed.py 的语法白名单）编译成的 SQL：占位符只接收 Piccolo 列、本模块的嵌套 QueryString 或作为参数传入的值",
    ("runtime/stats/query.py", "({})"):
        "统计的关联子查询：占位符只接收 Piccolo 生成的 select 查询（值均为参数）",
    ("runtime/stats/query.py", "{} LIKE {} || {}"):
        "统计按组织层级汇总（street(org)）：本行组织的层级路径以上级组织的路径开头；前两个占位符是 Piccolo 生成的子查询与 "
        "path 列，第三个是作为参数传入的通配符 %",
    ("runtime/pulls/mysql_source.py", "SELECT {} FROM {} WHERE {} IS NOT NULL ORDER BY {} LIMIT {}"):
        "一次从 MySQL/MariaDB 外部数据库拉取（Piccolo 无 MySQL 引擎）：表名、列名只经 mysql_source.quoted 进入（规格模式已限为字母数字下划线，此处再校验后加反引号），水位与行数上限作为驱动参数传入",
    ("runtime/pulls/mysql_source.py", "SELECT {} FROM {} WHERE {} > {} ORDER BY {} LIMIT {}"):
        "一次从 MySQL/MariaDB 外部数据库拉取（Piccolo 无 MySQL 引擎）：表名、列名只经 mysql_source.quoted 进入（规格模式已限为字母数字下划线，此处再校验后加反引号），水位与行数上限作为驱动参数传入",
    ("runtime/identity/revocation.py", "({})"):
        "会话与其用户行同一条查询读出（密码摘要、会话标识、是否启用）：占位符只接收 Piccolo 生成的按主键 select 查询（值均为参数）",
    ("runtime/identity/cache_state.py", "({})"):
        "缓存代号随会话检查的同一条查询读出：占位符只接收 Piccolo 生成的 select 查询（值均为参数）",
    ("runtime/data/aggregates.py", "EXISTS ({})"):
        "子表聚合（specs/aggregates.py）：占位符只接收 Piccolo 生成的子表 select 查询",
    ("runtime/data/aggregates.py", "({})"):
        "子表聚合（specs/aggregates.py）：把 Piccolo 生成的子表 select 查询包成标量子查询",
    ("runtime/stats/query.py", "EXISTS ({})"):
        "合计行的跨实体度量：占位符只接收 Piccolo 生成的 select 查询",
    ("runtime/stats/expr.py", "({} + {})"):
        "派生度量表达式（specs/measure_expr.py 语法白名单）：占位符只接收其他度量的 QueryString 或参数，带括号保持运算顺序",
    ("runtime/stats/expr.py", "({} - {})"):
        "派生度量表达式（specs/measure_expr.py 语法白名单）：占位符只接收其他度量的 QueryString 或参数，带括号保持运算顺序",
    ("runtime/stats/expr.py", "({} * {})"):
        "派生度量表达式（specs/measure_expr.py 语法白名单）：占位符只接收其他度量的 QueryString 或参数，带括号保持运算顺序",
    ("runtime/stats/query.py", "({} * 1.0 / NULLIF({}, 0))"):
        "比率度量：两个占位符只接收本统计其他度量的 QueryString；分母为 0 时 NULLIF 得 NULL（不会除零报错）",
    ("runtime/stats/query.py", "COUNT(CASE WHEN {} THEN 1 END)"):
        "带条件的计数度量：占位符只接收 where_of 由 Piccolo 列与参数构建的条件",
    ("runtime/stats/query.py", "CASE WHEN {} THEN {} END"):
        "带条件的汇总度量：占位符只接收 where_of 构建的条件和 Piccolo 列",
    ("runtime/stats/query.py", "({} + 2) / 3"):
        "季度分组：月份（Piccolo Month，整数）换算为季度，整数除法在 SQLite 与 PostgreSQL 相同",
    ("runtime/stats/query.py", "date({}, {}, {})"):
        "周分组（SQLite）：日期列与作为参数传入的固定修饰符（weekday 0, -6 days）得到 ISO 周一",
    ("runtime/stats/query.py", "CAST({} AS DATE) - (CAST(EXTRACT(ISODOW FROM {}) AS INTEGER) - 1)"):
        "周分组（PostgreSQL）：占位符只接收 Piccolo 列或其关联子查询，得到 ISO 周一",
    ("runtime/stats/drill.py", "{} IS NULL"):
        "统计下钻：分组键为空的组；占位符只接收 Piccolo 列或统计的分组表达式",
    ("runtime/stats/drill.py", "{} >= {} AND {} < {}"):
        "统计下钻：日期分组（日/周/月/季/年）换算成字段的起止范围，起止日期作为参数传入",
    ("runtime/stats/drill.py", "CAST({} AS TEXT) = {}"):
        "统计下钻：路径、上卷或计算字段分组键与 URL 中的值（作为参数传入）按文本比较",
    ("runtime/stats/expr.py", "{}"):
        "派生度量表达式中的整数常量：作为参数传入，语法白名单见 stats_expr.py",
    ("runtime/logs/charts.py", "date({})"):
        "日志图表按日分组：同上，占位符是日志表的 at 列",
    ("runtime/logs/charts.py", "EXTRACT(HOUR FROM {})"):
        "PostgreSQL 按小时分组：占位符是日志表的时间列",
    ("runtime/logs/charts.py", "CAST(strftime({}, {}) AS INTEGER)"):
        "SQLite 按小时分组：第一个占位符是常量格式 '%H'（作为参数传入），第二个是时间列",
    ("runtime/imports/bulk.py", "{} {}"):
        "SQLite 导入的暂存行一次移入正式表（INSERT ... SELECT）：第一个占位符是 Piccolo 为该表编译的 INSERT "
        "去掉 VALUES 部分（表名与列名均为带引号的标识符），第二个是 Piccolo 生成的暂存表 select 查询；无任何值拼接",
    ("runtime/data/queries.py", "({})"):
        "列表总数作为标量子查询随分页查询返回：占位符只接收 Piccolo 生成的 COUNT 查询",
    ("runtime/data/page_query.py", "{}"):
        "列表分页语句的条件槽位：编译一次时占位，每次请求换成本次的 Piccolo 条件（数据范围在内，值均为参数）",
    ("runtime/data/page_query.py", "{}{}{}"):
        "列表分页语句：第一个占位符是 Piccolo 为该列表编译的语句（其模板取自 Piccolo 的编译结果，条件以嵌套 "
        "QueryString 绑定），后两个是 Piccolo 自己的 Limit 与 Offset（校验过的整数）",
    ("runtime/imports/probe.py", "({}) IN ({})"):
        "导入查重（SQLite）：导入键的列（Piccolo 写出的列名）作为行值，与暂存表中本批键的 Piccolo select 比较",
    ("runtime/imports/probe.py", "{}, {}"):
        "同上：拼接 Piccolo 写出的列名",
    ("runtime/imports/probe.py", "{} = {}"):
        "导入查重（PostgreSQL）：正式表的键列等于临时表的键列，两边都是 Piccolo 写出的列名",
    ("runtime/imports/probe.py", 'SELECT t.* FROM {} CROSS JOIN LATERAL ({} OFFSET 0) AS t'):
        "同上：逐键查索引；第一个占位符是 Piccolo 写出的临时表名，第二个是 Piccolo 生成的 select（值均为参数）",
    ("runtime/imports/seen.py", "{} = ANY({}::BIGINT[])"):
        "文件内查重（PostgreSQL）：摘要列（Piccolo 写出的列名）与一个数组参数比较",
    ("runtime/rules/consecutive.py", "date({})"):
        "连续天数规则按日分组：占位符是规则声明的日期列",
    ("runtime/rules/consecutive.py", "SELECT set_config({}, {}, true)"):
        "连续天数规则（PostgreSQL）：仅对本事务设置 work_mem，设置名与值都作为参数传入",
    ("runtime/rules/breaches_pg.py",
     "unnest({}::bigint[], {}::text[], {}::numeric[], {}::numeric[]) AS b(bid, k, lo, hi)"):
        "连续天数规则（PostgreSQL）：阈值行以四个数组参数传入",
    ("runtime/rules/breaches_pg.py",
     "unnest({}::bigint[], {}::text[], {}::bigint[], {}::bigint[]) AS b(bid, k, lo, hi)"):
        "同上：阈值字段均为整数时以 bigint 数组传入，无占位符以外的拼接",
    ("runtime/rules/breaches_pg.py",
     "{} CROSS JOIN generate_series(0, {}) AS g(i) LEFT JOIN ({}) AS d ON CAST(d.k AS text) = b.k AND d.day = {}::date + g.i"):
        "同上：阈值行 × 日历，左连接按日聚合（嵌套的 Piccolo 查询），天数与起始日为参数",
    ("runtime/rules/breaches_pg.py",
     "count(*) FILTER (WHERE COALESCE(d.n, 0) > b.hi) OVER w AS highs, array_agg(COALESCE(d.n, 0)) OVER w AS counts, count(d.k) OVER w AS present"):
        "同上：窗口内高于上限的天数、逐日数值与有记录的天数，无占位符",
    ("runtime/rules/breaches_pg.py",
     "WINDOW w AS (PARTITION BY b.bid ORDER BY g.i ROWS BETWEEN {} PRECEDING AND CURRENT ROW)"):
        "同上：连续天数窗口，天数为参数",
    ("runtime/rules/breaches_pg.py",
     "SELECT b.bid, g.i, count(*) FILTER (WHERE COALESCE(d.n, 0) < b.lo) OVER w AS lows, {} FROM {} {}"):
        "同上：占位符只接收本模块的常量 QueryString",
    ("runtime/rules/breaches_pg.py",
     "SELECT x.bid, x.i, x.lows, x.highs, x.counts, x.present FROM ({}) AS x WHERE x.i >= {} AND (x.lows >= {} OR x.highs >= {}) ORDER BY x.bid, x.i"):
        "同上：只返回超限窗口，起始序号与天数为参数",
    ("runtime/data/geo_sql.py", "(({} - {}) * {}) * (({} - {}) * {}) + (({} - {}) * {}) * (({} - {}) * {}) <= {}"):
        "地理字段半径查询（_near）：平面近似距离的平方与半径平方比较；占位符只接收 Piccolo 写出的经纬度列和作为参数传入的数值",
    ("runtime/data/geo_sql.py", "CASE WHEN ({} < {}) <> ({} < {}) AND {} < {} * ({} - {}) + {} THEN 1 ELSE 0 END"):
        "地理字段多边形查询（_within）：射线法的一条边；占位符只接收 Piccolo 写出的经纬度列和作为参数传入的顶点数值",
    ("runtime/data/geo_sql.py", "{} + {}"):
        "同上：把各条边的 CASE 项相加，占位符只接收本模块的嵌套 QueryString",
    ("runtime/data/geo_sql.py", "({}) % 2 = 1"):
        "同上：穿过的边数为奇数即在多边形内，占位符只接收本模块的嵌套 QueryString",
    ("runtime/maps/query.py", "CAST(({} - {}) / {} AS INTEGER)"):
        "地图聚合的网格编号：占位符是 Piccolo 写出的经纬度列、作为参数传入的视野西/南边界和网格大小",
    ("runtime/maps/query.py",
     "SELECT cx, cy, COUNT(*) AS n, AVG(lng) AS lng, AVG(lat) AS lat FROM ({}) AS cells GROUP BY cx, cy"):
        "地图聚合：按网格分组计数；占位符只接收 Piccolo 生成的 select 查询（数据范围与筛选条件在内，值均为参数）",
}


def source_files() -> list[Path]:
    files = sorted(ROOT.glob("runtime/**/*.py")) + sorted(ROOT.glob("examples/*/generated/**/*.py"))
    return [f for f in files if "__pycache__" not in f.parts]


def scan(files: list[Path]) -> list:
    findings = []
    for f in files:
        rel = f.relative_to(ROOT).as_posix()
        findings += check_source(f.read_text(encoding="utf-8"), rel, set(REVIEWED_TEMPLATES))
    return findings


def test_runtime_and_generated_code_build_no_sql_from_strings():
    files = source_files()
    assert any(f.parts[-3:-1] == ("kaiping", "generated") for f in files), "generated code was not scanned"
    assert len(files) > 20
    findings = scan(files)
    assert findings == [], "string-built or unreviewed raw SQL:\n" + "\n".join(map(str, findings))


def test_every_reviewed_template_is_still_used_and_holds_no_value():
    """A stale allow-list entry would silently allow the next template of that name."""
    for (path, template), reason in REVIEWED_TEMPLATES.items():
        source = (ROOT / path).read_text(encoding="utf-8")
        assert repr(template) in source or f'"{template}"' in source, f"{path} no longer uses {template!r}"
        assert reason.strip()
        assert "'" not in template and '"' not in template, "a literal in a template: pass it as a parameter"


@pytest.mark.parametrize("sample", [
    'def q(x):\n    return f"SELECT * FROM place WHERE id = {x}"\n',
    'def q(x):\n    return "select name from sys_user where id = " + str(x)\n',
    'def q(x):\n    return "DELETE FROM place WHERE code = \'%s\'" % x\n',
    'def q(t):\n    return "DROP TABLE {}".format(t)\n',
    'def q(t, c):\n    return f"UPDATE {t} SET name = \'{c}\'"\n',
    'def q(n):\n    sql = "INSERT INTO place (name) VALUES (\'" + n + "\')"\n    return sql\n',
    'async def q(conn, x):\n    await conn.execute(f"PRAGMA key = {x}")\n',
    'def q(col):\n    return QueryString(f"date({col})")\n',
    'def q(Place, x):\n    return Place.raw(f"select * from place where name = \'{x}\'")\n',
    'def q(col):\n    return QueryString("lower({}) || \'x\'", col)\n',  # constant, but nobody reviewed it
])
def test_checker_catches_string_built_sql(sample):
    findings = check_source(sample, "sample.py", set(REVIEWED_TEMPLATES))
    assert findings, f"the checker missed:\n{sample}"


@pytest.mark.parametrize("sample", [
    'def q(Place, x):\n    return Place.select().where(Place.name == x)\n',
    'def q(Place, text):\n    return Place.select().where(Place.name.ilike(f"%{text}%"))\n',
    'def msg(name):\n    return f"不能按 {name} 排序"\n',
    'def msg(method, path):\n    return f"unhandled error on {method} {path}"\n',
    'def q(col):\n    """SELECT ... FROM in a docstring is prose."""\n    return QueryString("date({})", col)\n',
])
def test_checker_accepts_builders_and_plain_text(sample):
    allowed = {("sample.py", "date({})")}
    assert check_source(sample, "sample.py", allowed) == []


def test_sql_shapes_are_recognised_in_any_case():
    assert looks_like_sql("select a from b") and looks_like_sql("Delete From t") and looks_like_sql("x WHERE y")
    assert not looks_like_sql("请选择要导入的文件") and not looks_like_sql("updated_at")
