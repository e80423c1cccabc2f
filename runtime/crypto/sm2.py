"""SM2 signatures (GB/T 32918) over gmssl, and the canonical string signed for API requests.

Keys are hex text: private = 64 hex digits, public = 128 hex digits ``x || y`` (a leading
``"04"`` uncompressed-point marker is accepted).  Signatures are gmssl's raw ``r || s``
(128 hex digits) over SM3(Z_A || message) with the default user id ``1234567812345678``,
i.e. ``CryptSM2.sign_with_sm3`` / ``verify_with_sm3``.

Deviations from a naive use of gmssl, each covered by a test:

- Private keys and per-signature nonces come from :mod:`secrets`, not ``gmssl.func.random_hex``
  (which uses the non-cryptographic ``random`` module; a predictable SM2 nonce reveals the
  private key).
- ``CryptSM2.__init__`` strips a ``"04"`` prefix with ``str.lstrip("04")``, which also eats
  leading ``0``/``4`` digits of x; we set ``public_key`` ourselves after construction.
- :func:`verify` checks ranges and that the public key is on the curve, and returns
  ``False`` (never raises) for any malformed input.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from functools import lru_cache
from urllib.parse import quote

from gmssl import sm2 as _gmssl_sm2

from specadmin.runtime.crypto.sm3 import sm3_hex
from specadmin.runtime.crypto.sm4 import CryptoError

_TABLE = _gmssl_sm2.default_ecc_table
_N = int(_TABLE["n"], 16)
_P = int(_TABLE["p"], 16)
_A = int(_TABLE["a"], 16)
_B = int(_TABLE["b"], 16)
_G = _TABLE["g"]
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_HEX128 = re.compile(r"[0-9a-fA-F]{128}")

DEFAULT_USER_ID = "1234567812345678"


def _public(public_hex: str) -> str:
    """Normalise a public key to 128 lower-case hex digits and check it is on the curve."""
    if not isinstance(public_hex, str):
        raise CryptoError("SM2 public key must be hex text")
    pub = public_hex.strip()
    if len(pub) == 130 and pub.startswith("04"):
        pub = pub[2:]
    if not _HEX128.fullmatch(pub):
        raise CryptoError("SM2 public key must be 128 hex digits (x || y), optionally prefixed by 04")
    x, y = int(pub[:64], 16), int(pub[64:], 16)
    if x >= _P or y >= _P or (y * y - (x * x * x + _A * x + _B)) % _P:
        raise CryptoError("SM2 public key is not a point on the SM2 curve")
    return pub.lower()


def _crypt(private_hex: str, public_hex: str) -> _gmssl_sm2.CryptSM2:
    c = _gmssl_sm2.CryptSM2(private_key=private_hex, public_key=public_hex)
    c.public_key = public_hex  # undo gmssl's lstrip("04") mangling; see module docstring
    return c


@lru_cache(maxsize=64)
def _signer(private_hex: str, public_hex: str) -> _gmssl_sm2.CryptSM2:
    if not isinstance(private_hex, str) or not _HEX64.fullmatch(private_hex.strip()):
        raise CryptoError("SM2 private key must be 64 hex digits")
    d = int(private_hex, 16)
    if not 1 <= d <= _N - 2:
        raise CryptoError("SM2 private key is out of range")
    pub = _public(public_hex)
    c = _crypt(f"{d:064x}", pub)
    if c._kg(d, _G) != pub:
        raise CryptoError("SM2 public key does not belong to this private key")
    return c


def generate_keypair() -> tuple[str, str]:
    """A fresh key pair ``(private_hex, public_hex)`` from the OS CSPRNG."""
    d = 1 + secrets.randbelow(_N - 2)  # 1 <= d <= n - 2
    private_hex = f"{d:064x}"
    return private_hex, _crypt(private_hex, "")._kg(d, _G)


def _sign(private_hex: str, public_hex: str, message: bytes, k_hex: str) -> str | None:
    """Sign with an explicit nonce (known-answer tests only; never reuse a nonce)."""
    return _signer(private_hex, public_hex).sign_with_sm3(bytes(message), k_hex)


def sign(private_hex: str, public_hex: str, message: bytes) -> str:
    """SM2-with-SM3 signature of ``message`` as 128 hex digits ``r || s``.

    Raises :class:`CryptoError` if the keys are malformed or do not form a pair.
    """
    if not isinstance(message, (bytes, bytearray, memoryview)):
        raise TypeError("message must be bytes")
    _signer(private_hex, public_hex)  # validate before drawing nonces
    while True:
        sig = _sign(private_hex, public_hex, message, f"{1 + secrets.randbelow(_N - 1):064x}")
        if sig:  # gmssl returns None for the (negligible) r == 0, r + k == n, s == 0 cases
            return sig


def verify(public_hex: str, message: bytes, signature: str) -> bool:
    """True only for a valid signature; False for any bad or malformed input (never raises)."""
    try:
        if not isinstance(message, (bytes, bytearray, memoryview)):
            return False
        if not isinstance(signature, str) or not _HEX128.fullmatch(signature):
            return False
        r, s = int(signature[:64], 16), int(signature[64:], 16)
        if not (1 <= r < _N and 1 <= s < _N):
            return False
        pub = _public(public_hex)
        return bool(_crypt("", pub).verify_with_sm3(signature.lower(), bytes(message)))
    except Exception:  # noqa: BLE001 - contract: malformed input is "not verified"
        return False


def _pairs(query) -> Iterable[tuple[object, object]]:
    if query is None:
        return ()
    if isinstance(query, Mapping):
        out = []
        for k, v in query.items():
            if isinstance(v, (list, tuple)):
                out.extend((k, item) for item in v)
            else:
                out.append((k, v))
        return out
    return list(query)


def _text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise TypeError(f"query keys and values must be str or int, not {type(v).__name__}")
    return str(v)


def canonical_query(query) -> str:
    """``k=v`` pairs joined by ``&``: RFC 3986 percent-encoded (UTF-8, space = ``%20``),
    then sorted by encoded key, then encoded value.  Accepts a mapping (list values repeat
    the key) or an iterable of pairs; ``None`` values encode as empty strings."""
    encoded = sorted((quote(_text(k), safe=""), quote(_text(v), safe="")) for k, v in _pairs(query))
    return "&".join(f"{k}={v}" for k, v in encoded)


def signing_string(
    method: str,
    path: str,
    query,
    body: bytes,
    timestamp: str,
    nonce: str,
) -> bytes:
    """Canonical request bytes to sign: the lines METHOD, path, canonical query, SM3 hex of
    body, timestamp and nonce joined by ``"\\n"`` and UTF-8 encoded."""
    if body is None:
        body = b""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError("body must be bytes")
    for name, value in (("method", method), ("path", path), ("timestamp", timestamp), ("nonce", nonce)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be str, not {type(value).__name__}")
        if "\n" in value or "\r" in value:
            raise ValueError(f"{name} must not contain line breaks")
    fields = [method.upper(), path, canonical_query(query), sm3_hex(bytes(body)), timestamp, nonce]
    return "\n".join(fields).encode("utf-8")
