"""Install a plugin for a test the way pip would: a distribution's metadata with an entry point in
the `specadmin.plugins` group, in a folder put on sys.path (and on PYTHONPATH for subprocesses)."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

from specadmin.runtime.plugin import installed


def install_plugin(folder: Path, name: str, target: str, files: dict[str, str] | None = None) -> Path:
    """Publish entry point `name = target` (e.g. "my_pkg.plugin:plugin") from `folder`, writing
    `files` (relative path → text) there first. Returns the folder, already on sys.path."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel, text in (files or {}).items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    dist = folder / f"specadmin_test_{name}-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: specadmin-test-{name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[specadmin.plugins]\n{name} = {target}\n")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    installed(refresh=True)
    return folder


def add_to_app_yaml(app_dir: Path, *names: str) -> None:
    """List plugins under `plugins:` in a copied app's app.yaml."""
    path = app_dir / "app.yaml"
    text = path.read_text(encoding="utf-8")
    if "\nplugins: [" in text:
        text = text.replace("\nplugins: [", f"\nplugins: [{', '.join(names)}, ", 1)
    else:
        text = text.rstrip("\n") + f"\nplugins: [{', '.join(names)}]\n"
    path.write_text(text, encoding="utf-8")
