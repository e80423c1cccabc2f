"""SM4 block cipher (GB/T 32907-2016): ECB blocks and CBC with PKCS#7 padding.

Fast path: OpenSSL through ``cryptography``'s ``algorithms.SM4``.  Reference path: gmssl's
pure-Python ``CryptSM4``; the ``gmssl_*`` functions exist so tests and benchmarks can prove
the fast path byte-identical and must not be used in production code.

Nothing here authenticates: CBC decryption under a wrong key yields garbage (gmssl even
"unpads" it silently).  Use :class:`~specadmin.runtime.crypto.field_cipher.FieldCipher`
for data at rest.  This module also defines :class:`CryptoError`, the package's exception.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl import sm4 as _gmssl_sm4

BLOCK_SIZE = 16
KEY_SIZE = 16

# _PADDING[n] is the PKCS#7 padding to append to a message whose length mod 16 is 16 - n.
_PADDING = [bytes([n]) * n for n in range(BLOCK_SIZE + 1)]


class CryptoError(ValueError):
    """A key, token or ciphertext was rejected (wrong key, tampering, bad padding, bad format)."""


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, (bytes, bytearray)):
        raise TypeError("SM4 key must be bytes")
    if len(key) != KEY_SIZE:
        raise CryptoError(f"SM4 key must be {KEY_SIZE} bytes, got {len(key)}")
    return bytes(key)


def _check_block(block: bytes) -> bytes:
    if len(block) != BLOCK_SIZE:
        raise CryptoError(f"SM4 block must be {BLOCK_SIZE} bytes, got {len(block)}")
    return bytes(block)


def pkcs7_pad(data: bytes) -> bytes:
    """Append PKCS#7 padding (1..16 bytes, always at least one)."""
    return bytes(data) + _PADDING[BLOCK_SIZE - len(data) % BLOCK_SIZE]


def pkcs7_unpad(data: bytes) -> bytes:
    """Strip PKCS#7 padding, raising :class:`CryptoError` unless it is well formed."""
    if not data or len(data) % BLOCK_SIZE:
        raise CryptoError("bad padding: length is not a positive multiple of 16")
    n = data[-1]
    if not 1 <= n <= BLOCK_SIZE or data[-n:] != _PADDING[n]:
        raise CryptoError("bad padding")
    return bytes(data[:-n])


# --- fast path (OpenSSL) ---------------------------------------------------------------


def ecb_encryptor(key: bytes):
    """A reusable OpenSSL SM4-ECB encryption context (``.update(blocks)`` -> ciphertext)."""
    return Cipher(algorithms.SM4(_check_key(key)), modes.ECB()).encryptor()


def ecb_decryptor(key: bytes):
    """A reusable OpenSSL SM4-ECB decryption context."""
    return Cipher(algorithms.SM4(_check_key(key)), modes.ECB()).decryptor()


def encrypt_block(key: bytes, block: bytes) -> bytes:
    """Encrypt one 16-byte block with SM4 (OpenSSL)."""
    return ecb_encryptor(key).update(_check_block(block))


def decrypt_block(key: bytes, block: bytes) -> bytes:
    """Decrypt one 16-byte block with SM4 (OpenSSL)."""
    return ecb_decryptor(key).update(_check_block(block))


def cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """SM4-CBC with PKCS#7 padding (OpenSSL).  Returns the ciphertext without the IV."""
    enc = Cipher(algorithms.SM4(_check_key(key)), modes.CBC(_check_block(iv))).encryptor()
    return enc.update(pkcs7_pad(plaintext)) + enc.finalize()


def cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """Inverse of :func:`cbc_encrypt`; raises :class:`CryptoError` on bad length or padding.

    A wrong key is *not* reliably detected here (about 1 in 256 wrong keys still yields
    valid-looking padding) -- authenticate before decrypting.
    """
    if not ciphertext or len(ciphertext) % BLOCK_SIZE:
        raise CryptoError("ciphertext length is not a positive multiple of 16")
    dec = Cipher(algorithms.SM4(_check_key(key)), modes.CBC(_check_block(iv))).decryptor()
    return pkcs7_unpad(dec.update(bytes(ciphertext)) + dec.finalize())


# --- gmssl reference path (tests and benchmarks only) ----------------------------------


def _gmssl(key: bytes, mode: int, padding_mode=None) -> _gmssl_sm4.CryptSM4:
    c = _gmssl_sm4.CryptSM4(mode, padding_mode=padding_mode)
    c.set_key(_check_key(key), mode)
    return c


def gmssl_encrypt_block(key: bytes, block: bytes) -> bytes:
    """Encrypt one block with gmssl's pure-Python SM4 (reference only)."""
    return _gmssl(key, _gmssl_sm4.SM4_ENCRYPT).crypt_ecb(_check_block(block))


def gmssl_decrypt_block(key: bytes, block: bytes) -> bytes:
    """Decrypt one block with gmssl's pure-Python SM4 (reference only)."""
    return _gmssl(key, _gmssl_sm4.SM4_DECRYPT).crypt_ecb(_check_block(block))


def gmssl_cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """SM4-CBC + PKCS#7 using gmssl's own ``crypt_cbc`` padding and chaining (reference only)."""
    return _gmssl(key, _gmssl_sm4.SM4_ENCRYPT).crypt_cbc(_check_block(iv), bytes(plaintext))


def gmssl_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """SM4-CBC decryption on gmssl with *strict* PKCS#7 checking (reference only).

    gmssl's ``crypt_cbc`` strips ``data[-1]`` bytes without checking them, so this chains
    the raw gmssl block decryptions itself and validates the padding with :func:`pkcs7_unpad`.
    """
    if not ciphertext or len(ciphertext) % BLOCK_SIZE:
        raise CryptoError("ciphertext length is not a positive multiple of 16")
    raw = _gmssl(key, _gmssl_sm4.SM4_DECRYPT).crypt_ecb(bytes(ciphertext))
    prev = _check_block(iv) + bytes(ciphertext[:-BLOCK_SIZE])
    return pkcs7_unpad(bytes(a ^ b for a, b in zip(raw, prev)))
