"""`validate_config`: every default, every range, every rule, all problems at once."""

from __future__ import annotations

import dataclasses
from typing import Any, get_args, get_type_hints

import pytest

from taskmux.config.models import (
    MAX_COMMAND_BYTES,
    MAX_NAME_LENGTH,
    ProjectConfig,
    TaskConfig,
    validate_config,
)
from taskmux.config.schema import Bounds
from taskmux.errors import Problem


def _valid(raw: dict[str, Any]) -> ProjectConfig:
    config, problems = validate_config(raw)
    errors = [p for p in problems if p.severity == "error"]
    assert config is not None, errors
    assert errors == []
    return config


def _errors(raw: dict[str, Any]) -> list[Problem]:
    config, problems = validate_config(raw)
    assert config is None
    errors = [p for p in problems if p.severity == "error"]
    assert errors
    return errors


def _task(**body: Any) -> dict[str, Any]:
    return {"tasks": {"t": {"command": "true", **body}}}


def test_defaults_of_an_empty_file() -> None:
    config = _valid({})
    assert config.name == "taskmux"
    assert config.auto_start is True
    assert config.log_max_size_mb == 10.0
    assert config.log_backups == 3
    assert config.hook_timeout == 120.0
    assert config.tasks == {}
    assert (config.hooks.before_start, config.hooks.after_start) == (None, None)
    assert (config.hooks.before_stop, config.hooks.after_stop) == (None, None)


def test_task_defaults() -> None:
    task = _valid(_task()).tasks["t"]
    assert task.command == "true"
    assert task.auto_start is True
    assert task.cwd is None
    assert task.port is None
    assert task.health_check is None
    assert task.health_interval == 10.0
    assert task.health_timeout == 5.0
    assert task.health_retries == 3
    assert task.stop_grace_period == 5.0
    assert task.restart_policy == "on-failure"
    assert task.max_restarts == 5
    assert task.restart_backoff == 2.0
    assert task.depends_on == []
    assert task.hook_timeout is None  # the top-level one applies
    assert task.hooks.before_start is None
    assert task.hooks.after_stop is None


def test_every_task_key_is_read() -> None:
    body = {
        "command": "npm run dev",
        "auto_start": False,
        "cwd": "web",
        "port": 3000,
        "health_check": "curl -sf localhost:3000",
        "health_interval": 2.5,
        "health_timeout": 1,
        "health_retries": 7,
        "stop_grace_period": 0,
        "restart_policy": "always",
        "max_restarts": 0,
        "restart_backoff": 1,
        "depends_on": ["db"],
        "hook_timeout": 30,
        "hooks": {"before_start": "make", "after_stop": "echo bye"},
    }
    raw = {
        "name": "proj",
        "auto_start": False,
        "log_max_size_mb": 0.5,
        "log_backups": 0,
        "hook_timeout": 2.5,
        "hooks": {"before_start": "echo hi"},
        "tasks": {"db": {"command": "postgres"}, "web": body},
    }
    config = _valid(raw)
    assert (config.name, config.auto_start) == ("proj", False)
    assert (config.log_max_size_mb, config.log_backups) == (0.5, 0)
    assert config.hook_timeout == 2.5
    assert config.hooks.before_start == "echo hi"
    web = config.tasks["web"]
    for key, value in body.items():
        if key not in ("hooks", "depends_on"):
            assert getattr(web, key) == value, key
    assert web.dependencies == ["db"] and web.depends_on[0].condition == "healthy"
    assert web.hooks.before_start == "make"
    assert web.hooks.after_stop == "echo bye"
    assert config.graph() == {"db": [], "web": ["db"]}


def test_tasks_keep_the_file_order() -> None:
    names = ["zeta", "alpha", "mid", "beta"]
    config = _valid({"tasks": {n: {"command": "true"} for n in names}})
    assert list(config.tasks) == names


# (key, lowest valid, highest valid or None, invalid values)
TASK_RANGES = [
    ("port", 1, 65535, [0, -1, 65536, 70000]),
    ("health_interval", 0.001, None, [0, -1, -0.5]),
    ("health_timeout", 0.001, None, [0, -2]),
    ("health_retries", 1, None, [0, -1]),
    ("stop_grace_period", 0, None, [-0.1, -5]),
    ("max_restarts", 0, None, [-1]),
    ("restart_backoff", 1, None, [0.99, 0, -2.0]),
    ("hook_timeout", 0.001, None, [0, -1]),
    ("health_tcp", 1, 65535, [0, 65536]),
    ("health_start_period", 0, None, [-0.5]),
    ("restart_delay", 0, None, [-1]),
    ("min_uptime", 0, None, [-1]),
    ("replicas", 1, 32, [0, -1, 33]),
]
# Lists whose items are ranged, tested on their own (test_list_ranges).
LIST_RANGES = {"health_expect_status", "success_exit_codes"}


@pytest.mark.parametrize(
    ("key", "low", "high", "bad"), TASK_RANGES, ids=[r[0] for r in TASK_RANGES]
)
def test_task_ranges(key: str, low: float, high: float | None, bad: list[float]) -> None:
    assert getattr(_valid(_task(**{key: low})).tasks["t"], key) == low
    if high is not None:
        assert getattr(_valid(_task(**{key: high})).tasks["t"], key) == high
    for value in bad:
        errors = _errors(_task(**{key: value}))
        assert [(p.code, p.task, p.key) for p in errors] == [("E113", "t", key)], value
        assert repr(value) in errors[0].message


TOP_RANGES = [
    ("log_max_size_mb", 0.01, [0, -1]),
    ("log_backups", 0, [-1]),
    ("hook_timeout", 0.001, [0, -3]),
    ("hold_ttl", 0.5, [0, -1]),
    ("proxy_port", 0, [-1, 65536]),
]


@pytest.mark.parametrize(("key", "low", "bad"), TOP_RANGES, ids=[r[0] for r in TOP_RANGES])
def test_top_level_ranges(key: str, low: float, bad: list[float]) -> None:
    assert getattr(_valid({key: low}), key) == low
    for value in bad:
        errors = _errors({key: value})
        assert [(p.code, p.task, p.key) for p in errors] == [("E113", None, key)]


def _ranged_fields(cls: type) -> set[str]:
    def has_bounds(hint: Any) -> bool:
        return any(isinstance(m, Bounds) for m in getattr(hint, "__metadata__", ())) or any(
            has_bounds(arg) for arg in get_args(hint)
        )

    hints = get_type_hints(cls, include_extras=True)
    return {f.name for f in dataclasses.fields(cls) if has_bounds(hints[f.name])}


def test_ranged_keys_are_exactly_the_documented_ones() -> None:
    """A new ranged field must get a row in TASK_RANGES/TOP_RANGES (and in the README)."""
    ranged = {row[0] for row in TASK_RANGES} | {"command"} | LIST_RANGES
    assert _ranged_fields(TaskConfig) == ranged
    assert _ranged_fields(ProjectConfig) == {row[0] for row in TOP_RANGES}


@pytest.mark.parametrize(
    ("body", "key"),
    [
        pytest.param({"port": "8000"}, "port", id="port-string"),
        pytest.param({"port": 80.0}, "port", id="port-float"),
        pytest.param({"port": True}, "port", id="port-bool"),
        pytest.param({"auto_start": "yes"}, "auto_start", id="auto_start-string"),
        pytest.param({"auto_start": 1}, "auto_start", id="auto_start-int"),
        pytest.param({"health_interval": "10"}, "health_interval", id="interval-string"),
        pytest.param({"health_retries": 2.5}, "health_retries", id="retries-float"),
        pytest.param({"restart_policy": "sometimes"}, "restart_policy", id="policy-value"),
        pytest.param({"restart_policy": "on_failure"}, "restart_policy", id="policy-underscore"),
        pytest.param({"depends_on": "db"}, "depends_on", id="deps-string"),
        pytest.param({"cwd": 3}, "cwd", id="cwd-int"),
        pytest.param({"command": ["ls", "-l"]}, "command", id="command-list"),
        pytest.param({"hooks": "make"}, "hooks", id="hooks-string"),
        pytest.param({"hooks": {"before_start": 1}}, "hooks.before_start", id="hook-int"),
    ],
)
def test_wrong_types(body: dict[str, Any], key: str) -> None:
    errors = _errors(_task(**body))
    assert [(p.code, p.task) for p in errors] == [("E112", "t")]
    assert errors[0].key is not None
    assert errors[0].key.startswith(key)


def test_ints_are_accepted_for_float_keys() -> None:
    task = _valid(_task(health_interval=3, restart_backoff=2)).tasks["t"]
    assert task.health_interval == 3
    assert task.restart_backoff == 2


@pytest.mark.parametrize("policy", ["no", "on-failure", "always"])
def test_restart_policies(policy: str) -> None:
    assert _valid(_task(restart_policy=policy)).tasks["t"].restart_policy == policy


def test_missing_command() -> None:
    errors = _errors({"tasks": {"web": {"port": 80}}})
    assert [(p.code, p.task, p.key, p.message) for p in errors] == [
        ("E111", "web", "command", "is required")
    ]


def test_empty_command_is_refused() -> None:
    errors = _errors(_task(command=""))
    assert [(p.task, p.key) for p in errors] == [("t", "command")]


@pytest.mark.parametrize("command", [" ", "   ", "\t\n", " \n "])
def test_blank_command_is_refused(command: str) -> None:
    errors = _errors(_task(command=command))
    assert [(p.code, p.task, p.key, p.message) for p in errors] == [
        ("E113", "t", "command", "must not be blank")
    ]


def test_a_command_too_long_for_tmux_is_refused() -> None:
    assert _valid(_task(command="x" * MAX_COMMAND_BYTES))
    errors = _errors(_task(command="é" * (MAX_COMMAND_BYTES // 2 + 1)))  # bytes, not chars
    assert [(p.code, p.key) for p in errors] == [("E113", "command")]
    assert f"is {MAX_COMMAND_BYTES + 2} bytes long; tmux launches at most" in errors[0].message


def test_names_are_bounded() -> None:
    longest = "t" * MAX_NAME_LENGTH
    assert (
        longest
        in _valid({"name": "s" * MAX_NAME_LENGTH, "tasks": {longest: {"command": "x"}}}).tasks
    )
    errors = _errors({"tasks": {"t" * 300: {"command": "true"}}})
    assert [(p.code, p.task) for p in errors] == [("E116", "t" * 300)]
    assert errors[0].message.startswith(
        f"task name is 300 characters long; at most {MAX_NAME_LENGTH}"
    )
    errors = _errors({"name": "s" * (MAX_NAME_LENGTH + 1)})
    assert [(p.code, p.key) for p in errors] == [("E140", "name")]
    assert f"at most {MAX_NAME_LENGTH}" in errors[0].message


def test_a_repeated_dependency_is_a_warning_and_counts_once() -> None:
    raw = {"tasks": {"a": {"command": "x"}, "b": {"command": "y", "depends_on": ["a", "a"]}}}
    config, problems = validate_config(raw)
    assert config is not None and config.tasks["b"].dependencies == ["a"]
    assert [(p.code, p.severity, p.task, p.key) for p in problems] == [
        ("W119", "warning", "b", "depends_on")
    ]
    assert "'a' more than once" in problems[0].message


@pytest.mark.parametrize(
    "name", ["web", "api-v2", "worker_1", "_private", "A", "x1-2_3", "CamelCase"]
)
def test_good_task_names(name: str) -> None:
    assert name in _valid({"tasks": {name: {"command": "true"}}}).tasks


@pytest.mark.parametrize(
    "name", ["a b", "1st", "-web", "a.b", "a:b", "web!", "", "é", "a/b", "a$b", "x;y"]
)
def test_bad_task_names(name: str) -> None:
    errors = _errors({"tasks": {name: {"command": "true"}}})
    assert [(p.code, p.task) for p in errors] == [("E116", name)]
    assert "letters, digits" in errors[0].message


@pytest.mark.parametrize("name", ["my app", "a.b", "x:y", ""])
def test_bad_session_names(name: str) -> None:
    errors = _errors({"name": name})
    assert [(p.code, p.key) for p in errors] == [("E140", "name")]


def test_tasks_must_be_a_table() -> None:
    errors = _errors({"tasks": 3})
    assert [(p.code, p.key) for p in errors] == [("E112", "tasks")]
    errors = _errors({"tasks": {"web": "npm start"}})
    assert [(p.code, p.task) for p in errors] == [("E112", "web")]


def test_unknown_dependency() -> None:
    errors = _errors({"tasks": {"web": {"command": "x", "depends_on": ["db", "ghost"]}}})
    assert [(p.code, p.task, p.key) for p in errors] == [
        ("E114", "web", "depends_on"),
        ("E114", "web", "depends_on"),
    ]
    assert "'db'" in errors[0].message
    assert "'ghost'" in errors[1].message


def test_dependency_on_an_invalid_task_is_not_called_unknown() -> None:
    raw = {
        "tasks": {"db": {"command": "x", "port": 0}, "web": {"command": "x", "depends_on": ["db"]}}
    }
    errors = _errors(raw)
    assert [(p.code, p.task) for p in errors] == [("E113", "db")]


@pytest.mark.parametrize(
    ("deps", "cycle"),
    [
        pytest.param({"a": ["b"], "b": ["a"]}, "a → b → a", id="two"),
        pytest.param({"a": ["b"], "b": ["c"], "c": ["a"]}, "a → b → c → a", id="three"),
        pytest.param({"x": [], "b": ["c"], "c": ["b"]}, "b → c → b", id="beside-acyclic"),
    ],
)
def test_cycles_are_named(deps: dict[str, list[str]], cycle: str) -> None:
    raw = {"tasks": {n: {"command": "x", "depends_on": d} for n, d in deps.items()}}
    errors = _errors(raw)
    assert [(p.code, p.key) for p in errors] == [("E115", "depends_on")]
    assert errors[0].message == f"dependency cycle: {cycle}"
    assert errors[0].task == cycle.split(" ")[0]


def test_self_dependency() -> None:
    errors = _errors({"tasks": {"a": {"command": "x", "depends_on": ["a"]}}})
    assert [(p.code, p.task, p.message) for p in errors] == [
        ("E115", "a", "a task cannot depend on itself")
    ]


def test_unknown_keys_are_warnings_everywhere() -> None:
    raw = {
        "nmae": "x",
        "hooks": {"before_strat": "x"},
        "tasks": {"web": {"command": "x", "prot": 80, "hooks": {"after_stpo": "y"}}},
    }
    config, problems = validate_config(raw)
    assert config is not None
    assert {(p.code, p.severity, p.task, p.key) for p in problems} == {
        ("W117", "warning", None, "nmae"),
        ("W117", "warning", None, "hooks.before_strat"),
        ("W117", "warning", "web", "prot"),
        ("W117", "warning", "web", "hooks.after_stpo"),
    }
    assert config.tasks["web"].port is None


def test_unknown_key_is_reported_beside_the_error_it_explains() -> None:
    _, problems = validate_config({"tasks": {"web": {"comand": "npm start"}}})
    assert {(p.code, p.key) for p in problems} == {("W117", "comand"), ("E111", "command")}


def test_every_problem_is_reported_not_just_the_first() -> None:
    raw = {
        "log_backups": -1,
        "tasks": {
            "a": {"command": "x", "port": 0, "health_retries": 0},
            "b b": {"command": "x"},
            "c": {"port": 1},
            "d": {"command": "x", "depends_on": ["zzz"]},
        },
    }
    config, problems = validate_config(raw)
    assert config is None
    codes = {(p.code, p.task, p.key) for p in problems}
    assert len(problems) == len(codes)
    assert codes == (
        {
            ("E113", None, "log_backups"),
            ("E113", "a", "port"),
            ("E113", "a", "health_retries"),
            ("E116", "b b", None),
            ("E111", "c", "command"),
            ("E114", "d", "depends_on"),
        }
    )


def test_models_are_frozen() -> None:
    task = _valid(_task()).tasks["t"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.command = "other"  # type: ignore[misc]


def test_env_keys_and_auto_port() -> None:
    raw = {
        "env": {"A": "1"},
        "env_file": ".env",
        "tasks": {
            "t": {"command": "x", "port": "auto", "env": {"B": "${A}"}, "env_file": ["?a", "b"]},
        },
    }
    config = _valid(raw)
    assert (config.env, config.env_files) == ({"A": "1"}, [".env"])
    task = config.tasks["t"]
    assert (task.port, task.auto_port, task.env_files) == ("auto", True, ["?a", "b"])


@pytest.mark.parametrize(
    ("body", "code", "key", "fragment"),
    [
        pytest.param({"port": "8080"}, "E112", "port", '"auto"', id="port-other-string"),
        pytest.param({"port": 0}, "E113", "port", "greater than", id="port-zero-auto-hint"),
        pytest.param({"env": {"A": 1}}, "E112", "env.A", "string", id="env-int"),
        pytest.param({"env": "A=1"}, "E112", "env", "", id="env-not-table"),
        pytest.param({"env": {"A-B": "x"}}, "E124", "env.A-B", "variable name", id="env-name"),
        pytest.param({"env": {"A": "${B:-c}"}}, "E119", "env.A", "cannot expand", id="env-syntax"),
        pytest.param({"env": {"A": "${B"}}, "E119", "env.A", "closing", id="env-unclosed"),
        pytest.param({"env_file": 3}, "E112", "env_file", "path", id="env_file-int"),
        pytest.param({"env_file": ["a", 2]}, "E112", "env_file", "path", id="env_file-list"),
        pytest.param({"env_file": "?"}, "E112", "env_file", "name a file", id="env_file-empty"),
        pytest.param(
            {"env": {"U": "${tasks.nope.port}"}}, "E119", "env.U", "does not exist", id="ref-task"
        ),
        pytest.param(
            {"env": {"U": "${tasks.other.port}"}}, "E119", "env.U", "no port", id="ref-no-port"
        ),
        pytest.param(
            {"command": "serve --api ${tasks.nope.port}"},
            "E119",
            "command",
            "does not exist",
            id="command-ref",
        ),
        pytest.param(
            {"health_check": "curl :${tasks.other.port}"},
            "E119",
            "health_check",
            "no port",
            id="check-ref",
        ),
        pytest.param(
            {"hooks": {"after_start": "open :${tasks.nope.port}"}},
            "E119",
            "hooks.after_start",
            "does not exist",
            id="hook-ref",
        ),
    ],
)
def test_env_and_port_errors(body: dict[str, Any], code: str, key: str, fragment: str) -> None:
    raw = {"tasks": {"t": {"command": "true", **body}, "other": {"command": "true"}}}
    errors = _errors(raw)
    assert [(p.code, p.task, p.key) for p in errors] == [(code, "t", key)]
    assert fragment in errors[0].message


def test_env_values_are_never_echoed_in_errors() -> None:
    errors = _errors({"env": {"PIN": 1234}, "tasks": {}})
    assert [(p.code, p.key) for p in errors] == [("E112", "env.PIN")]
    assert "1234" not in errors[0].message


def test_shell_expansions_in_commands_are_left_alone() -> None:
    command = "echo ${HOME} $$ ${X:-y} && serve --port ${tasks.t.port}"
    _valid({"tasks": {"t": {"command": command, "port": "auto"}}})


# Readiness keys (SPEC §9) ----------------------------------------------------------------


def test_readiness_keys_and_their_defaults() -> None:
    task = _valid(_task()).tasks["t"]
    assert (task.health_url, task.health_tcp, task.ready_log, task.probe) == (None,) * 4
    assert (task.health_expect_status, task.health_expect_body) == (None, None)
    assert task.health_start_period == 0.0 and task.restart_delay == 1.0
    assert task.success_exit_codes == [0] and task.stop_signal == "SIGINT"
    full = _valid(
        _task(
            port=8000,
            health_url="https://localhost:8000/health?deep=1",
            health_expect_status=204,  # one number: a list of one
            health_expect_body=r"\bok\b",
            ready_log="Listening on .*:8000",
            health_start_period=30,
            success_exit_codes=[0, 3],
            stop_signal="term",
            restart_delay=0,
        )
    ).tasks["t"]
    assert full.probe == "http" and full.health_expect_status == [204]
    assert (full.success_exit_codes, full.restart_delay) == ([0, 3], 0)
    tcp = _valid(_task(port=5432, health_tcp=True)).tasks["t"]
    assert (tcp.probe, tcp.tcp_port) == ("tcp", 5432)
    other = _valid(_task(health_tcp=6379)).tasks["t"]
    assert (other.probe, other.tcp_port) == ("tcp", 6379)
    off = _valid(_task(health_tcp=False)).tasks["t"]
    assert (off.probe, off.tcp_port) == (None, None)


@pytest.mark.parametrize(
    ("body", "code", "key"),
    [
        ({"health_check": "true", "health_url": "http://x/"}, "E130", "health_url"),
        ({"health_url": "http://x/", "health_tcp": 80}, "E130", "health_tcp"),
        ({"health_url": "localhost:8000/health"}, "E133", "health_url"),
        ({"health_url": "ftp://host/file"}, "E133", "health_url"),
        ({"health_tcp": True}, "E133", "health_tcp"),  # true, but no port
        ({"health_tcp": 0}, "E113", "health_tcp"),
        ({"health_tcp": "5432"}, "E112", "health_tcp"),
        ({"ready_log": "ready ("}, "E131", "ready_log"),
        ({"health_url": "http://x/", "health_expect_body": "[a-"}, "E131", "health_expect_body"),
        ({"health_url": "http://x/", "health_expect_status": [99]}, "E113", "health_expect_status"),
        (
            {"health_url": "http://x/", "health_expect_status": "2xx"},
            "E112",
            "health_expect_status",
        ),
        ({"stop_signal": "SIGNOPE"}, "E132", "stop_signal"),
        ({"stop_signal": "SIGSTOP"}, "E132", "stop_signal"),  # pauses, does not stop
        ({"stop_signal": 15}, "E112", "stop_signal"),
        ({"success_exit_codes": [0, 256]}, "E113", "success_exit_codes"),
        ({"success_exit_codes": [-1]}, "E113", "success_exit_codes"),
        ({"success_exit_codes": []}, "E113", "success_exit_codes"),
        ({"success_exit_codes": 0}, "E112", "success_exit_codes"),
        ({"health_start_period": -1}, "E113", "health_start_period"),
        ({"restart_delay": -0.5}, "E113", "restart_delay"),
    ],
)
def test_readiness_key_errors(body: dict[str, Any], code: str, key: str) -> None:
    errors = _errors(_task(**body))
    assert [(p.code, p.task, p.key) for p in errors] == [(code, "t", key)], errors


def test_probe_options_without_their_probe_are_warnings() -> None:
    config, problems = validate_config(_task(health_expect_body="ok", health_expect_status=200))
    assert config is not None
    assert [(p.code, p.severity, p.key) for p in problems] == [
        ("W134", "warning", "health_expect_status"),
        ("W134", "warning", "health_expect_body"),
    ]


def test_depends_on_entries_are_names_or_tables() -> None:
    raw = {
        "tasks": {
            "db": {"command": "x"},
            "migrate": {"command": "x", "depends_on": ["db"]},
            "web": {
                "command": "x",
                "depends_on": [
                    {"task": "migrate", "condition": "completed_successfully"},
                    {"task": "db"},  # condition: healthy
                ],
            },
        }
    }
    config = _valid(raw)
    web = config.tasks["web"]
    assert [(d.task, d.condition) for d in web.depends_on] == [
        ("migrate", "completed_successfully"),
        ("db", "healthy"),
    ]
    assert config.graph() == {"db": [], "migrate": ["db"], "web": ["migrate", "db"]}
    # The validated config survives the cache (plain data and back).
    assert ProjectConfig.from_plain(config.to_plain()) == config


@pytest.mark.parametrize(
    ("entry", "code", "key"),
    [
        ({"task": "db", "condition": "done"}, "E112", "depends_on.condition"),
        ({"condition": "completed"}, "E111", "depends_on.task"),
        ({"task": "ghost"}, "E114", "depends_on"),
        (3, "E112", "depends_on"),
    ],
)
def test_bad_depends_on_entries(entry: Any, code: str, key: str) -> None:
    raw = {"tasks": {"db": {"command": "x"}, "web": {"command": "x", "depends_on": [entry]}}}
    assert [(p.code, p.key) for p in _errors(raw)] == [(code, key)]


def test_a_typo_in_a_dependency_table_is_a_warning() -> None:
    raw = {
        "tasks": {
            "db": {"command": "x"},
            "web": {"command": "x", "depends_on": [{"task": "db", "conditon": "started"}]},
        }
    }
    config, problems = validate_config(raw)
    assert config is not None and config.tasks["web"].depends_on[0].condition == "healthy"
    assert [(p.code, p.key) for p in problems] == [("W117", "depends_on.conditon")]
