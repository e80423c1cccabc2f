"""Tests for specadmin.runtime.crypto: SM4/SM3 fast paths vs gmssl and the GB/T vectors,
FieldCipher tokens and blind indexes, masking, and SM2 signatures."""

from __future__ import annotations

import base64
import hmac
import os
import random

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from gmssl import sm2 as gmssl_sm2
from gmssl import sm4 as gmssl_sm4
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specadmin.runtime.crypto import (
    CryptoError,
    FieldCipher,
    GmsslReferenceCipher,
    HmacSM3,
    derive_keys,
    generate_keypair,
    hmac_sm3,
    key_from_config,
    mask,
    normalize_for_index,
    sign,
    signing_string,
    sm3_hex,
    sm3_kdf,
    token_length,
    verify,
)
from specadmin.runtime.crypto import sm2 as sm2_mod
from specadmin.runtime.crypto import sm3 as sm3_mod
from specadmin.runtime.crypto import sm4 as sm4_mod

SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
keys16 = st.binary(min_size=16, max_size=16)
blocks = st.binary(min_size=16, max_size=16)
texts = st.text(max_size=80)  # arbitrary Unicode incl. CJK, astral and control characters

GB_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
GB_CT = bytes.fromhex("681edf34d206965e86b3e94f536e4246")
GB_CT_MILLION = bytes.fromhex("595298c7c6fd271f0402f804c33d3f66")
ABC_SM3 = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
ABCD16_SM3 = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"

MASTER = bytes(range(1, 17))
OTHER = bytes(range(101, 117))
ID = "11010519491231002X"


def body_of(token: str) -> bytes:
    payload = token[3:]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))


def token_of(body: bytes) -> str:
    return "v1:" + base64.urlsafe_b64encode(body).rstrip(b"=").decode()


def forge(master: bytes, body_without_tag: bytes) -> str:
    """A token whose MAC is valid under ``master`` -- to reach checks that follow the MAC."""
    tag = hmac_sm3(derive_keys(master).mac_key, body_without_tag)[:16]
    return token_of(body_without_tag + tag)


# --- SM4 ----------------------------------------------------------------------------------


def test_sm4_fast_path_matches_gb_t_32907_vector():
    assert sm4_mod.encrypt_block(GB_KEY, GB_KEY) == GB_CT
    assert sm4_mod.decrypt_block(GB_KEY, GB_CT) == GB_KEY


def test_sm4_gmssl_reference_matches_gb_t_32907_vector():
    assert sm4_mod.gmssl_encrypt_block(GB_KEY, GB_KEY) == GB_CT
    assert sm4_mod.gmssl_decrypt_block(GB_KEY, GB_CT) == GB_KEY


def test_sm4_fast_path_matches_gb_t_32907_million_iteration_vector():
    update = sm4_mod.ecb_encryptor(GB_KEY).update
    block = GB_KEY
    for _ in range(1_000_000):
        block = update(block)
    assert block == GB_CT_MILLION


def test_sm4_gmssl_and_fast_path_agree_on_iterated_encryption():
    # gmssl is too slow for a million rounds; 300 chained rounds still exercise both ends.
    update = sm4_mod.ecb_encryptor(GB_KEY).update
    fast = slow = GB_KEY
    for _ in range(300):
        fast = update(fast)
        slow = sm4_mod.gmssl_encrypt_block(GB_KEY, slow)
    assert fast == slow != GB_KEY


@SLOW
@given(key=keys16, block=blocks)
def test_sm4_blocks_are_byte_identical_between_openssl_and_gmssl(key, block):
    ct = sm4_mod.encrypt_block(key, block)
    assert ct == sm4_mod.gmssl_encrypt_block(key, block)
    assert sm4_mod.decrypt_block(key, ct) == sm4_mod.gmssl_decrypt_block(key, ct) == block


@SLOW
@given(key=keys16, iv=blocks, data=st.binary(max_size=100))
def test_sm4_cbc_is_byte_identical_between_openssl_and_gmssl(key, iv, data):
    ct = sm4_mod.cbc_encrypt(key, iv, data)
    assert ct == sm4_mod.gmssl_cbc_encrypt(key, iv, data)
    assert len(ct) == (len(data) // 16 + 1) * 16
    assert sm4_mod.cbc_decrypt(key, iv, ct) == sm4_mod.gmssl_cbc_decrypt(key, iv, ct) == data


@pytest.mark.parametrize("bad_len", [0, 15, 17, 32])
def test_sm4_rejects_keys_that_are_not_16_bytes(bad_len):
    with pytest.raises(CryptoError, match="16 bytes"):
        sm4_mod.encrypt_block(b"k" * bad_len, GB_KEY)


@pytest.mark.parametrize(
    "padded",
    [
        b"",
        b"A" * 15,
        b"A" * 15 + b"\x00",
        b"A" * 15 + b"\x11",
        b"A" * 13 + b"\x02\x03\x03",
        b"A" * 14 + b"\x01\x02",
    ],
)
def test_pkcs7_unpad_rejects_malformed_padding(padded):
    with pytest.raises(CryptoError):
        sm4_mod.pkcs7_unpad(padded)


def test_pkcs7_round_trips_every_length_up_to_two_blocks():
    for n in range(33):
        data = os.urandom(n)
        padded = sm4_mod.pkcs7_pad(data)
        assert len(padded) % 16 == 0 and len(padded) > n
        assert sm4_mod.pkcs7_unpad(padded) == data


def test_gmssl_cbc_with_wrong_key_returns_garbage_instead_of_raising():
    """Why FieldCipher authenticates: plain SM4-CBC cannot tell a wrong key from the right one."""
    iv = bytes(16)
    ct = sm4_mod.gmssl_cbc_encrypt(MASTER, iv, ID.encode())
    wrong = gmssl_sm4.CryptSM4()
    wrong.set_key(OTHER, gmssl_sm4.SM4_DECRYPT)
    garbage = wrong.crypt_cbc(iv, ct)  # no exception: gmssl strips data[-1] bytes unchecked
    assert isinstance(garbage, bytes)
    assert garbage != ID.encode()


# --- SM3 / HMAC-SM3 / KDF -------------------------------------------------------------------


@pytest.mark.parametrize("message, digest", [(b"abc", ABC_SM3), (b"abcd" * 16, ABCD16_SM3)])
def test_sm3_matches_gb_t_32905_vectors_on_both_paths(message, digest):
    assert sm3_hex(message) == digest
    assert sm3_mod.sm3_digest(message).hex() == digest
    assert sm3_mod.gmssl_sm3_hex(message) == digest


@SLOW
@given(data=st.binary(max_size=300))
def test_sm3_openssl_and_gmssl_are_byte_identical(data):
    assert sm3_hex(data) == sm3_mod.gmssl_sm3_hex(data)


@SLOW
@given(key=st.binary(max_size=150), data=st.binary(max_size=200))
def test_hmac_sm3_agrees_across_stdlib_precomputed_cryptography_and_rfc2104_on_gmssl(key, data):
    expected = hmac_sm3(key, data)
    assert len(expected) == 32
    assert HmacSM3(key).digest(data) == expected
    assert HmacSM3(key).hexdigest(data) == expected.hex()
    h = crypto_hmac.HMAC(key, hashes.SM3())
    h.update(data)
    assert h.finalize() == expected
    assert sm3_mod.gmssl_hmac_sm3(key, data) == expected


def test_hmac_sm3_depends_on_key_and_message():
    assert hmac_sm3(b"k1", b"m") != hmac_sm3(b"k2", b"m")
    assert hmac_sm3(b"k1", b"m") != hmac_sm3(b"k1", b"n")
    assert hmac_sm3(b"k1", b"m") != sm3_mod.sm3_digest(b"m")


@SLOW
@given(z=st.binary(max_size=80), length=st.integers(min_value=0, max_value=100))
def test_sm3_kdf_matches_gmssl_sm3_kdf(z, length):
    out = sm3_kdf(z, length)
    assert len(out) == length
    assert out == sm3_mod.gmssl_sm3_kdf(z, length)


# --- FieldCipher ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cipher() -> FieldCipher:
    return FieldCipher(MASTER)


@pytest.fixture(scope="module")
def reference() -> GmsslReferenceCipher:
    return GmsslReferenceCipher(MASTER)


@given(text=texts)
def test_encrypt_then_decrypt_returns_the_original_text(cipher, text):
    assert cipher.decrypt(cipher.encrypt(text)) == text


@SLOW
@given(text=texts)
def test_fast_path_tokens_are_byte_identical_to_gmssl_reference(cipher, reference, text):
    token = cipher.encrypt(text)
    iv = body_of(token)[5:21]
    assert reference.encrypt(text, iv) == token
    assert reference.decrypt(token) == text


@SLOW
@given(text=texts, iv=blocks)
def test_gmssl_reference_tokens_decrypt_on_the_fast_path(cipher, reference, text, iv):
    assert cipher.decrypt(reference.encrypt(text, iv)) == text


def test_bulk_encrypt_is_byte_identical_to_gmssl_reference_and_decrypts(cipher, reference):
    values = [ID, "", "张三", "北京市海淀区中关村大街1号", "x" * 16, "y" * 31, ID.lower()] * 5
    tokens = cipher.encrypt_many(values)
    assert len(tokens) == len(values)
    for value, token in zip(values, tokens):
        assert reference.encrypt(value, body_of(token)[5:21]) == token
    assert cipher.decrypt_many(tokens) == values


def test_token_is_compact_ascii_with_version_and_key_id(cipher):
    token = cipher.encrypt(ID)
    assert token.startswith("v1:") and token.isascii()
    assert set(token[3:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    body = body_of(token)
    assert body[0] == 1
    assert body[1:5].hex() == cipher.key_id
    assert len(body) == 1 + 4 + 16 + 32 + 16  # 18-byte ID pads to two blocks
    assert len(token) == 95 == token_length(18) == cipher.token_length(18)


@given(text=texts)
def test_token_length_predicts_the_length_of_every_token(cipher, text):
    assert len(cipher.encrypt(text)) == token_length(len(text.encode()))


def test_same_plaintext_encrypts_to_different_tokens(cipher):
    assert len({cipher.encrypt(ID) for _ in range(50)}) == 50


def test_bulk_encryption_never_repeats_an_iv(cipher):
    tokens = cipher.encrypt_many([ID] * 20_000)
    ivs = {body_of(t)[5:21] for t in tokens}
    assert len(ivs) == len(tokens)
    assert len(set(tokens)) == len(tokens)


def test_wrong_key_fails_loudly_instead_of_returning_garbage(cipher):
    token = cipher.encrypt(ID)
    with pytest.raises(CryptoError, match="key"):
        FieldCipher(OTHER).decrypt(token)


def test_wrong_key_with_forged_key_id_still_fails_authentication(cipher):
    body = bytearray(body_of(cipher.encrypt(ID)))
    body[1:5] = derive_keys(OTHER).key_id  # make the key id match the wrong key
    with pytest.raises(CryptoError, match="authentication failed"):
        FieldCipher(OTHER).decrypt(token_of(bytes(body)))


def test_flipping_any_bit_of_the_token_body_is_detected(cipher):
    body = body_of(cipher.encrypt(ID))
    for i in range(len(body)):
        for bit in (0x01, 0x80):
            tampered = bytearray(body)
            tampered[i] ^= bit
            with pytest.raises(CryptoError):
                cipher.decrypt(token_of(bytes(tampered)))


def test_changing_any_character_of_the_token_text_is_detected(cipher):
    token = cipher.encrypt("张三")
    alphabet = "AB9-_z"
    for i in range(len(token)):
        for ch in alphabet:
            if ch != token[i]:
                with pytest.raises(CryptoError):
                    cipher.decrypt(token[:i] + ch + token[i + 1 :])


@pytest.mark.parametrize(
    "token",
    [
        "",
        "v1:",
        "v1",
        "garbage",
        "v1:!!!!",
        "v1:AAAA",
        "v1: AQ",
        "v1:A",
        "v2:AAAAAAAA",
        "V1:AAAA",
        42,
        None,
        b"v1:AAAA",
    ],
)
def test_malformed_tokens_raise_crypto_error(cipher, token):
    with pytest.raises(CryptoError):
        cipher.decrypt(token)


def test_unknown_format_version_is_rejected_by_prefix(cipher):
    token = cipher.encrypt(ID)
    with pytest.raises(CryptoError, match="version"):
        cipher.decrypt("v2:" + token[3:])


def test_unknown_version_byte_is_rejected_even_with_a_valid_mac(cipher):
    body = bytearray(body_of(cipher.encrypt(ID))[:-16])
    body[0] = 2
    with pytest.raises(CryptoError, match="version"):
        cipher.decrypt(forge(MASTER, bytes(body)))


def test_truncated_or_extended_tokens_are_rejected(cipher):
    body = body_of(cipher.encrypt(ID))
    for bad in (body[:-1], body[:-16], body[:-17], body + b"\x00", body + bytes(16)):
        with pytest.raises(CryptoError):
            cipher.decrypt(token_of(bad))


def test_bad_padding_is_rejected_even_with_a_valid_mac(cipher):
    keys = derive_keys(MASTER)
    iv = os.urandom(16)
    bad_plain = b"A" * 15 + b"\x05"  # claims 5 padding bytes, only one is 0x05
    enc = sm4_mod.ecb_encryptor(keys.enc_key)
    ct = enc.update(bytes(a ^ b for a, b in zip(bad_plain, iv)))
    token = forge(MASTER, b"\x01" + keys.key_id + iv + ct)
    with pytest.raises(CryptoError, match="padding"):
        cipher.decrypt(token)


def test_non_utf8_plaintext_is_rejected_even_with_a_valid_mac(cipher):
    keys = derive_keys(MASTER)
    iv = os.urandom(16)
    ct = sm4_mod.cbc_encrypt(keys.enc_key, iv, b"\xff\xfe")
    with pytest.raises(CryptoError, match="UTF-8"):
        cipher.decrypt(forge(MASTER, b"\x01" + keys.key_id + iv + ct))


def test_gmssl_reference_also_rejects_tampered_and_foreign_tokens(cipher, reference):
    token = reference.encrypt(ID, bytes(16))
    body = bytearray(body_of(token))
    body[30] ^= 1
    with pytest.raises(CryptoError):
        reference.decrypt(token_of(bytes(body)))
    with pytest.raises(CryptoError):
        GmsslReferenceCipher(OTHER).decrypt(token)


def test_encrypt_refuses_non_text(cipher):
    with pytest.raises(TypeError):
        cipher.encrypt(None)
    with pytest.raises(TypeError):
        cipher.encrypt_many([ID, b"bytes"])


def test_key_rotation_decrypts_old_tokens_by_key_id_and_reencrypts(cipher):
    old_token = cipher.encrypt(ID)
    rotated = FieldCipher(OTHER, previous_keys=[MASTER])
    assert rotated.key_id != cipher.key_id
    assert rotated.decrypt(old_token) == ID
    assert rotated.needs_rotation(old_token)
    new_token = rotated.rotate(old_token)
    assert body_of(new_token)[1:5].hex() == rotated.key_id
    assert not rotated.needs_rotation(new_token)
    assert rotated.rotate(new_token) == new_token
    with pytest.raises(CryptoError):
        cipher.decrypt(new_token)  # the old key alone cannot read new tokens


def test_derived_sub_keys_are_distinct_and_deterministic():
    keys = derive_keys(MASTER)
    assert keys == derive_keys(MASTER)
    assert len({keys.enc_key, keys.mac_key[:16], keys.index_key[:16]}) == 3
    assert derive_keys(MASTER, _kdf=sm3_mod.gmssl_sm3_kdf) == keys
    assert MASTER.hex() not in repr(keys) and keys.enc_key.hex() not in repr(keys)


@pytest.mark.parametrize("bad", [b"", b"short", bytes(range(15))])
def test_master_keys_shorter_than_16_bytes_are_refused(bad):
    with pytest.raises(CryptoError, match="at least 16 bytes"):
        FieldCipher(bad)


def test_master_key_given_as_text_is_a_type_error():
    with pytest.raises(TypeError, match="key_from_config"):
        FieldCipher(MASTER.hex())


# --- blind index ----------------------------------------------------------------------------


def test_blind_index_matches_regardless_of_spaces_case_and_full_width(cipher):
    expected = cipher.blind_index("11010519491231002X")
    for variant in [
        " 11010519491231002x ",
        "110105 19491231 002X",
        "１１０１０５１９４９１２３１００２ｘ",
        "110105\u300019491231002x",
    ]:
        assert cipher.blind_index(variant) == expected
    assert cipher.blind_index("110105194912310021") != expected


def test_blind_index_is_hex_hmac_sm3_of_normalised_value_with_the_index_key(cipher, reference):
    idx = cipher.blind_index(" 11010519491231002x")
    assert len(idx) == 64 and int(idx, 16) >= 0
    index_key = derive_keys(MASTER).index_key
    assert idx == hmac.new(index_key, b"11010519491231002X", "sm3").hexdigest()
    assert idx == reference.blind_index("11010519491231002x")


@given(values=st.lists(texts, max_size=20))
def test_blind_index_many_equals_blind_index_per_value(cipher, values):
    assert cipher.blind_index_many(values) == [cipher.blind_index(v) for v in values]


def test_blind_index_depends_on_the_key():
    assert FieldCipher(MASTER).blind_index(ID) != FieldCipher(OTHER).blind_index(ID)


def test_pinned_index_key_keeps_blind_indexes_stable_across_master_key_rotation():
    index_key = os.urandom(32)
    before = FieldCipher(MASTER, index_key=index_key).blind_index(ID)
    after = FieldCipher(OTHER, index_key=index_key, previous_keys=[MASTER]).blind_index(ID)
    assert before == after != FieldCipher(MASTER).blind_index(ID)


def test_normalize_for_index_strips_whitespace_and_upper_cases():
    assert normalize_for_index(" ab c\t\n") == "ABC"
    assert normalize_for_index("１３８ ００１３") == "1380013"
    with pytest.raises(TypeError):
        normalize_for_index(None)


# --- key_from_config --------------------------------------------------------------------------

KEY16 = bytes.fromhex("8f2a1c9e4b7d3065a1f0e2d4c6b8a092")


@pytest.mark.parametrize(
    "text",
    [
        KEY16.hex(),
        KEY16.hex().upper(),
        f"  {KEY16.hex()}\n",
        "hex:" + KEY16.hex(),
        base64.b64encode(KEY16).decode(),
        base64.b64encode(KEY16).decode().rstrip("="),
        base64.urlsafe_b64encode(KEY16).decode(),
        "base64:" + base64.b64encode(KEY16).decode(),
    ],
)
def test_key_from_config_accepts_hex_and_base64(text):
    assert key_from_config(text) == KEY16


def test_key_from_config_accepts_32_byte_keys_and_custom_sizes():
    k = os.urandom(32)
    assert key_from_config(k.hex()) == k
    with pytest.raises(CryptoError, match="must be 16 bytes"):
        key_from_config(k.hex(), sizes=(16,))


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("abc", "base64 value decodes to 2 bytes"),  # odd-length hex is read as base64
        (KEY16.hex()[:-2], "decodes to 15 bytes"),
        (base64.b64encode(os.urandom(24)).decode(), "decodes to 24 bytes"),
        ("not a key!", "neither hex nor base64"),
        ("hex:zz" + KEY16.hex(), "non-hex"),
        ("00" * 16, "placeholder"),
    ],
)
def test_key_from_config_rejects_bad_keys_with_a_clear_message(text, message):
    with pytest.raises(CryptoError, match=message) as info:
        key_from_config(text)
    assert "16 or 32" in str(info.value) or message in ("placeholder", "non-hex")
    if len(text) > 8:
        assert text.strip() not in str(info.value)  # never echo key material


# --- masking --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, kind, expected",
    [
        ("110105194912311234", "id_number", "110***********1234"),
        ("13812345678", "phone", "138****5678"),
        ("北京市海淀区中关村大街1号", "address", "北京市海淀区****"),
        ("张三", "name", "张*"),
        ("欧阳娜娜", "name", "欧***"),
        ("secret", "default", "s****t"),
        ("secret", "unknown-kind", "s****t"),
        ("ab", "default", "a*"),
        ("a", "name", "*"),
        ("", "phone", ""),
        ("12345", "phone", "1***5"),  # too short for 3+4: default rule
        ("北京市", "address", "北*市"),
    ],
)
def test_mask_examples(value, kind, expected):
    assert mask(value, kind) == expected


def test_mask_passes_none_through():
    assert mask(None, "id_number") is None


@given(
    value=st.text(st.characters(blacklist_characters="*"), min_size=1, max_size=40),
    kind=st.sampled_from(["id_number", "phone", "address", "name", "default", "x"]),
)
def test_mask_always_hides_at_least_one_character_and_keeps_the_rest_in_place(value, kind):
    masked = mask(value, kind)
    assert masked != value and "*" in masked
    if kind == "address" and len(value) > 6:
        assert masked == value[:6] + "****"
        shown = value[:6]
    else:
        assert len(masked) == len(value)
        assert all(m == v or m == "*" for m, v in zip(masked, value))
        shown = masked.replace("*", "")
    assert len(shown) < len(value)


# --- SM2 ------------------------------------------------------------------------------------

# GM/T 0003.5 / GB/T 32918.5 example on the recommended curve (user id 1234567812345678).
STD_D = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"
STD_PUB = (
    "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
    "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
)
STD_K = "59276e27d506861a16680f3ad9c02dccef3cc1fa3cdbe4ce6d54b80deac1bc21"
STD_SIG = (
    "f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3"
    "b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa"
)


@pytest.fixture(scope="module")
def keypair():
    return generate_keypair()


def test_sm2_signature_matches_the_standard_example():
    assert sm2_mod._sign(STD_D, STD_PUB, b"message digest", STD_K) == STD_SIG
    assert verify(STD_PUB, b"message digest", STD_SIG)
    assert verify("04" + STD_PUB, b"message digest", STD_SIG.upper())


# Private key 11 has a public x coordinate that itself begins with the digits "04".
D11 = f"{11:064x}"
PUB11 = (
    "04b3cb10c9c6d8e27c1aab770f67f543125dcdd589c2ff82668c74d78ce20ace"
    "63516355287e39fe4918e5c02e2b0b930c94816e63c4bc72739a8fd805174a4b"
)


def test_gmssl_lstrip_mangles_public_keys_starting_with_0_or_4_which_we_work_around():
    # gmssl's CryptSM2 does public_key.lstrip("04"): it eats the leading "0" of the
    # standard key's x when prefixed with "04", and corrupts a bare key whose x starts "04".
    assert gmssl_sm2.CryptSM2(private_key=STD_D, public_key="04" + STD_PUB).public_key != STD_PUB
    assert gmssl_sm2.CryptSM2(private_key=D11, public_key=PUB11).public_key != PUB11
    assert verify(STD_PUB, b"payload", sign(STD_D, "04" + STD_PUB, b"payload"))
    for public in (PUB11, "04" + PUB11):
        sig = sign(D11, public, b"payload")
        assert verify(PUB11, b"payload", sig) and verify("04" + PUB11, b"payload", sig)


def test_generated_keypair_is_well_formed_and_fresh(keypair):
    private_hex, public_hex = keypair
    assert len(private_hex) == 64 and len(public_hex) == 128
    assert 1 <= int(private_hex, 16) < sm2_mod._N - 1
    assert sm2_mod._public(public_hex) == public_hex  # on the curve
    assert generate_keypair()[0] != private_hex


def test_sm2_sign_verify_round_trip(keypair):
    private_hex, public_hex = keypair
    sig = sign(private_hex, public_hex, b"hello \xe4\xb8\xad")
    assert len(sig) == 128
    assert verify(public_hex, b"hello \xe4\xb8\xad", sig) is True


def test_sm2_signatures_are_randomised_but_both_verify(keypair):
    private_hex, public_hex = keypair
    a, b = sign(private_hex, public_hex, b"m"), sign(private_hex, public_hex, b"m")
    assert a != b
    assert verify(public_hex, b"m", a) and verify(public_hex, b"m", b)


def test_sm2_tampered_message_fails_verification(keypair):
    private_hex, public_hex = keypair
    sig = sign(private_hex, public_hex, b"amount=100")
    assert verify(public_hex, b"amount=900", sig) is False


def test_sm2_signature_from_another_key_fails_verification(keypair):
    private_hex, public_hex = keypair
    other_private, other_public = generate_keypair()
    sig = sign(other_private, other_public, b"m")
    assert verify(public_hex, b"m", sig) is False
    assert verify(other_public, b"m", sig) is True


def test_sm2_tampered_signature_fails_verification(keypair):
    private_hex, public_hex = keypair
    sig = sign(private_hex, public_hex, b"m")
    flipped = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
    assert verify(public_hex, b"m", flipped) is False


_N_HEX = f"{sm2_mod._N:064x}"


@pytest.mark.parametrize(
    "public_hex, message, signature",
    [
        (STD_PUB, b"message digest", STD_SIG[:-2]),  # short
        (STD_PUB, b"message digest", STD_SIG + "00"),  # long
        (STD_PUB, b"message digest", "zz" + STD_SIG[2:]),  # not hex
        (STD_PUB, b"message digest", None),
        (STD_PUB, b"message digest", "0" * 64 + STD_SIG[64:]),  # r = 0
        (STD_PUB, b"message digest", STD_SIG[:64] + "0" * 64),  # s = 0
        (STD_PUB, b"message digest", _N_HEX + STD_SIG[64:]),  # r = n
        (STD_PUB, "message digest", STD_SIG),  # str message
        (STD_PUB[:-2] + "00", b"message digest", STD_SIG),  # not on curve
        (STD_PUB[:64], b"message digest", STD_SIG),  # truncated key
        ("", b"message digest", STD_SIG),
        (None, b"message digest", STD_SIG),
        ("xy" * 64, b"message digest", STD_SIG),
    ],
)
def test_sm2_verify_returns_false_on_malformed_input_instead_of_raising(public_hex, message, signature):
    assert verify(public_hex, message, signature) is False


def test_sm2_sign_refuses_a_public_key_that_does_not_match_the_private_key(keypair):
    with pytest.raises(CryptoError, match="does not belong"):
        sign(keypair[0], STD_PUB, b"m")
    with pytest.raises(CryptoError, match="private key"):
        sign("00" * 32, STD_PUB, b"m")


def test_signing_string_is_canonical():
    got = signing_string(
        "post",
        "/api/v1/people",
        {"name": "张 三", "b": ["2", "1"], "a": "x&y=z"},
        b'{"id":1}',
        "1700000000",
        "n0nce",
    )
    expected = "\n".join(
        [
            "POST",
            "/api/v1/people",
            "a=x%26y%3Dz&b=1&b=2&name=%E5%BC%A0%20%E4%B8%89",
            sm3_hex(b'{"id":1}'),
            "1700000000",
            "n0nce",
        ]
    ).encode()
    assert got == expected


def test_signing_string_does_not_depend_on_query_order_or_container():
    pairs = [("z", "1"), ("a", "2"), ("a", "1"), ("m", "")]
    shuffled = pairs[:]
    random.Random(7).shuffle(shuffled)
    as_list = signing_string("GET", "/p", pairs, b"", "t", "n")
    assert as_list == signing_string("get", "/p", shuffled, b"", "t", "n")
    assert as_list == signing_string("GET", "/p", {"z": "1", "a": ["1", "2"], "m": None}, None, "t", "n")
    assert as_list.split(b"\n")[2] == b"a=1&a=2&m=&z=1"
    assert as_list.split(b"\n")[3] == sm3_hex(b"").encode()


def test_signing_string_changes_when_any_field_changes():
    base = ("GET", "/p", {"a": "1"}, b"body", "t", "n")
    reference = signing_string(*base)
    for i, alt in enumerate(["PUT", "/q", {"a": "2"}, b"bodY", "t2", "n2"]):
        args = list(base)
        args[i] = alt
        assert signing_string(*args) != reference


@pytest.mark.parametrize("field", [1, 4, 5])
def test_signing_string_refuses_line_breaks_that_would_make_it_ambiguous(field):
    args = ["GET", "/p", {}, b"", "t", "n"]
    args[field] = args[field] + "\nX"
    with pytest.raises(ValueError, match="line breaks"):
        signing_string(*args)


def test_signed_request_round_trip(keypair):
    private_hex, public_hex = keypair
    msg = signing_string("POST", "/api/sync", [("page", 1)], b"[]", "1700000000", "abc")
    sig = sign(private_hex, public_hex, msg)
    assert verify(public_hex, msg, sig)
    replay = signing_string("POST", "/api/sync", [("page", 1)], b"[]", "1700000000", "abd")
    assert not verify(public_hex, replay, sig)


def test_decode_many_opens_what_it_can_and_marks_the_rest():
    from specadmin.runtime.keyring.sensitive import UNREADABLE, SensitiveFields

    mine, other = SensitiveFields(bytes(range(16))), SensitiveFields(bytes(range(1, 17)))
    good = [mine.cipher.encrypt(v) for v in ("110102199003071234", "13800000000")]
    stranger = other.cipher.encrypt("北京市西城区")
    got = mine.decode_many([good[0], None, stranger, good[1], good[0]])
    assert got == {good[0]: "110102199003071234", good[1]: "13800000000", stranger: UNREADABLE}
