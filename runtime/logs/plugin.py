"""Built-in plugin `logs`: the operation and exception logs (logs.yaml), their charts and pages,
and the crash handler that answers an error id and keeps the stack trace in the exception log."""
from __future__ import annotations

from pathlib import Path

from litestar import MediaType, Request, Response

from specadmin.runtime.app.errors import error_response, wants_json
from specadmin.runtime.logs.exceptions import record_exception
from specadmin.runtime.logs.handlers import LOG_HANDLERS, add_template_globals
from specadmin.runtime.plugin import Plugin


def crash(request: Request, exc: Exception) -> Response:
    # The stack trace goes to the exception log (and stderr), never to the client: it gets the error id.
    error_id, store = record_exception(request, exc)
    message = f"服务器内部错误，请稍后再试（错误编号 {error_id}）"
    if wants_json(request):
        response = Response({"detail": message, "error_id": error_id, "status_code": 500}, status_code=500,
                            media_type=MediaType.JSON)
    else:
        response = error_response(request, 500, message)
    response.background = store
    return response


def _configure(config, ctx, options) -> None:
    config.exception_handlers[Exception] = crash


plugin = Plugin(name="logs", label="操作日志与异常日志", builtin=True, order=30,
                modules=(Path(__file__).with_name("logs.yaml"),),
                routes=lambda ctx, options: LOG_HANDLERS, template_globals=add_template_globals,
                configure=_configure)
