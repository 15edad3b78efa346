"""`taskmux graph` (SPEC §15): the dependency graph, its critical chain, and how long
each task took to become ready at its last start (from the event log: its last
`started`, then the first `ready` after it).

`ready_times` and `critical_chain` are pure; `project_graph` reads the events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from taskmux.config.schema import ProjectConfig
    from taskmux.lifecycle.core import Lifecycle


@dataclass(frozen=True)
class Node:
    name: str
    depends_on: tuple[tuple[str, str], ...]  # (task, condition)
    ready_after: float | None  # seconds from its last start to ready (None: not seen)
    schedule: str | None = None  # a scheduled one-shot's `schedule` or `every`

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "depends_on": [{"task": t, "condition": c} for t, c in self.depends_on],
            "ready_after": self.ready_after,
            "schedule": self.schedule,
        }


@dataclass(frozen=True)
class GraphResult:
    nodes: tuple[Node, ...]
    chain: tuple[str, ...]  # the critical chain, dependencies first
    chain_by: str  # "time" (measured readiness) or "depth" (nothing measured yet)
    chain_seconds: float | None

    def lines(self) -> list[str]:
        """The graph as text: one line per task, then the chain."""
        out = []
        for node in self.nodes:
            deps = ", ".join(f"{t} ({c})" for t, c in node.depends_on) or "-"
            ready = f"  ready after {node.ready_after:.2f}s" if node.ready_after is not None else ""
            when = f"  ({node.schedule})" if node.schedule else ""
            out.append(f"{node.name} <- {deps}{ready}{when}")
        if self.chain:
            took = f" ({self.chain_seconds:.2f}s)" if self.chain_seconds is not None else ""
            out.append(f"critical chain by {self.chain_by}: {' -> '.join(self.chain)}{took}")
        return out

    def dot(self) -> str:
        """Graphviz: an edge from each dependency to its dependent, labelled by condition;
        the critical chain in bold."""
        on_chain = set(zip(self.chain, self.chain[1:], strict=False))
        out = ["digraph taskmux {", "  rankdir=LR;"]
        for node in self.nodes:
            label = node.name + (
                f"\\n{node.ready_after:.2f}s" if node.ready_after is not None else ""
            )
            out.append(f'  "{node.name}" [label="{label}"];')
            for dep, condition in node.depends_on:
                bold = ", style=bold" if (dep, node.name) in on_chain else ""
                out.append(f'  "{dep}" -> "{node.name}" [label="{condition}"{bold}];')
        out.append("}")
        return "\n".join(out) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "tasks": [node.to_dict() for node in self.nodes],
            "critical_chain": list(self.chain),
            "chain_by": self.chain_by,
            "chain_seconds": self.chain_seconds,
            "dot": self.dot(),
        }


def ready_times(records: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Per task, the seconds from its last `started` to the first `ready` after it."""
    started: dict[str, float] = {}
    ready: dict[str, float] = {}
    for record in records:
        task, ts = record.get("task"), record.get("ts")
        if not isinstance(task, str) or not isinstance(ts, int | float):
            continue
        if record.get("event") == "started":
            started[task] = float(ts)
            ready.pop(task, None)
        elif record.get("event") == "ready" and task in started and task not in ready:
            after = record.get("after")  # measured from the run's own start
            took = after if isinstance(after, int | float) else float(ts) - started[task]
            ready[task] = round(float(took), 3)
    return ready


def critical_chain(
    graph: dict[str, list[str]], weights: dict[str, float]
) -> tuple[list[str], str, float | None]:
    """The longest chain of dependencies, dependencies first: by summed time to ready
    when any is known, else by depth. (chain, "time" or "depth", its seconds)."""
    by_time = bool(weights)
    best: dict[str, tuple[float, list[str]]] = {}

    def longest(name: str, seen: frozenset[str]) -> tuple[float, list[str]]:
        if name in best:
            return best[name]
        own = weights.get(name, 0.0) if by_time else 1.0
        options = [
            longest(d, seen | {name}) for d in graph.get(name, []) if d in graph and d not in seen
        ]
        weight, path = max(options, key=lambda o: (o[0], len(o[1])), default=(0.0, []))
        best[name] = (weight + own, [*path, name])
        return best[name]

    chains = [longest(name, frozenset()) for name in graph]
    if not chains:
        return [], "depth", None
    weight, chain = max(chains, key=lambda o: (o[0], len(o[1])))
    return chain, "time" if by_time else "depth", round(weight, 3) if by_time else None


def graph_of(config: ProjectConfig, records: Iterable[dict[str, Any]]) -> GraphResult:
    times = ready_times(records)
    times = {name: t for name, t in times.items() if name in config.tasks}
    nodes = tuple(
        Node(
            name,
            tuple((d.task, d.condition) for d in task.depends_on),
            times.get(name),
            task.schedule or (f"every {task.every}" if task.every else None),
        )
        for name, task in config.tasks.items()
    )
    chain, by, seconds = critical_chain(config.graph(), times)
    return GraphResult(nodes, tuple(chain), by, seconds)


def project_graph(lifecycle: Lifecycle) -> GraphResult:
    return graph_of(lifecycle.config, lifecycle.events.read())
