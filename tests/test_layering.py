"""Code depends one way: core < extract < validate < archive < sql < search < explore < publish < serve < cli.

Every module's imports are read with `ast` (top-level and inside functions alike: a lazy import is
still a dependency), and no stage may import a later one: no upward import, hence no cycle between
stage packages. The checker is also run on a small package with a deliberately upward import, to
show it catches one.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "toolkit"

#: The flow's order. Modules outside these packages (`toolkit/__init__.py`, the aliases of moved core
#: modules such as `toolkit/errors.py`, `_lazy_imports`) count as core.
STAGES = ("core", "extract", "validate", "archive", "sql", "search", "explore", "publish", "serve", "cli")


def stage_of(module: str) -> str:
    """The stage a dotted module name belongs to ("toolkit.archive.append" -> "archive")."""
    parts = module.split(".")
    if len(parts) < 2:
        return "core"
    head = parts[1]
    if head in ("cli", "__main__"):
        return "cli"
    return head if head in STAGES else "core"


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> set[str]:
    """The toolkit modules `path` imports, relative imports resolved."""
    name = module_name(path, root)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from toolkit import sql`
    return {m for m in found if m == root.name or m.startswith(root.name + ".")}


def upward_imports(root: Path) -> list[str]:
    """Every import of a later stage by an earlier one, as "module -> imported (stage -> stage)"."""
    rank = {stage: i for i, stage in enumerate(STAGES)}
    problems = []
    for path in sorted(root.rglob("*.py")):
        source = module_name(path, root)
        for target in sorted(imports_of(path, root)):
            if target.split(".")[-1] in ("__version__",):
                continue
            src, dst = stage_of(source), stage_of(target)
            if rank[dst] > rank[src]:
                problems.append(f"{source} -> {target} ({src} imports {dst}, a later stage)")
    return problems


def stage_graph(root: Path) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        src = stage_of(module_name(path, root))
        for target in imports_of(path, root):
            dst = stage_of(target)
            if dst != src:
                graph.setdefault(src, set()).add(dst)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles between stage packages (depth-first search)."""
    found, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_stage_imports_a_later_one():
    assert upward_imports(ROOT) == []


def test_no_cycle_between_stage_packages():
    assert cycles(stage_graph(ROOT)) == []


def test_core_imports_no_stage():
    graph = stage_graph(ROOT)
    assert graph.get("core", set()) == set()


def test_the_checker_catches_an_upward_import(tmp_path):
    """A deliberately upward import (validate -> archive, as validate/archive_ids.py had) is reported,
    and so is the cycle it closes with archive -> validate."""
    pkg = tmp_path / "toolkit"
    for folder in ("core", "validate", "archive", "sql"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "errors.py").write_text("class NewsarchiveError(Exception): ...\n")
    (pkg / "archive" / "append.py").write_text("from toolkit.validate import engine\nfrom toolkit.core import errors\n")
    (pkg / "validate" / "engine.py").write_text("def run():\n    from toolkit.archive import open_archive\n")
    (pkg / "archive" / "hooks.py").write_text("from ..sql import refresh\n")  # relative, and upward too
    assert upward_imports(pkg) == [
        "toolkit.archive.hooks -> toolkit.sql (archive imports sql, a later stage)",
        "toolkit.archive.hooks -> toolkit.sql.refresh (archive imports sql, a later stage)",
        "toolkit.validate.engine -> toolkit.archive (validate imports archive, a later stage)",
        "toolkit.validate.engine -> toolkit.archive.open_archive (validate imports archive, a later stage)",
    ]
    assert cycles(stage_graph(pkg)) == [["archive", "validate", "archive"]]
