"""The attachment records (one row per stored file): which row and field it belongs to, its original
name, size, content type, sha256 and storage key, who uploaded it and when, whether it is encrypted.
A runtime table of the `attachments` plugin (no API of its own: files are reached through their row)."""
from __future__ import annotations

from piccolo.columns import BigInt, Boolean, Integer, Timestamp, Varchar
from piccolo.table import Table

TABLE = "specadmin_attachment"


def attachment_table() -> type[Table]:
    class Attachment(Table, tablename=TABLE):
        entity = Varchar(length=64, index=True)
        row_id = BigInt(index=True)
        field = Varchar(length=64)
        name = Varchar(length=255)
        size = BigInt()
        content_type = Varchar(length=120)
        storage_key = Varchar(length=64, unique=True)
        sha256 = Varchar(length=64)
        encrypted = Boolean(default=False)
        uploaded_by = Integer(null=True, default=None)
        uploaded_at = Timestamp(null=True, default=None)

    return Attachment
