import ast
import collections
import pathlib
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("recovery_lib", "infra")

#: The most lines a module in recovery_lib/ or infra/ may have (issue 14: split modules along
#: their seams instead). Generated or declarative tables may be exempted here, by path, with
#: the reason; none is today.
MAX_MODULE_LINES = 500
LINE_LIMIT_EXEMPT: dict[str, str] = {}


def test_recovery_lib_never_imports_pulumi_or_infra():
    offenders = []
    for path in (ROOT / "recovery_lib").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in {"pulumi", "pulumi_aws", "pulumi_policy", "infra", "moto"}:
                    offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


# -- module size --------------------------------------------------------------------------------
def oversized_modules(root: pathlib.Path, packages: tuple[str, ...] = PACKAGES,
                      limit: int = MAX_MODULE_LINES,
                      exempt: dict[str, str] | None = None) -> list[str]:
    """``path: N lines`` for every module under ``packages`` longer than ``limit``."""
    exempt = LINE_LIMIT_EXEMPT if exempt is None else exempt
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > limit and relative not in exempt:
                found.append(f"{relative}: {lines} lines")
    return found


def test_no_module_is_over_the_line_limit():
    assert oversized_modules(ROOT) == [], (
        f"modules over {MAX_MODULE_LINES} lines: split them along their seams into modules named "
        "after what they hold (or exempt a generated table in LINE_LIMIT_EXEMPT, with the reason)"
    )


def test_line_limit_check_reports_a_long_module(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "short.py").write_text("x = 1\n" * 3)
    (tmp_path / "pkg" / "long.py").write_text("x = 1\n" * 4)
    assert oversized_modules(tmp_path, ("pkg",), limit=3) == ["pkg/long.py: 4 lines"]
    assert oversized_modules(tmp_path, ("pkg",), limit=3, exempt={"pkg/long.py": "a table"}) == []


# -- import cycles ------------------------------------------------------------------------------
# Every import statement counts, wherever it is: at module level, inside a function, and
# under ``if TYPE_CHECKING:``. A function-level import that dodges a cycle at import time
# still makes the two modules depend on each other, and a TYPE_CHECKING import still says
# "this module knows that one"; either way the design has a circle. Depend on a small
# Protocol instead (infra.sandbox.control.Controllable, recovery_lib.reconcile.ReconcilableStore,
# infra.failover_budget.DnsTimings).
#
# An edge goes to the module a statement names: ``import a.b`` and ``from a import b`` (b a
# module) go to ``a.b``; ``from a import name`` (name defined in a/__init__.py) goes to ``a``.
# The implicit import of a package's __init__ before its submodules is not an edge: a
# package that re-exports its submodules would otherwise be a cycle by construction.
def module_names(root: pathlib.Path, packages: tuple[str, ...]) -> dict[str, pathlib.Path]:
    modules = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def import_graph(root: pathlib.Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """``{module: modules of the project it imports}`` for every module under ``packages``."""
    modules = module_names(root, packages)

    def project_module(dotted: str) -> str | None:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(filter(None, (project_module(a.name) for a in node.names)))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    target = submodule if submodule in modules else project_module(source)
                    if target is not None:
                        targets.add(target)
        targets.discard(name)
        graph[name] = targets
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle ``[a, b, ..., a]`` per strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)

    cycles = []
    for group in groups:  # the shortest path from the group's first module back to itself
        start = min(group)
        parents: dict[str, str] = {}
        queue = collections.deque([start])
        last: str | None = None
        while queue and last is None:
            node = queue.popleft()
            for target in sorted(graph[node] & group):
                if target == start:
                    last = node
                    break
                if target not in parents:
                    parents[target] = node
                    queue.append(target)
        path = [start]
        while last is not None and last != start:
            path.insert(1, last)
            last = parents[last]
        cycles.append(path + [start])
    return sorted(cycles)


def test_no_import_cycle_among_the_projects_modules():
    graph = import_graph(ROOT)
    assert "recovery_lib.store.core" in graph and "infra.sandbox.control" in graph
    cycles = [" -> ".join(cycle) for cycle in import_cycles(graph)]
    assert cycles == [], (
        "import cycles (every import counts, including TYPE_CHECKING and function-level ones; "
        "see the comment above import_graph): " + "; ".join(cycles)
    )


def test_cycle_check_sees_type_checking_and_function_level_imports(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .a import A\n")
    (pkg / "a.py").write_text("from pkg import b\n\nA = 1\n")
    (pkg / "b.py").write_text(textwrap.dedent("""\
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from pkg.c import C
    """))
    (pkg / "c.py").write_text("def f():\n    from . import a\n")
    (pkg / "d.py").write_text("from pkg import A\n")  # the package's __init__, no cycle
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.d"] == {"pkg"} and graph["pkg.a"] == {"pkg.b"}
    assert import_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]
