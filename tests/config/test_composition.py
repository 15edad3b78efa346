"""Composition (SPEC §15) as pure transforms: the local override, `extends`, replicas,
groups, and what the names of a request select. No files, no tmux."""

from __future__ import annotations

from typing import Any

import pytest

from taskmux.config.composition import compose, merge
from taskmux.config.selection import select
from taskmux.errors import GroupNotFound, UsageError


def _codes(raw: dict[str, Any], local: dict[str, Any] | None = None) -> list[tuple[str, Any, Any]]:
    return [(p.code, p.task, p.key) for p in compose(raw, local).problems]


def test_local_tables_merge_key_by_key_and_other_values_are_replaced() -> None:
    main = {"env": {"A": "1", "B": "2"}, "tasks": {"api": {"command": "a", "port": 1}}}
    local = {"env": {"B": "3"}, "tasks": {"api": {"command": "b"}, "new": {"command": "n"}}}
    assert merge(main, local) == {
        "env": {"A": "1", "B": "3"},
        "tasks": {"api": {"command": "b", "port": 1}, "new": {"command": "n"}},
    }
    assert main["tasks"]["api"]["command"] == "a"  # the inputs are left as they were


def test_extends_takes_the_others_keys_as_defaults_through_a_chain() -> None:
    tasks = {
        "base": {"command": "run", "env": {"A": "1"}, "port": "auto"},
        "mid": {"extends": "base", "env": {"B": "2"}},
        "leaf": {"extends": "mid", "command": "own"},
    }
    raw = compose({"tasks": tasks}, None).raw["tasks"]
    assert raw["leaf"] == {"command": "own", "env": {"A": "1", "B": "2"}, "port": "auto"}
    assert "extends" not in raw["mid"]


def test_an_extends_cycle_is_one_problem_naming_the_chain_and_an_unknown_target_one() -> None:
    tasks = {
        "a": {"extends": "b", "command": "x"},
        "b": {"extends": "a"},
        "c": {"extends": "nope", "command": "y"},
    }
    problems = compose({"tasks": tasks}, None).problems
    assert [(p.code, p.task, p.key, p.message) for p in problems] == [
        ("E115", "a", "extends", "extends cycle: a → b → a"),
        ("E114", "c", "extends", "extends unknown task 'nope'"),
    ]


def test_replicas_become_instances_with_their_number_dependencies_and_first_port() -> None:
    raw = {
        "env": {"WEB": "${tasks.web.port}"},
        "tasks": {
            "web": {"command": "serve", "port": "auto", "replicas": 3, "env": {"X": "1"}},
            "proxy": {
                "command": "proxy --to ${tasks.web.port}",
                "depends_on": ["web", {"task": "web", "condition": "started"}],
            },
        },
    }
    composed = compose(raw, None)
    tasks = composed.raw["tasks"]
    assert list(tasks) == ["web-1", "web-2", "web-3", "proxy"]
    assert composed.instances == {"web": ["web-1", "web-2", "web-3"]}
    assert tasks["web-2"] == {
        "command": "serve",
        "port": "auto",
        "env": {"X": "1", "TASKMUX_REPLICA": "2"},
    }
    assert tasks["proxy"]["command"] == "proxy --to ${tasks.web-1.port}"
    assert composed.raw["env"] == {"WEB": "${tasks.web-1.port}"}
    deps = tasks["proxy"]["depends_on"]
    assert deps[:3] == ["web-1", "web-2", "web-3"]
    assert deps[3:] == [{"task": f"web-{n}", "condition": "started"} for n in (1, 2, 3)]
    assert composed.problems == []


def test_replica_problems_are_the_declared_tasks() -> None:
    assert _codes({"tasks": {"w": {"command": "x", "replicas": 2, "port": 8000}}}) == [
        ("E113", "w", "port")
    ]
    clash = {"tasks": {"w": {"command": "x", "replicas": 2}, "w-2": {"command": "y"}}}
    assert _codes(clash) == [("E116", "w", "replicas")]
    # Out of range: left whole, for validation's E113 on the declared task.
    assert compose({"tasks": {"w": {"command": "x", "replicas": 33}}}, None).instances == {}


def test_groups_name_tasks_and_never_share_a_name_with_one() -> None:
    raw = {
        "groups": {"backend": ["db", "web", "web-2", "ghost"], "db": ["db"]},
        "tasks": {"db": {"command": "d"}, "web": {"command": "w", "replicas": 2}},
    }
    assert _codes(raw) == [
        ("E114", None, "groups.backend"),
        ("E116", None, "groups.db"),
    ]


CONFIG = {
    "tasks": ["db", "api", "web-1", "web-2"],
    "groups": {"backend": ["db", "api"], "all": ["web", "db"], "empty": []},
    "instances": {"web": ["web-1", "web-2"]},
}


@pytest.mark.parametrize(
    ("names", "chosen"),
    [
        (["@backend"], ["db", "api"]),
        (["web"], ["web-1", "web-2"]),
        (["@all", "api", "db"], ["web-1", "web-2", "db", "api"]),
        (["web-2", "nope"], ["web-2", "nope"]),  # an unknown task is the caller's E201
        ([], []),
    ],
)
def test_selection_expands_groups_and_replicated_names(names: list[str], chosen: list[str]) -> None:
    assert select(names, CONFIG["tasks"], CONFIG["groups"], CONFIG["instances"]) == chosen


def test_an_unknown_group_is_e118_and_an_empty_one_never_means_every_task() -> None:
    with pytest.raises(GroupNotFound) as unknown:
        select(["@front"], CONFIG["tasks"], CONFIG["groups"], {})
    assert unknown.value.code == "E118"
    assert "@backend" in unknown.value.message
    with pytest.raises(UsageError):
        select(["@empty"], CONFIG["tasks"], CONFIG["groups"], {})
