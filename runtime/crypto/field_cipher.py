"""Authenticated SM4 encryption and HMAC-SM3 blind indexes for sensitive columns at rest.

Keys
    One secret, the *master key* (>= 16 bytes, e.g. from :func:`key_from_config`), is
    expanded with the SM3 KDF (GM/T 0003.4 section 5.4.3) into independent sub-keys::

        enc_key   = KDF(b"specadmin/field/v1/sm4-cbc\\x00"    || master, 16)  SM4 key
        mac_key   = KDF(b"specadmin/field/v1/hmac-sm3\\x00"   || master, 32)  token MAC
        index_key = KDF(b"specadmin/field/v1/blind-index\\x00" || master, 32)  blind index
        key_id    = KDF(b"specadmin/field/v1/key-id\\x00"     || master, 4)   public label

    ``index_key`` may instead be passed explicitly (>= 16 bytes, 32 recommended) so that
    rotating the master key does not change blind indexes.

Token (format version 1)
    ``"v1:" + base64url_nopad(0x01 | key_id[4] | IV[16] | C[16k] | T[16])`` where ``C`` is
    SM4-CBC(enc_key, IV, PKCS#7(UTF-8 plaintext)) and ``T`` the first 16 bytes of
    HMAC-SM3(mac_key, 0x01 | key_id | IV | C) (encrypt-then-MAC).  An 18-character ID
    number becomes a 95-character token; size columns with :meth:`FieldCipher.token_length`.

IVs
    The bulk path feeds ``R || P`` (``R`` = 16 fresh ``os.urandom`` bytes) through one
    long-lived OpenSSL CBC context, so each token's IV is ``SM4(enc_key, R xor previous
    block)`` -- the "encrypt a nonce" IV of NIST SP 800-38A appendix C, uniformly random
    and unpredictable -- and the ciphertext is exactly standard CBC under that IV.  Tests
    prove every token byte-identical to :class:`GmsslReferenceCipher` given the same IV.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from specadmin.runtime.crypto.sm3 import HmacSM3, gmssl_hmac_sm3, gmssl_sm3_kdf, sm3_kdf
from specadmin.runtime.crypto.sm4 import (
    BLOCK_SIZE,
    CryptoError,
    gmssl_cbc_decrypt,
    gmssl_cbc_encrypt,
    pkcs7_unpad,
)

VERSION = 1
PREFIX = "v1:"
KEY_ID_SIZE = 4
IV_SIZE = 16
TAG_SIZE = 16
MIN_MASTER_KEY_SIZE = 16
_HEADER_SIZE = 1 + KEY_ID_SIZE
_MIN_BODY = _HEADER_SIZE + IV_SIZE + BLOCK_SIZE + TAG_SIZE
_PADDING = [bytes([n]) * n for n in range(BLOCK_SIZE + 1)]
_CHUNK = 65536  # rows per os.urandom() call in the bulk path
_B64_URL = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True, repr=False)
class DerivedKeys:
    """Sub-keys derived from one master key (see the module docstring)."""

    enc_key: bytes
    mac_key: bytes
    index_key: bytes
    key_id: bytes

    def __repr__(self) -> str:  # never print key material
        return f"DerivedKeys(key_id={self.key_id.hex()})"


def _labelled(label: bytes, master_key: bytes) -> bytes:
    return b"specadmin/field/v1/" + label + b"\x00" + master_key


def _check_secret(key: bytes, what: str) -> bytes:
    if not isinstance(key, (bytes, bytearray)):
        raise TypeError(f"{what} must be bytes (use key_from_config() to parse hex/base64)")
    if len(key) < MIN_MASTER_KEY_SIZE:
        raise CryptoError(f"{what} must be at least {MIN_MASTER_KEY_SIZE} bytes, got {len(key)}")
    return bytes(key)


def derive_keys(master_key: bytes, index_key: bytes | None = None, *, _kdf=sm3_kdf) -> DerivedKeys:
    """Expand ``master_key`` into the token sub-keys with the SM3 KDF."""
    master_key = _check_secret(master_key, "master key")
    if index_key is None:
        index_key = _kdf(_labelled(b"blind-index", master_key), 32)
    else:
        index_key = _check_secret(index_key, "index key")
    return DerivedKeys(
        enc_key=_kdf(_labelled(b"sm4-cbc", master_key), 16),
        mac_key=_kdf(_labelled(b"hmac-sm3", master_key), 32),
        index_key=index_key,
        key_id=_kdf(_labelled(b"key-id", master_key), KEY_ID_SIZE),
    )


def normalize_for_index(value: str) -> str:
    """Canonical form hashed by blind indexes: NFKC (full-width -> ASCII), no whitespace, upper-case.

    So ``" 11010519491231002x"``, ``"11010519491231002X"`` and the full-width
    ``"１１０１０５１９４９１２３１００２Ｘ"`` all index identically.
    """
    if type(value) is not str:
        raise TypeError(f"can only index str, not {type(value).__name__}")
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value)
    return "".join(value.split()).upper()


def token_length(plaintext_bytes: int) -> int:
    """Length in characters of the token for a plaintext of ``plaintext_bytes`` UTF-8 bytes."""
    body = _HEADER_SIZE + IV_SIZE + BLOCK_SIZE * (plaintext_bytes // BLOCK_SIZE + 1) + TAG_SIZE
    return len(PREFIX) + (body * 4 + 2) // 3


def _encode(body: bytes) -> str:
    return PREFIX + base64.urlsafe_b64encode(body).rstrip(b"=").decode("ascii")


_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64_VALUE = {c: i for i, c in enumerate(_B64_ALPHABET)}
_URL_TO_STD = bytes.maketrans(b"-_", b"+/")
_UNUSED_BITS = {2: 0x0F, 3: 0x03}  # payload length % 4 -> the last character's bits that encode nothing


def _parse(token: str) -> bytes:
    """Decode a token's text into its body, rejecting anything non-canonical.

    The hot path of every list with a sensitive column: no regex for the version, and canonical
    base64 checked on the last character (with only base64url characters and no padding, a payload
    decodes to one body, which encodes back to it exactly unless the unused low bits of the last
    character are set) instead of encoding the body again."""
    if not isinstance(token, str):
        raise CryptoError(f"token must be str, not {type(token).__name__}")
    if not token.startswith(PREFIX):
        version, sep, _ = token.partition(":")
        if not sep or not re.fullmatch(r"v[0-9]{1,3}", version):
            raise CryptoError("not a field-cipher token (expected 'v1:...')")
        raise CryptoError(f"unsupported token version {version!r}")
    payload = token[len(PREFIX):]
    rest = len(payload) % 4
    if rest == 1 or not _B64_URL.fullmatch(payload):
        raise CryptoError("malformed token: payload is not base64url")
    if rest and _B64_VALUE[payload[-1]] & _UNUSED_BITS[rest]:  # a tampered, non-canonical token
        raise CryptoError("malformed token: non-canonical base64")
    try:
        body = binascii.a2b_base64((payload + "=" * (-rest % 4)).encode("ascii").translate(_URL_TO_STD))
    except (binascii.Error, ValueError) as exc:
        raise CryptoError("malformed token: payload is not base64url") from exc
    if len(body) < _MIN_BODY or (len(body) - _MIN_BODY) % BLOCK_SIZE:
        raise CryptoError("malformed token: bad length")
    if body[0] != VERSION:
        raise CryptoError(f"unsupported token format version byte {body[0]}")
    return body


def _to_text(padded: bytes) -> str:
    try:
        return pkcs7_unpad(padded).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CryptoError("decrypted plaintext is not UTF-8") from exc


class _Key:
    """Per-master-key state: SM4 algorithm object and precomputed HMAC states."""

    __slots__ = ("keys", "alg", "mac", "header")

    def __init__(self, keys: DerivedKeys) -> None:
        self.keys = keys
        self.alg = algorithms.SM4(keys.enc_key)
        self.mac = HmacSM3(keys.mac_key)
        self.header = bytes([VERSION]) + keys.key_id


class FieldCipher:
    """Encrypt sensitive column values into authenticated ASCII tokens; compute blind indexes.

    ``master_key``: current key (>= 16 bytes), used for all new tokens.
    ``index_key``: optional explicit blind-index key (else derived from ``master_key``).
    ``previous_keys``: retired master keys still accepted by :meth:`decrypt`, chosen by the
    key id carried in each token.  Instances are safe to share between threads.
    """

    def __init__(
        self,
        master_key: bytes,
        *,
        index_key: bytes | None = None,
        previous_keys: Iterable[bytes] = (),
    ) -> None:
        self._current = _Key(derive_keys(master_key, index_key))
        self._keyring: dict[bytes, _Key] = {self._current.keys.key_id: self._current}
        for old in previous_keys:
            k = _Key(derive_keys(old))
            known = self._keyring.get(k.keys.key_id)
            if known is not None and known.keys.enc_key != k.keys.enc_key:
                raise CryptoError("two configured keys share a key id; generate a new key")
            self._keyring.setdefault(k.keys.key_id, k)
        self._index = HmacSM3(self._current.keys.index_key)

    def __repr__(self) -> str:
        return f"FieldCipher(key_id={self.key_id!r}, keys={len(self._keyring)})"

    @property
    def key_id(self) -> str:
        """Hex key id (8 characters) written into new tokens."""
        return self._current.keys.key_id.hex()

    token_length = staticmethod(token_length)

    # -- encryption ---------------------------------------------------------------------

    def encrypt(self, plaintext: str) -> str:
        """Encrypt one value into a ``"v1:..."`` token (random IV; never deterministic)."""
        return self.encrypt_many((plaintext,))[0]

    def encrypt_many(self, plaintexts: Iterable[str]) -> list[str]:
        """Encrypt many values; the bulk hot path (one OpenSSL context for the whole call)."""
        if not isinstance(plaintexts, (list, tuple)):
            plaintexts = list(plaintexts)
        key = self._current
        header = key.header
        inner, outer = key.mac.copiers()
        pads = _PADDING
        b64 = base64.urlsafe_b64encode
        # See the module docstring: each row's first CBC block R yields IV = E(R ^ prev).
        update = Cipher(key.alg, modes.CBC(os.urandom(IV_SIZE))).encryptor().update
        out: list[str] = []
        append = out.append
        for start in range(0, len(plaintexts), _CHUNK):
            chunk = plaintexts[start : start + _CHUNK]
            rand = os.urandom(IV_SIZE * len(chunk))
            pos = 0
            for text in chunk:
                if type(text) is not str:
                    raise TypeError(f"can only encrypt str, not {type(text).__name__}")
                data = text.encode("utf-8")
                body = header + update(rand[pos : pos + IV_SIZE] + data + pads[16 - (len(data) & 15)])
                pos += IV_SIZE
                h = inner()
                h.update(body)
                o = outer()
                o.update(h.digest())
                append("v1:" + b64(body + o.digest()[:TAG_SIZE]).rstrip(b"=").decode("ascii"))
        return out

    def encrypt_bytes(self, data: bytes) -> bytes:
        """Encrypt a whole file's bytes (attachments): the token's body in binary, key id || IV || C || tag."""
        key = self._current
        enc = Cipher(key.alg, modes.CBC(iv := os.urandom(IV_SIZE))).encryptor()
        body = key.header + iv + enc.update(data + _PADDING[16 - (len(data) & 15)]) + enc.finalize()
        return body + key.mac.digest(body)[:TAG_SIZE]

    def bytes_need_rotation(self, blob: bytes) -> bool:
        """True when an :meth:`encrypt_bytes` blob is not under the current key."""
        return blob[1:_HEADER_SIZE] != self._current.keys.key_id

    def decrypt_bytes(self, blob: bytes) -> bytes:
        """Inverse of :meth:`encrypt_bytes` under any configured key; raises :class:`CryptoError`."""
        if len(blob) < _MIN_BODY or (len(blob) - _MIN_BODY) % BLOCK_SIZE or blob[0] != VERSION:
            raise CryptoError("not an encrypted file")
        key = self._keyring.get(blob[1:_HEADER_SIZE])
        if key is None:
            raise CryptoError("the file's key id matches no configured key")
        if not hmac.compare_digest(key.mac.digest(blob[:-TAG_SIZE])[:TAG_SIZE], blob[-TAG_SIZE:]):
            raise CryptoError("authentication failed: the file was tampered with or the key is wrong")
        iv, ct = blob[_HEADER_SIZE:_HEADER_SIZE + IV_SIZE], blob[_HEADER_SIZE + IV_SIZE:-TAG_SIZE]
        dec = Cipher(key.alg, modes.CBC(iv)).decryptor()
        return pkcs7_unpad(dec.update(ct) + dec.finalize())

    # -- decryption ---------------------------------------------------------------------

    def _open(self, token: str, decryptors: dict) -> str:
        body = _parse(token)
        key = self._keyring.get(body[1:_HEADER_SIZE])
        if key is None:
            raise CryptoError(
                f"token key id {body[1:_HEADER_SIZE].hex()} matches no configured key "
                "(wrong key, or a retired key missing from previous_keys)"
            )
        if not hmac.compare_digest(key.mac.digest(body[:-TAG_SIZE])[:TAG_SIZE], body[-TAG_SIZE:]):
            raise CryptoError("authentication failed: token was tampered with or the key is wrong")
        dec = decryptors.get(key)
        if dec is None:
            dec = decryptors[key] = Cipher(key.alg, modes.ECB()).decryptor().update
        chained = body[_HEADER_SIZE:-TAG_SIZE]  # IV || C
        ct = chained[IV_SIZE:]
        # CBC decryption: P_i = D(C_i) xor C_{i-1}, with C_0 = IV -- one ECB call, one XOR.
        raw = int.from_bytes(dec(ct), "big") ^ int.from_bytes(chained[:-IV_SIZE], "big")
        return _to_text(raw.to_bytes(len(ct), "big"))

    def decrypt(self, token: str) -> str:
        """Decrypt a token; raises :class:`CryptoError` for any token this key did not make."""
        return self._open(token, {})

    def decrypt_many(self, tokens: Iterable[str]) -> list[str]:
        """Decrypt many tokens, reusing OpenSSL contexts; raises on the first bad token."""
        decryptors: dict = {}
        return [self._open(t, decryptors) for t in tokens]

    def try_decrypt_many(self, tokens: Iterable[str]) -> list[str | None]:
        """Like :meth:`decrypt_many`, but None for a token this key cannot open (pages show a marker)."""
        decryptors: dict = {}
        out: list[str | None] = []
        for t in tokens:
            try:
                out.append(self._open(t, decryptors))
            except CryptoError:
                out.append(None)
        return out

    def needs_rotation(self, token: str) -> bool:
        """True if ``token`` was not written under the current key (cheap: reads the key id only)."""
        return _parse(token)[1:_HEADER_SIZE] != self._current.keys.key_id

    def rotate(self, token: str) -> str:
        """Return ``token`` re-encrypted under the current key (unchanged if already current)."""
        return self.encrypt(self.decrypt(token)) if self.needs_rotation(token) else token

    # -- blind index --------------------------------------------------------------------

    def blind_index(self, value: str) -> str:
        """Hex HMAC-SM3 (64 chars) of :func:`normalize_for_index` (``value``) for exact-match search."""
        return self._index.hexdigest(normalize_for_index(value).encode("utf-8"))

    def blind_index_many(self, values: Iterable[str]) -> list[str]:
        """:meth:`blind_index` for many values (bulk hot path)."""
        inner, outer = self._index.copiers()
        out: list[str] = []
        append = out.append
        for value in values:
            if type(value) is not str:
                raise TypeError(f"can only index str, not {type(value).__name__}")
            if not value.isascii():
                value = unicodedata.normalize("NFKC", value)
            h = inner()
            h.update("".join(value.split()).upper().encode("utf-8"))
            o = outer()
            o.update(h.digest())
            append(o.hexdigest())
        return out


class GmsslReferenceCipher:
    """The v1 token format implemented on gmssl's pure-Python SM3/SM4 -- tests and benchmarks only.

    Shares no cryptographic code with :class:`FieldCipher` (keys are derived with gmssl's
    ``sm3_kdf``, SM4-CBC is gmssl's ``crypt_cbc``, HMAC is RFC 2104 over gmssl's SM3), so
    byte-identical tokens prove the OpenSSL fast path correct.  About 100x slower.
    """

    def __init__(self, master_key: bytes, *, index_key: bytes | None = None) -> None:
        self._keys = derive_keys(master_key, index_key, _kdf=gmssl_sm3_kdf)
        self._header = bytes([VERSION]) + self._keys.key_id

    def encrypt(self, plaintext: str, iv: bytes) -> str:
        """Encrypt with the caller's 16-byte ``iv`` (deterministic; never reuse IVs for real data)."""
        if len(iv) != IV_SIZE:
            raise CryptoError("IV must be 16 bytes")
        ct = gmssl_cbc_encrypt(self._keys.enc_key, iv, plaintext.encode("utf-8"))
        signed = self._header + bytes(iv) + ct
        return _encode(signed + gmssl_hmac_sm3(self._keys.mac_key, signed)[:TAG_SIZE])

    def decrypt(self, token: str) -> str:
        """Verify and decrypt a token made under this key; raises :class:`CryptoError` otherwise."""
        body = _parse(token)
        if body[1:_HEADER_SIZE] != self._keys.key_id:
            raise CryptoError("token key id does not match this key")
        tag = gmssl_hmac_sm3(self._keys.mac_key, body[:-TAG_SIZE])[:TAG_SIZE]
        if not hmac.compare_digest(tag, body[-TAG_SIZE:]):
            raise CryptoError("authentication failed")
        iv, ct = body[_HEADER_SIZE : _HEADER_SIZE + IV_SIZE], body[_HEADER_SIZE + IV_SIZE : -TAG_SIZE]
        try:
            return gmssl_cbc_decrypt(self._keys.enc_key, iv, ct).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CryptoError("decrypted plaintext is not UTF-8") from exc

    def blind_index(self, value: str) -> str:
        """Blind index computed with the RFC 2104 HMAC over gmssl's SM3."""
        return gmssl_hmac_sm3(self._keys.index_key, normalize_for_index(value).encode("utf-8")).hex()


_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_B64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


def key_from_config(value: str, *, sizes: Iterable[int] = (16, 32)) -> bytes:
    """Parse a key from configuration text: hex, or base64 / base64url (padding optional).

    An optional ``"hex:"`` or ``"base64:"`` prefix forces the encoding; otherwise text made
    only of hex digits is read as hex.  The decoded length must be one of ``sizes``.
    Errors never echo the key text.
    """
    sizes = tuple(sizes)
    want = " or ".join(str(s) for s in sizes)
    if not isinstance(value, str):
        raise CryptoError(f"key must be given as hex or base64 text, not {type(value).__name__}")
    text = "".join(value.split())
    kind = None
    for prefix, name in (("hex:", "hex"), ("base64:", "base64"), ("b64:", "base64")):
        if text.lower().startswith(prefix):
            kind, text = name, text[len(prefix) :]
    if not text:
        raise CryptoError(f"key is empty; expected {want} bytes as hex or base64")
    if kind == "hex" or (kind is None and _HEX.fullmatch(text)):
        if not _HEX.fullmatch(text):
            raise CryptoError("key marked 'hex:' contains non-hex characters or an odd number of digits")
        key, kind = bytes.fromhex(text), "hex"
    else:
        if not _B64.fullmatch(text):
            raise CryptoError(
                f"key is neither hex nor base64 (expected {want} bytes, e.g. `openssl rand -hex 16`)"
            )
        core = text.rstrip("=").replace("-", "+").replace("_", "/")
        try:
            key = base64.b64decode(core + "=" * (-len(core) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("key is not valid base64") from exc
        kind = "base64"
    if len(key) not in sizes:
        raise CryptoError(
            f"key must be {want} bytes; the {kind} value decodes to {len(key)} bytes"
            + (" (hex needs 2 characters per byte)" if kind == "hex" else "")
        )
    if len(set(key)) == 1:
        raise CryptoError("key is a placeholder (every byte identical); generate a random key")
    return key
