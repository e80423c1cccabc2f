"""The API documentation page at /schema: Swagger UI served from this app, under the CSP.

Litestar's own pages load Swagger UI or Redoc from a CDN (which these machines do not reach) and
start it with an inline script (which `script-src 'self'` refuses). Here the page is plain HTML:
Swagger UI's files come from /static/vendor/swagger-ui/ (installed from the npm registry by
scripts/setup.sh, never committed) and static/apidocs.js starts it, so the CSP stays as it is.
Without the files the page says so and links to the JSON description, which is always served at
/schema/openapi.json.
"""
from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from litestar.openapi.plugins import OpenAPIRenderPlugin

from specadmin.runtime.pages.support import STATIC_DIRS, STATIC_URL

if TYPE_CHECKING:
    from litestar import Request

SWAGGER_FILES = ("vendor/swagger-ui/swagger-ui-bundle.js", "vendor/swagger-ui/swagger-ui.css")


class LocalSwaggerUI(OpenAPIRenderPlugin):
    """Swagger UI at /schema (and /schema/swagger) from local files, started by an external script."""

    def __init__(self, theme: str | None = None) -> None:
        super().__init__(path=["/", "/swagger"], favicon="", style="")
        self.theme = theme

    def installed(self) -> bool:
        return all(any((folder / name).is_file() for folder in STATIC_DIRS(self.theme)) for name in SWAGGER_FILES)

    def render(self, request: "Request", openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema.get("info", {}).get("title", "API")))
        json_url = html.escape(self.get_openapi_json_route(request))
        if not self.installed():
            body = (f'<p>接口文档页面所需的 Swagger UI 文件未安装（运行 scripts/setup.sh 安装）。'
                    f'接口描述见 <a href="{json_url}">{json_url}</a>。</p>')
            head = ""
        else:
            js, css = (f"{STATIC_URL}/{name}" for name in SWAGGER_FILES)
            head = f'<link rel="stylesheet" href="{css}">'
            body = (f'<div id="swagger-ui" data-url="{json_url}"></div>\n'
                    f'<script src="{js}"></script>\n<script src="{STATIC_URL}/apidocs.js"></script>')
        page = (f'<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">\n{head}\n</head>\n'
                f'<body>\n{body}\n</body>\n</html>\n')
        return page.encode()
