"""The layout's rules that import-linter cannot state: no import cycle, few top-level modules, small modules.

The import graph is grimp's (import-linter's own), which reads every import statement of a module,
function-local ones included: a cycle hidden inside a function is still a cycle.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("leadcapture", "workers", "forms")
MAX_TOP_LEVEL_MODULES = 12
MAX_MODULE_LINES = 400


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of our packages it imports, anywhere in its body."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    return {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that reach each other (Tarjan), each sorted; single modules only with a self-import."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    for start in sorted(graph):
        if start in index:
            continue
        # Iterative depth-first search: (module, the imports still to visit).
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, pending = work[-1]
            child = next(pending, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1 or module in graph.get(module, ()):
                    groups.append(sorted(group))
    return sorted(groups)


def cycle_through(graph: dict[str, set[str]], group: list[str]) -> list[str]:
    """One shortest import path from the group's first module back to itself, staying inside the group."""
    start, members = group[0], set(group)
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        for imported in sorted(graph[module] & members):
            if imported == start:
                path = [module]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start] if module != start else [start, start]
            if imported not in previous:
                previous[imported] = module
                queue.append(imported)
    raise AssertionError(f"no cycle through {start}")


def python_files(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


def test_the_cycle_finder_reports_a_cycle_as_an_import_path():
    # Given a -> b -> c -> a, and d importing into the cycle without being part of it
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    # When the groups are found
    groups = strongly_connected(graph)

    # Then there is one, reported as the path that closes it
    assert groups == [["a", "b", "c"]]
    assert cycle_through(graph, groups[0]) == ["a", "b", "c", "a"]


def test_the_cycle_finder_sees_a_module_importing_itself_and_ignores_a_chain():
    assert strongly_connected({"a": {"a"}, "b": {"c"}, "c": set()}) == [["a"]]


def test_no_import_cycle_among_our_modules_function_local_imports_included():
    graph = import_graph()

    cycles = [
        " -> ".join(cycle_through(graph, group)) + f"  (one of {len(group)} modules that import each other: {group})"
        for group in strongly_connected(graph)
    ]

    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


def test_at_most_a_dozen_modules_directly_in_the_package():
    modules = sorted(path.name for path in (ROOT / "leadcapture").glob("*.py") if path.name != "__init__.py")

    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules


def test_no_module_is_longer_than_a_reader_can_hold():
    long = {
        str(path.relative_to(ROOT)): lines
        for path in python_files(*PACKAGES)
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }

    assert long == {}
