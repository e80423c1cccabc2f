"""`${NAME}` and `${NAME:-default}` in app.yaml values (feed targets, external databases), read at use."""
from __future__ import annotations

import os
import re

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(text: str | None) -> str:
    """Replace ${NAME} (empty when unset) and ${NAME:-default}."""
    if not text:
        return ""
    return ENV_REF.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), text)
