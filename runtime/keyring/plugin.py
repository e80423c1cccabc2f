"""Built-in plugin `keyring`: SM4 key rotation from the command line (`specadmin rotate-key`)."""
from __future__ import annotations

from specadmin.runtime.keyring.commands import ROTATE_KEY
from specadmin.runtime.plugin import Plugin

plugin = Plugin(name="keyring", label="密钥管理", builtin=True, order=15, commands=(ROTATE_KEY,))
