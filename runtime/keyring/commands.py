"""`specadmin rotate-key DIR`: re-encrypt every sensitive column under a new SM4 key."""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from specadmin.runtime.plugin import Command


def add_arguments(p) -> None:
    p.add_argument("dir")
    p.add_argument("--new-key-file", help="file with the new key (hex or base64, 16/32 bytes); "
                   "else env SPECADMIN_SM4_NEW_KEY; neither: finish an interrupted rotation")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--reindex", action="store_true", help="also recompute every blind index")


def run(args) -> int:
    """Re-encrypt every sensitive column under a new SM4 key (protocol: runtime/keyring/rotation.py)."""
    from specadmin.runtime.crypto import CryptoError
    from specadmin.runtime.keyring.keys import ENV_NEW, ENV_PREVIOUS, parse_key
    from specadmin.runtime.keyring.rotation import RotationError, rotate_key

    try:
        if args.new_key_file:
            new_key = parse_key(Path(args.new_key_file).read_text())
        elif os.environ.get(ENV_NEW, "").strip():
            new_key = parse_key(os.environ[ENV_NEW])
        else:
            new_key = None  # finish an interrupted rotation to the current key
        report = asyncio.run(args.with_app(Path(args.dir), lambda ctx: rotate_key(
            ctx, new_key, batch_size=args.batch_size, reindex=args.reindex)))
    except (CryptoError, RotationError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    if report.complete and os.environ.get(ENV_PREVIOUS):
        print(f"旧密钥已不再需要：可从应用环境中删除 {ENV_PREVIOUS}")
    return 0 if report.complete else 1


ROTATE_KEY = Command("rotate-key", "re-encrypt sensitive fields under a new SM4 key (stop the app first)",
                     add_arguments, run)
