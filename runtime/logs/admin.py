"""piccolo-admin over append-only tables: readable, never writable, not even by superusers.

piccolo-admin's TableConfig has no read-only switch, but its CRUD runs per-method
validators; for tables of `append_only` entities every writing method gets one that
answers 403. Reading (list, detail, filters, CSV download in the browser) still works.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from piccolo_api.crud.validators import Validators
from starlette.exceptions import HTTPException

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext

APPEND_ONLY_MESSAGE = "日志只能由系统追加，任何人不能新增、修改或删除"


def refuse_write(piccolo_crud: Any, request: Any) -> None:
    raise HTTPException(status_code=403, detail=APPEND_ONLY_MESSAGE)


def read_only_validators() -> Validators:
    deny = [refuse_write]
    return Validators(post_single=deny, put_single=deny, patch_single=deny, delete_single=deny, delete_all=deny)


def guard_append_only(ctx: "AppContext", configs: list) -> list:
    """The admin's TableConfigs, with writes refused on the tables of append-only entities."""
    tables = {ctx.table(e.name) for e in ctx.app.entities if e.append_only}
    for config in configs:
        if config.table_class in tables:
            config.validators = read_only_validators()
    return configs
