"""Where the SM4 field keys come from, and how they are written (never into the repository).

Current key (encrypts new values):   env SPECADMIN_SM4_KEY, else DIR/var/keys/sm4.key
                                     (created with a random 32-byte key on first start).
Previous keys (decrypt only):        DIR/var/keys/sm4.key.previous (one per line) and env
                                     SPECADMIN_SM4_PREVIOUS_KEYS (comma-separated); present
                                     only while `specadmin rotate-key` re-encrypts old rows.
Blind-index key (optional):          env SPECADMIN_SM4_INDEX_KEY, else DIR/var/keys/sm4.index.key.
                                     Unset (the default), it is derived from the current key,
                                     so a key rotation also recomputes every blind index.
Keys are hex or base64 of 16 or 32 bytes (crypto.key_from_config). Key files are written
atomically (temporary file + rename) with mode 0600.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from specadmin.runtime.crypto import FieldCipher
from specadmin.runtime.crypto.field_cipher import key_from_config
from specadmin.runtime.data.private_files import private_dir

ENV_KEY = "SPECADMIN_SM4_KEY"
ENV_PREVIOUS = "SPECADMIN_SM4_PREVIOUS_KEYS"
ENV_INDEX = "SPECADMIN_SM4_INDEX_KEY"
ENV_NEW = "SPECADMIN_SM4_NEW_KEY"
KEY_FILE = "sm4.key"
PREVIOUS_FILE = "sm4.key.previous"
INDEX_FILE = "sm4.index.key"


@dataclass(frozen=True, repr=False)
class FieldKeys:
    current: bytes
    previous: tuple[bytes, ...] = ()
    index: bytes | None = None  # None: derived from `current`
    from_env: bool = False  # the current key came from SPECADMIN_SM4_KEY (rotate-key cannot rewrite it)

    def __repr__(self) -> str:  # never print key material
        return f"FieldKeys(key_id={self.cipher().key_id}, previous={len(self.previous)}, from_env={self.from_env})"

    def cipher(self) -> FieldCipher:
        return FieldCipher(self.current, index_key=self.index, previous_keys=self.previous)


def keys_dir(var_dir: Path) -> Path:
    return Path(var_dir) / "keys"


def parse_key(text: str) -> bytes:
    return key_from_config(text.strip(), sizes=(16, 32))


def write_secret_file(path: Path, text: str) -> None:
    """Replace `path` atomically: readers see the old content or the new one, never half."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read_lines(path: Path) -> list[bytes]:
    if not path.exists():
        return []
    return [parse_key(line) for line in path.read_text().splitlines() if line.strip()]


def _current_from_file(path: Path, create: bool) -> bytes:
    if path.exists():
        return parse_key(path.read_text())
    if not create:
        raise FileNotFoundError(f"{path} is missing and {ENV_KEY} is not set")
    key = secrets.token_bytes(32)
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker created it first: use theirs
        return parse_key(path.read_text())
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
    return key


def load_field_keys(var_dir: Path, *, create: bool = True) -> FieldKeys:
    """The keys of one app installation (see the module docstring for the sources)."""
    folder = keys_dir(var_dir)
    env_key = os.environ.get(ENV_KEY, "").strip()
    current = parse_key(env_key) if env_key else _current_from_file(folder / KEY_FILE, create)
    previous = _read_lines(folder / PREVIOUS_FILE)
    previous += [parse_key(p) for p in os.environ.get(ENV_PREVIOUS, "").split(",") if p.strip()]
    env_index = os.environ.get(ENV_INDEX, "").strip()
    index = parse_key(env_index) if env_index else (_read_lines(folder / INDEX_FILE) or [None])[0]
    unique = tuple(dict.fromkeys(k for k in previous if k != current))
    return FieldKeys(current=current, previous=unique, index=index, from_env=bool(env_key))
