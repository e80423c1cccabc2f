"""The files of a row on the end-user pages: on the detail page each file field lists its files
with preview (images as thumbnails opening a large view, PDF in an embedded viewer, video and audio
in the browser's player) and download links; on the edit page each also gets an upload input
(several files when `multi`) and a delete button per file, sent by static/attachments.js to the
API routes (runtime/attachments/routes.py) with the CSRF header, then the page reloads.

The caller has read the row through the screen's grant and scope; the API routes check again.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from specadmin.runtime.attachments.store import accepted, files_of
from specadmin.specs import attachments as types

if TYPE_CHECKING:
    from specadmin.runtime.app.context import AppContext


def size_text(size: int) -> str:
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


async def file_panels(ctx: "AppContext", screen_name: str, entity_name: str, row_id: int, names: list[str],
                      writable: bool) -> dict[str, dict[str, Any]]:
    """field name -> {label, multi, accept, items: [{id, name, size, url, download_url, preview, kind}], upload_url}
    for each file field among `names`; `upload_url` only when `writable`."""
    entity = ctx.app.entity(entity_name)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        if not entity.has_field(name) or entity.field(name).type != "file":
            continue
        field = entity.field(name)
        base = f"/api/{entity_name}/{row_id}/files/{name}"
        items = []
        for r in await files_of(ctx, entity_name, row_id, name):
            url = f"{base}/{r['id']}?screen={screen_name}"
            kind = types.preview_kind(types.extension(r["name"]))
            items.append({"id": r["id"], "name": r["name"], "size": size_text(r["size"]), "url": url,
                          "download_url": f"{url}&download=1", "preview": bool(kind), "kind": kind})
        out[name] = {"name": name, "label": field.label, "multi": field.multi, "items": items,
                     "accept": ",".join(f".{e}" for e in accepted(field)),
                     "upload_url": f"{base}?screen={screen_name}" if writable and not field.readonly else None}
    return out


async def file_views(ctx: "AppContext", screen_name: str, entity_name: str, row_id: int, names: list[str],
                     writable: bool) -> dict[str, tuple[str, dict[str, Any]]]:
    """`Plugin.field_views`: each file field among `names` drawn by _files.html."""
    panels = await file_panels(ctx, screen_name, entity_name, row_id, names, writable)
    return {name: ("_files.html", p) for name, p in panels.items()}
