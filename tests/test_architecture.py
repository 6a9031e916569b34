"""The layering of docs/architecture.md, checked on the source: no import cycle between packages, and no package
importing another package's private (``_name``) modules."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import taoke

ROOT = Path(taoke.__file__).parent


def _unit(module: str) -> str:
    """The package (or top-level module) a dotted ``taoke.x.y`` name belongs to: ``x``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "taoke"


def _imports() -> list[tuple[str, str, str, bool]]:
    """(importing module, imported module, line, at module level) for every ``taoke`` import, ``TYPE_CHECKING``
    blocks excluded (they are not executed)."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        mod = "taoke." + path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skip |= {id(n) for b in node.body for n in ast.walk(b)}
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for n in names:
                if n.startswith("taoke"):
                    out.append((mod, n, f"{path.relative_to(ROOT)}:{node.lineno}", id(node) in top))
    return out


def test_no_private_module_is_imported_from_another_package() -> None:
    bad = []
    for mod, target, where, _top in _imports():
        parts = target.split(".")
        private = [p for p in parts[1:-1] if p.startswith("_") and p != "__init__"]
        if private and _unit(mod) != _unit(target):
            bad.append(f"{where}: {target}")
    assert not bad, "private modules imported across packages (export the name from the package instead):\n" + \
        "\n".join(sorted(set(bad)))


def test_packages_import_each_other_without_cycles_at_module_level() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for mod, target, _where, top in _imports():
        a, b = _unit(mod), _unit(target)
        if top and a != b and a != "taoke" and b not in ("taoke", "__main__"):
            graph[a].add(b)

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    cycles = sorted(a for a in list(graph) if a in reach(a))
    assert not cycles, f"packages in an import cycle: {cycles} ({ {a: sorted(graph[a]) for a in cycles} })"
