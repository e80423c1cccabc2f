"""`specadmin keys new|token`: credentials of an API caller, printed once and never stored."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from specadmin.runtime.plugin import Command


def add_arguments(p) -> None:
    keys_sub = p.add_subparsers(dest="keys_command", required=True)
    k = keys_sub.add_parser("new", help="new SM2 key pair; registers or updates the caller")
    k.add_argument("dir")
    k.add_argument("caller", help="caller code")
    k.add_argument("--role", help="role code whose grants the caller gets")
    k.add_argument("--name", help="caller name")
    k = keys_sub.add_parser("token", help="new bearer token for a registered caller")
    k.add_argument("dir")
    k.add_argument("caller", help="caller code")


def run(args) -> int:
    """keys new: SM2 key pair for an API caller; keys token: a bearer token. Printed once, never stored."""
    from specadmin.runtime.api_callers.keys import (
        CallerError,
        issue_token,
        register_key,
    )

    try:
        if args.keys_command == "new":
            private_hex, public_hex = asyncio.run(args.with_app(Path(args.dir), lambda ctx: register_key(
                ctx, args.caller, role=args.role, name=args.name)))
        else:
            token = asyncio.run(args.with_app(Path(args.dir), lambda ctx: issue_token(ctx, args.caller)))
    except CallerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("警告：以下密钥只显示这一次，系统不保存；请立即交给调用方并妥善保管，切勿写入代码库。", file=sys.stderr)
    print(f"caller: {args.caller}")
    if args.keys_command == "new":
        print(f"public_key: {public_hex}")
        print(f"private_key: {private_hex}")
    else:
        print(f"token: {token}")
    return 0


KEYS = Command("keys", "API caller credentials: SM2 key pair or bearer token (printed once)", add_arguments, run)
