"""SM3 digests (GB/T 32905-2016), HMAC-SM3 (RFC 2104) and the SM3 key derivation function.

Fast path: OpenSSL through ``hashlib.new("sm3")``.  Reference path: gmssl's pure-Python
``sm3_hash``; the ``gmssl_*`` functions exist so tests and benchmarks can prove the fast path
byte-identical and must not be used in production code (they are ~100x slower).
"""

from __future__ import annotations

import hashlib
import hmac as _stdlib_hmac

from gmssl import sm3 as _gmssl_sm3

DIGEST_SIZE = 32
BLOCK_SIZE = 64

try:
    hashlib.new("sm3")
except ValueError as exc:  # pragma: no cover - depends on how OpenSSL was built
    raise ImportError(
        "this Python's OpenSSL has no SM3 (hashlib.new('sm3') failed); "
        "specadmin.runtime.crypto needs OpenSSL 1.1.1+ built with SM3/SM4"
    ) from exc


def sm3_digest(data: bytes) -> bytes:
    """SM3 digest (32 bytes) of ``data``, via OpenSSL."""
    return hashlib.new("sm3", data).digest()


def sm3_hex(data: bytes) -> str:
    """SM3 digest of ``data`` as 64 lower-case hex characters, via OpenSSL."""
    return hashlib.new("sm3", data).hexdigest()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC-SM3 via the standard library ``hmac`` module (OpenSSL HMAC underneath)."""
    return _stdlib_hmac.digest(key, data, "sm3")


class HmacSM3:
    """HMAC-SM3 under one fixed key with the inner/outer SM3 states precomputed.

    RFC 2104: ``H((K ^ opad) || H((K ^ ipad) || m))``.  The two 64-byte pad blocks are
    absorbed once here, so each MAC costs two ``hashlib`` state copies and no key
    schedule -- about 1.5x faster than ``hmac.new(...).copy()`` for short messages.
    Tests cross-check it against :func:`hmac_sm3` and :func:`gmssl_hmac_sm3`.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, (bytes, bytearray)):
            raise TypeError("HMAC key must be bytes")
        key = bytes(key)
        if len(key) > BLOCK_SIZE:
            key = sm3_digest(key)
        key = key.ljust(BLOCK_SIZE, b"\x00")
        self._inner = hashlib.new("sm3", bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.new("sm3", bytes(b ^ 0x5C for b in key))

    def copiers(self):
        """``(inner.copy, outer.copy)`` bound methods, for hand-inlined bulk loops."""
        return self._inner.copy, self._outer.copy

    def digest(self, data: bytes) -> bytes:
        """The 32-byte HMAC of ``data``."""
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def hexdigest(self, data: bytes) -> str:
        """The HMAC of ``data`` as 64 lower-case hex characters."""
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def sm3_kdf(z: bytes, length: int) -> bytes:
    """SM3 KDF of GM/T 0003.4-2012 section 5.4.3 (as used by SM2 encryption).

    Output is ``SM3(z || ct_1) || SM3(z || ct_2) || ...`` with ``ct_i`` a 32-bit big-endian
    counter starting at 1, truncated to ``length`` bytes.
    """
    if length < 0:
        raise ValueError("length must be non-negative")
    out = bytearray()
    counter = 1
    while len(out) < length:
        out += hashlib.new("sm3", z + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(out[:length])


# --- gmssl reference path (tests and benchmarks only) ---------------------------------


def gmssl_sm3_hex(data: bytes) -> str:
    """SM3 of ``data`` computed by gmssl's pure-Python implementation (reference only)."""
    # sm3_hash appends padding to the list it is given, so always hand it a fresh list.
    return _gmssl_sm3.sm3_hash(list(data))


def gmssl_sm3(data: bytes) -> bytes:
    """Raw-bytes variant of :func:`gmssl_sm3_hex` (reference only)."""
    return bytes.fromhex(gmssl_sm3_hex(data))


def gmssl_hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC-SM3 written directly from the RFC 2104 definition on top of gmssl (reference only)."""
    key = bytes(key)
    if len(key) > BLOCK_SIZE:
        key = gmssl_sm3(key)
    key = key.ljust(BLOCK_SIZE, b"\x00")
    ipad = bytes(b ^ 0x36 for b in key)
    opad = bytes(b ^ 0x5C for b in key)
    return gmssl_sm3(opad + gmssl_sm3(ipad + bytes(data)))


def gmssl_sm3_kdf(z: bytes, length: int) -> bytes:
    """gmssl's own ``sm3_kdf`` (takes hex text, returns hex text) adapted to bytes (reference only)."""
    if length == 0:
        return b""
    return bytes.fromhex(_gmssl_sm3.sm3_kdf(z.hex().encode("ascii"), length))
