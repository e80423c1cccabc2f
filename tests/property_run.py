"""A bounded schemathesis run over an app's GET API, in-process through the ASGI app.

schemathesis drives ASGI apps from its own event-loop thread, and asyncpg pools belong to the
loop that made them, so the run gets a second app instance on the same app directory and
database: its lifespan starts and stops on schemathesis' loop. Creating it rebinds the generated
tables to its engine; `run_property_checks` rebinds them to the test's engine afterwards.
"""
from __future__ import annotations

import re
from typing import Any

MAX_EXAMPLES = 20  # per operation: bounded for a 2-core machine, deterministic (derandomize)
SKIP = re.compile(r"^/api/auth/")  # login/logout/me: no data parameters, and logout ends the run's session


NO_ROW = 2**31 - 1  # writes get this id in their path: a generated id could name (and delete) a real row


def _operations(schema, methods: tuple[str, ...]) -> list:
    out = []
    for result in schema.get_all_operations():
        op = result.ok()
        if op.method.upper() in methods and op.path.startswith("/api/") and not SKIP.match(op.path):
            out.append(op)
    return out


def run_property_checks(app_dir, database_url: str | None, username: str, password: str, test_ctx, *,
                        methods: tuple[str, ...] = ("GET",), modes: tuple[str, ...] = ("positive",),
                        row_ids: dict[str, int] | None = None, queries: dict[str, dict] | None = None,
                        max_examples: int = MAX_EXAMPLES) -> dict[str, Any]:
    """Run in a worker thread. Returns {"operations": n, "cases": n, "failures": [...]}.

    `modes`: "positive" generates valid data, "negative" data that violates the schema (wrong types, out
    of bounds). Writes get NO_ROW as their path id, except a PATCH whose path is in `row_ids` (a real
    row, so that its body is validated); `queries` fixes query parameters per path (a valid `screen`,
    which no generator can guess)."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.failures import FailureGroup  # a BaseExceptionGroup: not caught as Exception
    from schemathesis.python import asgi

    from specadmin.runtime.data import db
    from specadmin.runtime.app.factory import create_app

    tables = list(test_ctx.package.tables.TABLES)
    engines = {t: t._meta._db for t in tables}
    app = create_app(app_dir, database_url, with_admin=False)
    report: dict[str, Any] = {"operations": 0, "cases": 0, "unsatisfiable": 0, "failures": []}
    try:
        with asgi.get_client(app) as client:
            r = client.post("/api/auth/login", json={"username": username, "password": password})
            assert r.status_code == 200, r.text
            assert client.get("/api/auth/me").status_code == 200  # a GET hands out the CSRF cookie
            jar = {c.name: c.value for c in client.cookies}  # the jar may hold a name twice (two paths)
            client.headers["x-csrftoken"] = jar["csrftoken"]
            schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app, headers={
                "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())})
            for op, mode in [(op, mode) for op in _operations(schema, methods) for mode in modes]:
                report["operations"] += 1
                method = op.method.upper()
                row_id = (row_ids or {}).get(op.path, NO_ROW) if method == "PATCH" else NO_ROW
                fixed = {p.name: row_id for p in op.path_parameters if p.name.endswith("_id")} \
                    if method != "GET" else None

                @settings(max_examples=max_examples, derandomize=True, deadline=None, database=None,
                          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
                @given(case=op.as_strategy(GenerationMode(mode), path_parameters=fixed or None,
                                           query=(queries or {}).get(op.path)))
                def check(case) -> None:
                    report["cases"] += 1
                    response = case.call(session=client)
                    case.validate_response(response, checks=[not_a_server_error])

                try:
                    check()
                except Unsatisfiable:  # negative mode: nothing of this operation can be made invalid
                    report["unsatisfiable"] += 1
                except (Exception, FailureGroup) as exc:  # keep going: one report lists every failing operation
                    report["failures"].append(f"{method} {op.path} ({mode}): {str(exc)[:600]}")
    finally:
        asgi.shutdown_lifespans()
        for table, engine in engines.items():
            db.bind_tables([table], engine)
    return report
