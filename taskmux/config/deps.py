"""Pure dependency-graph logic: cycles, start order, who depends on whom."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

Graph = Mapping[str, Sequence[str]]


def find_cycle(graph: Graph) -> list[str] | None:
    """Return one dependency cycle as a closed path (`a, b, a`), or None if there is none.

    Edges that point at names missing from the graph are ignored: they are reported
    separately as unknown dependencies.
    """
    visiting: list[str] = []
    on_path: set[str] = set()
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        visiting.append(node)
        on_path.add(node)
        for dep in graph.get(node, ()):
            if dep not in graph:
                continue
            if dep in on_path:
                return [*visiting[visiting.index(dep) :], dep]
            if dep not in done:
                found = visit(dep)
                if found:
                    return found
        visiting.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            found = visit(start)
            if found:
                return found
    return None


def start_order(graph: Graph, names: Iterable[str] | None = None) -> list[str]:
    """Topological order (dependencies first) of `names`, or of the whole graph.

    Ties keep the order of the graph's keys, so the file's order decides among equals.
    """
    wanted = list(graph) if names is None else [n for n in graph if n in set(names)]
    wanted_set = set(wanted)
    placed: set[str] = set()
    order: list[str] = []
    while len(order) < len(wanted):
        progressed = False
        for name in wanted:
            if name in placed:
                continue
            deps = [d for d in graph.get(name, ()) if d in wanted_set]
            if all(d in placed for d in deps):
                order.append(name)
                placed.add(name)
                progressed = True
        if not progressed:  # a cycle: models reject these, but never loop forever
            order.extend(n for n in wanted if n not in placed)
            break
    return order


def dependents(graph: Graph, name: str) -> list[str]:
    """Tasks that list `name` directly in their `depends_on`."""
    return [task for task, deps in graph.items() if name in deps]


def transitive_dependents(graph: Graph, name: str) -> list[str]:
    """Every task that depends on `name`, directly or through others, in graph order."""
    found: set[str] = set()
    frontier = [name]
    while frontier:
        current = frontier.pop()
        for task in dependents(graph, current):
            if task not in found:
                found.add(task)
                frontier.append(task)
    return [t for t in graph if t in found]


def transitive_dependencies(graph: Graph, names: Iterable[str]) -> list[str]:
    """`names` and everything they depend on, directly or through others, in graph order."""
    found: set[str] = set()
    frontier = [n for n in names if n in graph]
    while frontier:
        current = frontier.pop()
        if current in found:
            continue
        found.add(current)
        frontier.extend(d for d in graph.get(current, ()) if d in graph and d not in found)
    return [t for t in graph if t in found]
