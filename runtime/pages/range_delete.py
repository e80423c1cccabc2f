"""按时间范围删除 on a list page (screen key `delete_by_range`, runtime/imports/ranges.py).

GET /s/{screen}/delete-range shows the range form (which date field, start, end); with a range
given it previews how many rows inside the user's delete scope lie in [start, end) and offers to
delete exactly that many. POST deletes them with that count as the expected one, so rows added or
removed in between make the deletion refuse (and the page shows the new count to confirm again).
"""
from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from specadmin.runtime.errors import BadRequest, NotFound
from specadmin.runtime.imports import ranges
from specadmin.runtime.pages.common import PAGE_ERRORS, grant_for, screen_of, service_for
from specadmin.runtime.pages.support import ctx_of, flash, layout, list_url, with_params

STEP = "按时间范围删除"


def _fields(request: Request, name: str) -> list[dict[str, str]]:
    """The screen's delete_by_range fields with their labels; 404 when it declares none."""
    ctx = ctx_of(request)
    spec = ctx.app.screen(name)
    entity = ctx.app.entity(spec.entity)
    if not spec.delete_by_range:
        raise NotFound("该页面不支持按时间范围删除")
    return [{"name": f, "label": entity.field(f).label} for f in spec.delete_by_range]


def _input_value(text: str) -> str:
    """A bound as a datetime-local input shows it (a plain day starts at 00:00)."""
    text = text.strip()[:19].replace(" ", "T")
    return f"{text}T00:00" if len(text) == 10 else text


def _page(request: Request, name: str, screen: dict[str, Any], fields, field: str, start: str, end: str,
          preview: dict[str, Any] | None, problem: str | None, status: int = 200) -> Template:
    labels = {f["name"]: f["label"] for f in fields}
    context = layout(
        request, name, step=STEP, title=f"{screen['label']} - {STEP}", screen=screen, screen_name=name,
        range_fields=fields, field=field, start=_input_value(start), end=_input_value(end), preview=preview,
        field_label=labels.get(field, ""), problem=problem, list_url=list_url(name),
        again_url=f"/s/{name}/delete-range?" + with_params([("field", field), ("start", start), ("end", end)]))
    return Template(template_name="delete_range.html", context=context, status_code=status)


@get("/s/{name:str}/delete-range", name="page_delete_range", exception_handlers=PAGE_ERRORS)
async def delete_range_form(request: Request, name: str) -> Response:
    screen = screen_of(request, name)
    grant_for(request, name, "delete")
    fields = _fields(request, name)
    params = request.query_params
    field = params.get("field") or fields[0]["name"]
    start, end = (params.get("start") or "").strip()[:32], (params.get("end") or "").strip()[:32]
    preview = problem = None
    if start or end:
        if not (start and end):
            problem = "请填写开始时间和结束时间"
        else:
            try:
                preview = await ranges.preview(service_for(request, screen), request.user, screen=name,
                                               field=field, start=start, end=end)
            except BadRequest as exc:
                problem = exc.message
    return _page(request, name, screen, fields, field, start, end, preview, problem)


@post("/s/{name:str}/delete-range", name="page_delete_range_post", exception_handlers=PAGE_ERRORS)
async def delete_range_submit(request: Request, name: str) -> Response:
    screen = screen_of(request, name)
    grant_for(request, name, "delete")
    _fields(request, name)
    form = await request.form()
    field = str(form.get("field") or "")[:64]
    start, end = str(form.get("start") or "")[:32], str(form.get("end") or "")[:32]
    expected = str(form.get("expected") or "").strip()
    again = f"/s/{name}/delete-range?" + with_params([("field", field), ("start", start), ("end", end)])
    if not expected.isdigit() or len(expected) > 12:
        flash(request, "请先预览数量并确认删除", "error")
        return Redirect(again, status_code=303)
    try:
        done = await ranges.delete(service_for(request, screen), request.user, screen=name, field=field,
                                   start=start, end=end, expected=int(expected))
    except BadRequest as exc:  # the count changed since the preview, or a bad range: show it again
        flash(request, exc.message, "error")
        return Redirect(again, status_code=303)
    flash(request, f"已删除 {done['deleted']} 条记录")
    return Redirect(list_url(name), status_code=303)


RANGE_DELETE_HANDLERS = [delete_range_form, delete_range_submit]
