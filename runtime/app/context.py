"""AppContext: one running app — its model, generated package, engine, caches and cipher."""
from __future__ import annotations

import importlib.util
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from piccolo.engine.base import Engine
from piccolo.table import Table
from specadmin.runtime.data import computed, db, multi_dict
from specadmin.runtime.data.private_files import open_private, private_dir, tighten
from specadmin.runtime.keyring.keys import FieldKeys, load_field_keys
from specadmin.runtime.keyring.sensitive import SensitiveFields
from specadmin.runtime.plugin import PluginSet
from specadmin.specs.codes import code_lists
from specadmin.specs.model import App


def _sensitive(keys: FieldKeys) -> SensitiveFields:
    """SensitiveFields over the whole keyring (it builds a single-key cipher; the keyring replaces it)."""
    sensitive = SensitiveFields(keys.current)
    sensitive.cipher = keys.cipher()
    return sensitive


SYSTEM_PACKAGE = "specadmin.runtime.system.generated"  # the built-in modules, generated once
SYSTEM_DIR = Path(__file__).resolve().parent.parent / "system" / "generated"
GENERATED_MODULES = ("tables", "api", "screens", "admin")


def _import_package(name: str, folder: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py", submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _system_copy(name: str) -> ModuleType:
    """The built-in modules' package imported afresh for one app, so that its Table classes are bound
    to that app's database alone (tests run several apps in one process)."""
    package = _import_package(name, SYSTEM_DIR)
    for sub in GENERATED_MODULES:
        importlib.import_module(f"{name}.{sub}")
    return package


def load_generated(app_dir: Path) -> ModuleType:
    """Import DIR/generated as package `specadmin_apps.<name>` (fresh for each app dir), with its own
    copy of the built-in modules' package (`.SYSTEM`), which its modules import as SYSTEM_PACKAGE."""
    gen = Path(app_dir).resolve() / "generated"
    if not (gen / "__init__.py").exists():
        raise FileNotFoundError(f"{gen} is missing: run `specadmin generate {app_dir}` first")
    name = f"specadmin_apps.{Path(app_dir).resolve().name}_{abs(hash(str(gen))) % 10**8}"
    if name in sys.modules:
        return sys.modules[name]
    if "specadmin_apps" not in sys.modules:
        parent = ModuleType("specadmin_apps")
        parent.__path__ = []  # type: ignore[attr-defined]
        sys.modules["specadmin_apps"] = parent
    system = _system_copy(f"{name}_system")
    aliases = {SYSTEM_PACKAGE: system, **{f"{SYSTEM_PACKAGE}.{sub}": getattr(system, sub) for sub in GENERATED_MODULES}}
    saved = {key: sys.modules.get(key) for key in aliases}
    sys.modules.update(aliases)
    try:
        module = _import_package(name, gen)
        for sub in GENERATED_MODULES:
            importlib.import_module(f"{name}.{sub}")
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value
    module.SYSTEM = system
    return module


def read_or_create_secret(path: Path, nbytes: int) -> bytes:
    """A per-installation secret kept under var/ (never in the repository)."""
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    private_dir(path.parent)
    value = secrets.token_bytes(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value.hex())
    return value


@dataclass
class AppContext:
    app_dir: Path
    app: App
    package: ModuleType
    engine: Engine
    sensitive: SensitiveFields
    session_secret: bytes
    dict_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    org_paths: dict[int, str] = field(default_factory=dict)
    org_names: dict[int, str] = field(default_factory=dict)
    caches_loaded_at: float = 0.0
    cache_generation: int | None = None  # the shared generation the caches were read at (identity.cache_state)
    principals: dict[int, tuple[float, Any]] = field(default_factory=dict)
    plugins: PluginSet = field(default_factory=PluginSet.of)
    extensions: dict[str, Any] = field(default_factory=dict)  # per-app objects plugins keep (a scheduler, ...)
    runtime_tables: dict[str, type[Table]] = field(default_factory=dict)  # plugins' tables outside the spec

    # -- construction -----------------------------------------------------
    @classmethod
    def open(cls, app_dir: Path, database_url: str | None = None) -> "AppContext":
        app_dir = Path(app_dir).resolve()
        package = load_generated(app_dir)
        var = private_dir(app_dir / "var")
        url = database_url if database_url is not None else os.environ.get("DATABASE_URL")
        if not url:
            # Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the database's mode.
            open_private(var / "app.sqlite3", "ab").close()
        engine = db.make_engine(url, str(var / "app.sqlite3"))
        tables = package.tables.TABLES
        db.bind_tables(tables, engine)
        keys = load_field_keys(var)  # current + previous (mid-rotation) SM4 keys; see runtime/keyring/keys.py
        session = os.environ.get("SPECADMIN_SESSION_SECRET")
        session_secret = bytes.fromhex(session) if session else read_or_create_secret(var / "keys" / "session.key", 32)
        tighten(var)  # what an older version, a copy or an operator left readable: folders 0700, files 0600
        plugins = PluginSet.of(package.MODEL.plugins)
        runtime_tables = {t._meta.tablename: t for t in (make() for p in plugins for make in p.tables)}
        db.bind_tables(runtime_tables.values(), engine)
        ctx = cls(app_dir=app_dir, app=package.MODEL, package=package, engine=engine,
                  sensitive=_sensitive(keys), session_secret=session_secret, plugins=plugins,
                  runtime_tables=runtime_tables)
        computed.install(ctx)
        multi_dict.install(ctx)
        return ctx

    # -- lookups ----------------------------------------------------------
    def table(self, entity: str) -> type[Table]:
        return self.package.tables.ENTITY_TABLES[entity]

    def runtime_table(self, tablename: str) -> type[Table]:
        """A table a plugin keeps outside the spec (`Plugin.tables`), by its table name."""
        return self.runtime_tables[tablename]

    def join_table(self, entity: str, field_name: str) -> type[Table]:
        return self.package.tables.JOIN_TABLES[(entity, field_name)]

    @property
    def screens(self) -> dict[str, dict]:
        return self.package.screens.SCREENS

    @property
    def menus(self) -> list[dict]:
        return self.package.screens.MENUS

    def org_path(self, org_id: int) -> str | None:
        return self.org_paths.get(org_id)

    def dict_label(self, dict_name: str, key: Any) -> str | None:
        if key is None:
            return None
        return self.dict_labels.get(dict_name, {}).get(str(key), str(key))

    # -- caches -----------------------------------------------------------
    async def refresh_caches(self) -> None:
        """Dictionaries (keys stored, labels shown; the code lists of specs/codes.py among them, a
        dictionary of the same name first) and the org tree, read once and kept."""
        labels = {**code_lists(self.app), **{d.name: dict(d.items) for d in self.app.dictionaries}}
        item = self.table("dict_item")
        for row in await item.select(item.dict_name, item.key, item.label, item.active).order_by(item.sort):
            if row["active"]:
                labels.setdefault(row["dict_name"], {})[row["key"]] = row["label"]
        self.dict_labels = labels
        org = self.table("org")
        rows = await org.select(org.id, org.path, org.name)
        self.org_paths = {r["id"]: r["path"] for r in rows if r["path"]}
        self.org_names = {r["id"]: r["name"] for r in rows}
        self.caches_loaded_at = time.monotonic()
        self.principals.clear()
