"""The code base imports in one direction: no import cycles, layers respected, docstrings, bare inits.

Every module under generator/, runtime/, migrations/, plugins/, specs/ and cli.py is parsed with
`ast` (nothing is imported). An import is an edge wherever it stands — at module level or inside a
function — except under `if TYPE_CHECKING:`. Two graphs are checked for cycles:

- packages: the top level (cli, generator, migrations, plugins, runtime, runtime.plugin, specs) and,
  inside runtime and plugins, their subpackages (runtime.data, runtime.security, ...);
- modules: one node per .py file (a package's __init__.py is the package's own name).

Every cycle is reported, each edge with the file:line of every import behind it. The layering
(RANK, checked on its own): specs (the language: model, paths, physical) is imported by generator,
runtime and migrations and imports none of them; runtime.plugin sits on specs, imports no other
runtime package and may be imported by anyone else; runtime never imports generator; nothing
imports cli. Run `python tests/test_import_cycles.py` to print every finding at once.
"""
from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from conftest import ROOT

TOP_PACKAGES = ("generator", "runtime", "migrations", "plugins", "specs")
# The layering, bottom up: a package imports only packages of a lower rank. specs is the language;
# runtime.plugin (the plugin protocol) sits on it and under all the rest; runtime never imports
# generator; nothing imports cli.
RANK = {"specs": 0, "runtime.plugin": 1, "runtime": 2, "migrations": 3, "plugins": 3, "generator": 4, "cli": 5}
SUBPACKAGED = ("runtime", "plugins")  # their subpackages are nodes of their own in the package graph
LEAF_PACKAGE = "runtime.plugin"       # a top-level node of its own (see RANK)
REEXPORT_INITS = {"runtime.crypto", "runtime.plugin"}  # leaf packages whose init re-exports their own public API


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported module
    where: str   # path:line of the import (for a package edge: every import behind it, one a line)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _sources() -> dict[str, Path]:
    files = [ROOT / "cli.py"]
    for top in TOP_PACKAGES:
        files += [p for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts]
    return {_module_name(p): p for p in sorted(files)}


@cache
def _tree(name: str) -> ast.Module:
    path = _sources()[name]
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(node: ast.AST):
    """Import statements anywhere in `node`, skipping the bodies of `if TYPE_CHECKING:`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _import_nodes(ast.Module(body=[other], type_ignores=[]))
        else:
            yield from _import_nodes(child)


def _resolve(name: str) -> str | None:
    """The module of ours that `name` (without the `specadmin.` prefix) names, if any."""
    known = _sources()
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:  # relative: resolve against the importing module's package
            base = module.split(".")
            if _sources()[module].name != "__init__.py":
                base.pop()
            base = base[: len(base) - (node.level - 1)]
            base_name = ".".join(base + ([node.module] if node.module else []))
            base_name = "specadmin." + base_name if base_name else "specadmin"
        else:
            base_name = node.module or ""
        # `from pkg import sub` imports the submodule when there is one, else pkg itself.
        names = [f"{base_name}.{alias.name}" if f"{base_name}.{alias.name}".removeprefix("specadmin.")
                 in _sources() else base_name for alias in node.names]
    out = []
    for full in names:
        if full != "specadmin" and not full.startswith("specadmin."):
            continue
        target = _resolve(full.removeprefix("specadmin."))
        if target is not None and target != module:
            out.append(target)
    return out


@cache
def module_edges() -> tuple[Edge, ...]:
    edges = []
    for module, path in _sources().items():
        rel = path.relative_to(ROOT).as_posix()
        for node in _import_nodes(_tree(module)):
            for target in _targets(module, node):
                edges.append(Edge(module, target, f"{rel}:{node.lineno}"))
    return tuple(dict.fromkeys(edges))  # `from m import a, b` is one edge


def top_package(module: str) -> str:
    if module == LEAF_PACKAGE or module.startswith(LEAF_PACKAGE + "."):
        return LEAF_PACKAGE
    return module.split(".")[0]


def sub_package(module: str) -> str:
    """runtime.data.service -> runtime.data; runtime.errors -> runtime; others: their top package."""
    parts = module.split(".")
    if parts[0] in SUBPACKAGED and len(parts) > 1:
        candidate = ".".join(parts[:2])
        if (ROOT / Path(*parts[:2]) / "__init__.py").exists():
            return candidate
    return top_package(module)


def _lift(edges, key) -> list[Edge]:
    """Module edges as edges between their packages; `where` lists every import behind one."""
    sites: dict[tuple[str, str], list[str]] = {}
    for e in edges:
        a, b = key(e.source), key(e.target)
        if a is not None and b is not None and a != b:
            sites.setdefault((a, b), []).append(f"{e.where} ({e.source} -> {e.target})")
    return [Edge(a, b, "\n        ".join(where)) for (a, b), where in sites.items()]


def top_edges() -> list[Edge]:
    return _lift(module_edges(), top_package)


def inner_edges() -> list[Edge]:
    return _lift(module_edges(), lambda m: sub_package(m) if m.split(".")[0] in SUBPACKAGED else None)


def _strong_components(nodes, succ) -> list[list[str]]:
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(succ.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def find_cycles(edges) -> list[list[Edge]]:
    """One shortest cycle through every edge that lies on a cycle (deduplicated), as edge lists."""
    first: dict[tuple[str, str], Edge] = {}
    for e in edges:
        first.setdefault((e.source, e.target), e)
    succ: dict[str, set[str]] = {}
    for a, b in first:
        succ.setdefault(a, set()).add(b)
    nodes = {n for pair in first for n in pair}
    cycles, seen = [], set()
    for comp in _strong_components(nodes, succ):
        if len(comp) < 2:
            continue
        members = set(comp)
        for a, b in sorted(k for k in first if k[0] in members and k[1] in members):
            # shortest path b -> a inside the component closes the cycle a -> b -> ... -> a
            prev, queue = {b: None}, deque([b])
            while queue and a not in prev:
                v = queue.popleft()
                for w in sorted(succ.get(v, ())):
                    if w in members and w not in prev:
                        prev[w] = v
                        queue.append(w)
            path, v = [], a
            while v is not None:
                path.append(v)
                v = prev[v]
            path.reverse()
            ring = [a] + path  # a, b, ..., a
            nodes_in_ring = ring[:-1]
            start = nodes_in_ring.index(min(nodes_in_ring))
            canon = tuple(nodes_in_ring[start:] + nodes_in_ring[:start])
            if canon in seen:
                continue
            seen.add(canon)
            ring = list(canon) + [canon[0]]
            cycles.append([first[(ring[i], ring[i + 1])] for i in range(len(ring) - 1)])
    return cycles


def _upward(e: Edge) -> bool:
    """A top-level edge against the layering (RANK); these are the ones to cut."""
    return e.source in RANK and e.target in RANK and RANK[e.source] <= RANK[e.target]


def _report(title: str, cycles, ranked: bool = False) -> str:
    """Each cycle with the imports behind each edge; in a ranked graph only the edges against
    the layering list all of theirs (the others show one and a count)."""
    lines = [f"{title}: {len(cycles)} cycle(s)"]
    for cycle in cycles:
        lines.append("  " + " -> ".join([e.source for e in cycle] + [cycle[0].source]))
        for e in cycle:
            sites = e.where.split("\n        ")
            if ranked and not _upward(e) and len(sites) > 1:
                sites = [f"{sites[0]} and {len(sites) - 1} more"]
            mark = "  <-- against the layering" if ranked and _upward(e) else ""
            lines.append(f"      {e.source} imports {e.target}{mark}:\n        " + "\n        ".join(sites))
    return "\n".join(lines)


def test_no_package_cycles():
    top, inner = find_cycles(top_edges()), find_cycles(inner_edges())
    # Both levels are reported, so each finding names the packages it is about.
    assert not top and not inner, "\n".join(
        [_report("top-level package import graph", top, ranked=True), _report("subpackage import graph", inner)])


def test_no_module_cycles():
    cycles = find_cycles(module_edges())
    assert not cycles, _report("module import graph", cycles)


def _layer_violations() -> list[str]:
    return [f"{e.source} imports {e.target} ({e.source} is not above {e.target} in RANK):\n        {e.where}"
            for e in top_edges() if _upward(e)]


def test_layering():
    bad = _layer_violations()
    assert not bad, "imports against the layering " + str(RANK) + ":\n" + "\n".join(bad)


def test_every_module_has_a_docstring():
    missing = []
    for name, path in _sources().items():
        body = _tree(name).body
        doc = ast.get_docstring(_tree(name))
        if not (body and isinstance(body[0], ast.Expr) and doc and doc.strip().splitlines()[0].strip()):
            missing.append(path.relative_to(ROOT).as_posix())
    assert not missing, "modules without a docstring as their first statement:\n" + "\n".join(missing)


def test_package_inits_are_import_free():
    bad = []
    for name, path in _sources().items():
        if path.name != "__init__.py" or "generated" in path.relative_to(ROOT).parts:
            continue  # a generated package's init (generator/templates) loads its model: not hand-written
        body = _tree(name).body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        rel = path.relative_to(ROOT).as_posix()
        if name in REEXPORT_INITS:
            for stmt in body:
                own = isinstance(stmt, ast.ImportFrom) and (stmt.module or "").startswith(f"specadmin.{name}.")
                dunder_all = isinstance(stmt, ast.Assign) and [getattr(t, "id", None) for t in stmt.targets] == ["__all__"]
                if not (own or dunder_all):
                    bad.append(f"{rel}:{stmt.lineno}: a re-export init holds only imports of its own submodules and __all__")
            continue
        bad += [f"{rel}:{stmt.lineno}: package __init__ holds code (move it into a module)" for stmt in body]
    assert not bad, "\n".join(bad)


def test_reexport_packages_are_leaves():
    """A package whose init re-exports (runtime.crypto) imports nothing else of ours."""
    bad = [f"{e.where}: {e.source} imports {e.target}" for e in module_edges()
           if any(e.source == p or e.source.startswith(p + ".") for p in REEXPORT_INITS)
           and not any(e.target == p or e.target.startswith(p + ".") for p in REEXPORT_INITS)]
    assert not bad, "re-exporting packages must be leaves:\n" + "\n".join(bad)


def test_the_checker_sees_cycles_and_skips_type_checking():
    edges = [Edge("a", "b", "a.py:1"), Edge("b", "c", "b.py:1"), Edge("c", "a", "c.py:1"),
             Edge("c", "d", "c.py:2"), Edge("d", "c", "d.py:1"), Edge("d", "e", "d.py:2")]
    rings = sorted(" -> ".join(e.source for e in cyc) for cyc in find_cycles(edges))
    assert rings == ["a -> b -> c", "c -> d"]
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\nelse:\n    import y\n"
                     "def f():\n    import z\n")
    assert [n.names[0].name for n in _import_nodes(tree) if isinstance(n, ast.Import)] == ["y", "z"]
    assert not [e for e in module_edges() if e.source == e.target]
    assert len(module_edges()) > 200  # the scanner does see the code base's imports


if __name__ == "__main__":  # python tests/test_import_cycles.py: print every finding, fail or not
    print(_report("top-level package import graph", find_cycles(top_edges()), ranked=True))
    print(_report("subpackage import graph", find_cycles(inner_edges())))
    print(_report("module import graph", find_cycles(module_edges())))
    print("\n".join(_layer_violations()) or "layering: ok")
