"""National (GM/T) cryptography: SM4 field encryption, SM3 digests and HMAC blind indexes, SM2 signatures.

Fast paths run on OpenSSL (``cryptography`` for SM4, ``hashlib`` for SM3); gmssl supplies
SM2 and the pure-Python reference implementations (``gmssl_*``, :class:`GmsslReferenceCipher`)
that the tests use to prove the fast paths byte-identical.

Typical use::

    cipher = FieldCipher(key_from_config(settings.FIELD_KEY))
    row.id_number_enc = cipher.encrypt(id_number)          # "v1:AQ..." token
    row.id_number_idx = cipher.blind_index(id_number)      # 64 hex chars, for WHERE =
    shown = mask(id_number, "id_number")                   # "110***********1234"
"""

from specadmin.runtime.crypto.field_cipher import (
    DerivedKeys,
    FieldCipher,
    GmsslReferenceCipher,
    derive_keys,
    key_from_config,
    normalize_for_index,
    token_length,
)
from specadmin.runtime.crypto.masking import mask
from specadmin.runtime.crypto.sm2 import canonical_query, generate_keypair, sign, signing_string, verify
from specadmin.runtime.crypto.sm3 import HmacSM3, hmac_sm3, sm3_digest, sm3_hex, sm3_kdf
from specadmin.runtime.crypto.sm4 import CryptoError

__all__ = [
    "CryptoError",
    "DerivedKeys",
    "FieldCipher",
    "GmsslReferenceCipher",
    "HmacSM3",
    "canonical_query",
    "derive_keys",
    "generate_keypair",
    "hmac_sm3",
    "key_from_config",
    "mask",
    "normalize_for_index",
    "sign",
    "signing_string",
    "sm3_digest",
    "sm3_hex",
    "sm3_kdf",
    "token_length",
    "verify",
]
