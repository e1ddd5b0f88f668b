"""The package's shape: subpackages by concern, imports one way, no cycle, no module past ~400 lines.

Imports are read from the source (ast), not by importing, so a lazy import
inside a function counts as much as one at the top. Imports under
`if TYPE_CHECKING:` are left out: they name a type for the checker and are
never executed, so they cannot make an import cycle or couple at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edge_agent"
MAX_LINES = 400

# What each part may import besides itself. The shared vocabulary (errors,
# records, plates, clock, logs) and the config models may be imported by all.
BASE = {"edge_agent", "errors", "records", "plates", "clock", "logs"}
ALLOWED = {
    "base": BASE,
    "config": BASE | {"config"},
    "vision": BASE | {"config", "vision"},
    "privacy": BASE | {"config", "privacy"},
    "transport": BASE | {"config", "privacy", "transport"},
    "service": BASE | {"config", "vision", "privacy", "transport", "service"},
    "commands": BASE | {"config", "vision", "privacy", "transport", "service", "commands"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    """The concern a module belongs to: its subpackage, or base for the top-level vocabulary."""
    parts = module.split(".")
    if parts[1:] == ["__main__"]:
        return "commands"  # `python -m edge_agent` is the command line
    return parts[1] if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() else "base"


def _runtime_imports(tree: ast.Module):
    """Import nodes outside `if TYPE_CHECKING:` blocks."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in skip]


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps = set()
        for node in _runtime_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in files)
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("edge_agent"):
                continue
            for alias in node.names:  # `from . import x` names a module; `from .x import y` a thing in x
                sub = f"{target}.{alias.name}"
                deps.add(sub if sub in files else target)
        deps.discard(name)
        graph[name] = {d for d in deps if d in files}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_imports_go_one_way():
    """commands -> service -> stages; vision and privacy never import transport, service or commands."""
    wrong = []
    for module, deps in import_graph().items():
        mine = part_of(module)
        for dep in deps:
            theirs = part_of(dep)
            allowed = ALLOWED[mine]
            if theirs != "base" and theirs not in allowed or theirs == "base" and dep.split(".")[-1] not in allowed:
                wrong.append(f"{module} ({mine}) imports {dep} ({theirs})")
    assert wrong == []


def test_every_module_is_in_a_concern_or_the_shared_vocabulary():
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert top <= BASE
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()} == set(ALLOWED) - {"base"}


def test_no_module_is_past_about_400_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_graph_sees_lazy_imports_and_ignores_type_only_ones():
    graph = import_graph()
    assert "edge_agent.commands.demo" in graph["edge_agent.commands.cli"] or any(
        d.startswith("edge_agent.commands.") for d in graph["edge_agent.commands.cli"])
    # store.py's hint of its own mixins' host is type-only: no edge back from retention.
    assert "edge_agent.privacy.store" not in graph["edge_agent.privacy.retention"]
    assert "edge_agent.privacy.retention" in graph["edge_agent.privacy.store"]
