"""The pure dependency-graph functions: cycles, start order, dependents."""

from __future__ import annotations

import itertools

import pytest

from taskmux.config.deps import (
    dependents,
    find_cycle,
    start_order,
    transitive_dependencies,
    transitive_dependents,
)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        pytest.param({}, None, id="empty"),
        pytest.param({"a": []}, None, id="single"),
        pytest.param({"a": ["b"], "b": []}, None, id="chain"),
        pytest.param({"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}, None, id="diamond"),
        pytest.param({"a": ["ghost"]}, None, id="unknown-dep-ignored"),
        pytest.param({"a": ["a"]}, ["a", "a"], id="self-loop"),
        pytest.param({"a": ["b"], "b": ["a"]}, ["a", "b", "a"], id="two"),
        pytest.param({"a": ["b"], "b": ["c"], "c": ["a"]}, ["a", "b", "c", "a"], id="three"),
        pytest.param(
            {"root": ["x"], "x": ["y"], "y": ["x"]}, ["x", "y", "x"], id="cycle-below-entry"
        ),
        pytest.param(
            {"a": [], "b": ["c"], "c": ["d"], "d": ["b"]}, ["b", "c", "d", "b"], id="beside-acyclic"
        ),
    ],
)
def test_find_cycle(graph: dict[str, list[str]], expected: list[str] | None) -> None:
    assert find_cycle(graph) == expected


def test_find_cycle_returns_a_closed_path_of_real_edges() -> None:
    graph = {"w": ["x"], "x": ["y", "w2"], "y": ["z"], "z": ["x"], "w2": []}
    cycle = find_cycle(graph)
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    for src, dst in itertools.pairwise(cycle):
        assert dst in graph[src]
    assert set(cycle) == {"x", "y", "z"}


@pytest.mark.parametrize(
    ("graph", "names", "expected"),
    [
        pytest.param({}, None, [], id="empty"),
        pytest.param({"a": [], "b": [], "c": []}, None, ["a", "b", "c"], id="file-order-kept"),
        pytest.param({"web": ["db"], "db": []}, None, ["db", "web"], id="dep-first"),
        pytest.param(
            {"web": ["api"], "api": ["db", "cache"], "db": [], "cache": []},
            None,
            ["db", "cache", "api", "web"],
            id="layers",
        ),
        pytest.param(
            {"web": ["db"], "db": [], "worker": ["db"]},
            ["web"],
            ["web"],
            id="subset-does-not-pull-deps",
        ),
        pytest.param(
            {"web": ["db"], "db": [], "worker": []},
            ["worker", "web", "db"],
            ["db", "worker", "web"],
            id="subset-ordered-by-graph",
        ),
        pytest.param({"a": ["ghost"], "b": []}, None, ["a", "b"], id="unknown-dep-ignored"),
        pytest.param({"a": [], "b": []}, ["nope"], [], id="unknown-name-dropped"),
    ],
)
def test_start_order(
    graph: dict[str, list[str]], names: list[str] | None, expected: list[str]
) -> None:
    assert start_order(graph, names) == expected


def test_start_order_terminates_on_a_cycle_and_keeps_every_name() -> None:
    graph = {"free": [], "a": ["b"], "b": ["a"], "after": ["free"]}
    order = start_order(graph)
    assert sorted(order) == sorted(graph)
    assert order.index("free") < order.index("after")


def test_start_order_always_puts_dependencies_first() -> None:
    graph = {f"t{i}": [f"t{j}" for j in range(i) if (i + j) % 3 == 0] for i in range(12)}
    order = start_order(graph)
    assert sorted(order) == sorted(graph)
    for name, deps in graph.items():
        for dep in deps:
            assert order.index(dep) < order.index(name), (dep, name)


GRAPH = {"db": [], "cache": [], "api": ["db", "cache"], "web": ["api"], "worker": ["db"]}


@pytest.mark.parametrize(
    ("name", "direct", "transitive"),
    [
        ("db", ["api", "worker"], ["api", "web", "worker"]),
        ("cache", ["api"], ["api", "web"]),
        ("api", ["web"], ["web"]),
        ("web", [], []),
        ("ghost", [], []),
    ],
)
def test_dependents(name: str, direct: list[str], transitive: list[str]) -> None:
    assert dependents(GRAPH, name) == direct
    assert transitive_dependents(GRAPH, name) == transitive


def test_transitive_dependents_survives_a_cycle() -> None:
    graph = {"a": ["b"], "b": ["a"], "c": ["a"]}
    # In a cycle a task is its own (indirect) dependent; what matters is that it ends.
    assert transitive_dependents(graph, "a") == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["web"], ["db", "migrate", "web"]),  # transitively, in graph order
        (["migrate"], ["db", "migrate"]),
        (["db"], ["db"]),
        (["web", "worker"], ["db", "migrate", "web", "cache", "worker"]),
        (["ghost"], []),
    ],
)
def test_transitive_dependencies(names: list[str], expected: list[str]) -> None:
    graph = {
        "db": [],
        "migrate": ["db"],
        "web": ["migrate", "db"],
        "cache": [],
        "worker": ["cache"],
    }
    assert transitive_dependencies(graph, names) == expected


def test_transitive_dependencies_survives_a_cycle() -> None:
    assert transitive_dependencies({"a": ["b"], "b": ["a"]}, ["a"]) == ["a", "b"]
