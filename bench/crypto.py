"""Benchmark: FieldCipher encrypt + blind index of ID numbers, OpenSSL fast path vs gmssl reference.

    .venv/bin/python bench/crypto.py                # 1,000,000 rows, 5,000-row gmssl sample
    .venv/bin/python bench/crypto.py --n 200000 --ref-n 2000 --batch 5000

Each row is one 18-character resident ID number: ``encrypt_many`` + ``blind_index_many``
on the fast path, in batches as a bulk import would; ``GmsslReferenceCipher.encrypt`` +
``blind_index`` per row on the reference path (its rate is extrapolated from the sample).
Before timing, a sample of fast-path tokens is checked byte-for-byte against the reference.
Exits 1 if the targets (>= 50,000 rows/s and >= 20x gmssl) are missed.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time

from specadmin.runtime.crypto import FieldCipher, GmsslReferenceCipher

TARGET_ROWS_PER_S = 50_000
TARGET_RATIO = 20.0
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_REGIONS = ("110105", "310104", "440305", "510107", "330106", "420111", "610113", "500103")


def make_ids(n: int, seed: int) -> list[str]:
    """``n`` syntactically valid GB 11643 ID numbers (region, birth date, sequence, check digit)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        body = "%s%04d%02d%02d%03d" % (
            rng.choice(_REGIONS),
            rng.randint(1940, 2010),
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 999),
        )
        out.append(body + _CHECK[sum(int(c) * w for c, w in zip(body, _WEIGHTS)) % 11])
    return out


def check_identical(cipher: FieldCipher, reference: GmsslReferenceCipher, ids: list[str]) -> None:
    import base64

    tokens = cipher.encrypt_many(ids)
    indexes = cipher.blind_index_many(ids)
    for value, token, index in zip(ids, tokens, indexes):
        payload = token[3:]
        iv = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))[5:21]
        if reference.encrypt(value, iv) != token or reference.blind_index(value) != index:
            sys.exit(f"MISMATCH between fast path and gmssl reference for {value!r}")
        if cipher.decrypt(token) != value:
            sys.exit(f"round trip failed for {value!r}")


def bench_fast(cipher: FieldCipher, ids: list[str], batch: int) -> tuple[float, float, float]:
    enc = idx = 0.0
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        t0 = time.perf_counter()
        tokens = cipher.encrypt_many(chunk)
        t1 = time.perf_counter()
        indexes = cipher.blind_index_many(chunk)
        t2 = time.perf_counter()
        enc += t1 - t0
        idx += t2 - t1
        assert len(tokens) == len(indexes) == len(chunk)
    n = len(ids)
    return n / (enc + idx), n / enc, n / idx


def bench_reference(reference: GmsslReferenceCipher, ids: list[str]) -> float:
    ivs = [os.urandom(16) for _ in ids]
    t0 = time.perf_counter()
    for value, iv in zip(ids, ivs):
        reference.encrypt(value, iv)
        reference.blind_index(value)
    return len(ids) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="rows on the fast path (default 1,000,000)")
    ap.add_argument("--ref-n", type=int, default=5_000, help="rows on the gmssl reference (default 5,000)")
    ap.add_argument("--batch", type=int, default=10_000, help="rows per encrypt_many call (default 10,000)")
    ap.add_argument("--seed", type=int, default=20240101)
    args = ap.parse_args(argv)

    key = os.urandom(16)
    cipher, reference = FieldCipher(key), GmsslReferenceCipher(key)
    print(f"python {platform.python_version()}, {platform.machine()}; generating {args.n:,} ID numbers ...")
    ids = make_ids(max(args.n, args.ref_n), args.seed)
    check_identical(cipher, reference, ids[:200])
    print("fast path == gmssl reference on 200 sample rows (tokens with same IV, blind indexes)")

    fast, enc_rate, idx_rate = bench_fast(cipher, ids[: args.n], args.batch)
    ref = bench_reference(reference, ids[: args.ref_n])
    ratio = fast / ref
    print(
        f"fast   (OpenSSL): {args.n:>9,} rows  {fast:>11,.0f} rows/s  "
        f"(encrypt {enc_rate:,.0f}/s, blind index {idx_rate:,.0f}/s)"
    )
    print(
        f"gmssl reference : {args.ref_n:>9,} rows  {ref:>11,.0f} rows/s  "
        f"(extrapolated: {args.n / ref:,.0f} s for {args.n:,} rows)"
    )
    print(f"ratio           : {ratio:,.1f}x")
    ok = fast >= TARGET_ROWS_PER_S and ratio >= TARGET_RATIO
    print(f"targets (>= {TARGET_ROWS_PER_S:,} rows/s, >= {TARGET_RATIO:.0f}x): {'PASS' if ok else 'MISS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
