"""Sensitive fields at rest: SM4 tokens in the column, HMAC-SM3 blind index beside it, masks on display."""
from __future__ import annotations

from typing import Any

from specadmin.runtime.crypto import CryptoError, FieldCipher, mask
from specadmin.specs.model import Entity
from specadmin.specs.physical import blind_index_column

UNREADABLE = "（无法解密）"


class SensitiveFields:
    def __init__(self, key: bytes):
        self.cipher = FieldCipher(key)

    def encode(self, entity: Entity, values: dict[str, Any]) -> dict[str, Any]:
        """Replace plaintext sensitive values by tokens and add their blind indexes."""
        out = dict(values)
        for f in entity.fields:
            if f.sensitive and f.name in values:
                plain = values[f.name]
                if plain in (None, ""):
                    out[f.name] = None
                    out[blind_index_column(f.name)] = None
                else:
                    out[f.name] = self.cipher.encrypt(str(plain))
                    out[blind_index_column(f.name)] = self.cipher.blind_index(str(plain))
        return out

    def decode(self, token: str | None) -> str | None:
        if token is None:
            return None
        try:
            return self.cipher.decrypt(token)
        except CryptoError:
            return UNREADABLE

    def decode_many(self, tokens) -> dict[str, str]:
        """token → plaintext for many tokens at once (OpenSSL contexts reused across them)."""
        unique = sorted({t for t in tokens if t is not None})
        return {t: (p if p is not None else UNREADABLE) for t, p in zip(unique, self.cipher.try_decrypt_many(unique))}

    def index_of(self, value: str) -> str:
        return self.cipher.blind_index(value)

    @staticmethod
    def masked(value: str | None, kind: str) -> str | None:
        return mask(value, "default" if kind == "other" else kind)
