"""No import cycles between finereason's modules, read from the source by grimp (import-linter's engine).

Function-level (lazy) imports count: a cycle hidden in a function still ties two modules together.
Imports under ``if TYPE_CHECKING:`` do not run and are left out.
"""

from __future__ import annotations

import pytest

grimp = pytest.importorskip("grimp")


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph("finereason", exclude_type_checking_imports=True)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    cycles = _cycles(edges)
    detail = [" -> ".join(graph.find_shortest_chain(c[0], c[1]) or c) for c in cycles]
    assert cycles == [], detail


def test_production_backends_do_not_import_the_test_models():
    graph = grimp.build_graph("finereason", exclude_type_checking_imports=True)
    for module in ("finereason.models.hf", "finereason.models.builtin", "finereason.train.encode"):
        assert not graph.chain_exists(module, "finereason.testing.tinyvlm"), module
