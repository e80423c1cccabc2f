"""Write generated files, or check that the committed ones are current."""
from __future__ import annotations

from pathlib import Path

from specadmin.generator.build import load_app
from specadmin.generator.emit import render


def _existing(out_dir: Path) -> dict[str, str]:
    found = {}
    if out_dir.exists():
        for path in sorted(out_dir.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                found[path.relative_to(out_dir).as_posix()] = path.read_text(encoding="utf-8")
    return found


SYSTEM_DIR = Path(__file__).resolve().parent.parent / "runtime" / "system"  # the built-in modules' "app"


def generate(app_dir: Path, check: bool = False) -> list[str]:
    """Returns the paths that changed (or would change, with check=True)."""
    app_dir = Path(app_dir)
    app = load_app(app_dir)
    system = None if app_dir.resolve() == SYSTEM_DIR else load_app(SYSTEM_DIR)
    out_dir = app_dir / "generated"
    existing = _existing(out_dir)
    files = render(app, existing, system)
    changed = [p for p, text in sorted(files.items()) if existing.get(p) != text]
    stale = [p for p in existing if p not in files]
    if check:
        return changed + [f"{p} (no longer generated)" for p in stale]
    for p in changed:
        target = out_dir / p
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(files[p], encoding="utf-8")
    for p in stale:
        (out_dir / p).unlink()
    return changed + stale
