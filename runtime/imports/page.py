"""What the list page shows for import and delete-by-range: the 导入 form's URLs, the import modes
the importer may choose (`import.modes`: e.g. 跳过错误行 for data that arrives uncleaned; the
default preselected) and the newest value of the screen's date sort field (Kaiping: 最新采集时间,
to avoid importing twice)."""
from __future__ import annotations

from typing import Any

from specadmin.runtime.imports import ranges
from specadmin.runtime.imports.plan import MODE_DICT


async def list_extras(request, name: str, grant) -> dict[str, Any] | None:
    ctx = request.app.state.ctx
    screen = ctx.app.screen(name)
    spec = screen.import_spec
    if spec is None:
        return None
    entity = ctx.app.entity(screen.entity)
    service = request.app.state.services[screen.entity]
    out: dict[str, Any] = {}
    if spec.enabled and grant is not None and "import" in grant.actions:
        out["import_url"] = f"/api/{entity.name}/import?screen={name}"
        out["template_url"] = f"/api/{entity.name}/import/template?screen={name}"
        out.update(mode_choices(ctx, spec.choices, spec.mode))
    sort = (screen.sort or "").lstrip("-")
    if sort and entity.has_field(sort) and entity.field(sort).type in ("date", "datetime"):
        out["latest_label"] = entity.field(sort).label
        out["latest"] = await ranges.latest(service, request.user, screen=name, field=sort)
    return out


def mode_choices(ctx, choices, default: str) -> dict[str, Any]:
    """The 导入方式 radio buttons: (mode, label) of each choice, when there is a choice at all."""
    if len(choices) < 2:
        return {"mode": default}
    return {"mode": default, "modes": [(m, ctx.dict_label(MODE_DICT, m)) for m in choices]}
