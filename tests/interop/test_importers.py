"""The pure mappings of `taskmux import` (importers.py): Procfile lines and
process-compose data in, config keys and notes out. No files, no processes."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from taskmux.config.models import validate_config
from taskmux.config.schema import TaskConfig, field_names
from taskmux.errors import ImportFailed
from taskmux.interop.importers import (
    ImportPlan,
    from_process_compose,
    from_procfile,
    parse_procfile,
    render,
)

# Issue 13's keys (env, env_file, port = "auto"): absent from a schema without them.
HAS_ENV = "env" in field_names(TaskConfig)
needs_env = pytest.mark.skipif(not HAS_ENV, reason="this schema has no env/env_file/auto ports")

RAILS_PROCFILE = """\
# Procfile for the shop (Rails)
web: bundle exec puma -C config/puma.rb -p $PORT
worker: bundle exec sidekiq -C config/sidekiq.yml

release: bundle exec rails db:migrate
clock: bundle exec clockwork config/clock.rb
"""


def _procfile(text: str, session: str = "shop") -> ImportPlan:
    entries, strange = parse_procfile(text)
    return from_procfile(entries, strange, session)


def _compose(processes: dict[str, Any], **top: Any) -> ImportPlan:
    return from_process_compose({"processes": processes, **top}, "shop", "process-compose.yaml")


def _toml(plan: ImportPlan) -> dict[str, Any]:
    return tomllib.loads(render(plan, "taskmux import"))


def _unmapped(plan: ImportPlan) -> list[str]:
    return [note.source for note in plan.notes if not note.mapped]


# Procfile --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("web: npm start", ("web", "npm start")),
        ("web:npm start", ("web", "npm start")),
        ("  web :  npm start  ", ("web", "npm start")),
        ("api.v2: ./api", ("api.v2", "./api")),
        ("web: echo a: b", ("web", "echo a: b")),  # only the first colon splits
        ("# web: commented out", None),
        ("", None),
    ],
)
def test_procfile_lines(line: str, expected: tuple[str, str] | None) -> None:
    entries, strange = parse_procfile(line)
    assert strange == []
    assert [(e.name, e.command) for e in entries] == ([expected] if expected else [])


@pytest.mark.parametrize("line", ["just words", "web:", "web:   ", ": no name"])
def test_procfile_lines_that_are_not_entries_are_kept_for_a_comment(line: str) -> None:
    entries, strange = parse_procfile(f"ok: true\n{line}\n")
    assert [e.name for e in entries] == ["ok"]
    assert strange == [(2, line.strip())]


def test_a_rails_procfile() -> None:
    plan = _procfile(RAILS_PROCFILE)
    data = _toml(plan)
    assert data["name"] == "shop" and data["env_file"] == "?.env"
    assert list(data["tasks"]) == ["web", "worker", "release", "clock"]
    web, release = data["tasks"]["web"], data["tasks"]["release"]
    assert web["command"] == "bundle exec puma -C config/puma.rb -p $PORT"
    # every process gets the PORT foreman, honcho and overmind give it: 5000 + 100 * n
    assert [data["tasks"][n]["port"] for n in ("web", "worker", "release", "clock")] == [
        5000,
        5100,
        5200,
        5300,
    ]
    assert release == {
        "command": "bundle exec rails db:migrate",
        "port": 5200,
        "restart_policy": "no",
    }
    waits = [{"task": "release", "condition": "completed_successfully"}]
    for name in ("web", "worker", "clock"):
        assert data["tasks"][name]["depends_on"] == waits
    assert _unmapped(plan) == []
    text = render(plan, "taskmux import")
    assert "port = 5000 # PORT as foreman, honcho and overmind give this line" in text
    details = {n.source: n.detail for n in plan.notes}
    assert details["line 2 (PORT)"].startswith("5000 (its command uses $PORT)")
    assert "5000 + 100 * n" in details["line 3 (PORT)"]


def test_foreman_port_numbers_follow_the_line_order() -> None:
    plan = _procfile("a: ./a\nb: ./b --port ${PORT}\nc: ./c -p $PORT\n")
    ports = [task.keys["port"] for task in plan.tasks.values()]
    assert ports == [5000, 5100, 5200]


@needs_env
def test_a_procfile_import_is_a_valid_config() -> None:
    config, problems = validate_config(_toml(_procfile(RAILS_PROCFILE)))
    assert config is not None, problems
    assert [p for p in problems if p.severity == "error"] == []
    assert config.tasks["web"].depends_on[0].condition == "completed_successfully"


def test_procfile_names_taskmux_cannot_take_are_renamed_and_duplicates_noted() -> None:
    plan = _procfile("2fa: ./otp\napi.v2: ./api\nweb: ./one\nweb: ./two\n")
    assert list(plan.tasks) == ["_2fa", "api-v2", "web"]
    assert plan.tasks["web"].keys["command"] == "./one"
    assert "line 4" in _unmapped(plan)
    renames = [n for n in plan.notes if n.detail.startswith("renamed")]
    assert [n.target for n in renames] == ["tasks._2fa", "tasks.api-v2"]


def test_an_empty_procfile_is_refused() -> None:
    with pytest.raises(ImportFailed, match="no 'name: command' line"):
        _procfile("# nothing here\n\n")


def test_strange_lines_become_comments() -> None:
    text = render(_procfile("web: ./web\nthis is not an entry\n"), "t")
    assert "# no equivalent: line 2: not a 'name: command' line: this is not an entry" in text


# process-compose -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (None, {"task": "db", "condition": "started"}),  # process-compose's default
        ("process_started", {"task": "db", "condition": "started"}),
        ("process_healthy", "db"),  # healthy is the short form
        ("process_log_ready", "db"),
        ("process_completed", {"task": "db", "condition": "completed"}),
        (
            "process_completed_successfully",
            {"task": "db", "condition": "completed_successfully"},
        ),
    ],
)
def test_dependency_conditions(condition: str | None, expected: Any) -> None:
    spec = {"condition": condition} if condition else {}
    plan = _compose(
        {"db": {"command": "./db"}, "api": {"command": "./api", "depends_on": {"db": spec}}}
    )
    assert _toml(plan)["tasks"]["api"]["depends_on"] == [expected]


def test_unknown_conditions_and_processes_are_comments_not_keys() -> None:
    plan = _compose(
        {
            "db": {"command": "./db"},
            "api": {
                "command": "./api",
                "depends_on": {"db": {"condition": "process_sleepy"}, "ghost": {}},
            },
        }
    )
    assert "depends_on" not in _toml(plan)["tasks"]["api"]
    assert _unmapped(plan) == [
        "processes.api.depends_on.db.condition = process_sleepy",
        "processes.api.depends_on.ghost",
    ]


@pytest.mark.parametrize(
    ("availability", "expected", "unmapped"),
    [
        ({}, {"restart_policy": "no"}, []),  # process-compose restarts nothing by default
        ({"restart": "no"}, {"restart_policy": "no"}, []),
        (
            {"restart": "on_failure", "backoff_seconds": 3, "max_restarts": 4},
            {
                "restart_policy": "on-failure",
                "restart_delay": 3,
                "restart_backoff": 1.0,
                "max_restarts": 4,
            },
            [],
        ),
        (
            {"restart": "always"},
            {"restart_policy": "always", "restart_backoff": 1.0},
            ["processes.w.availability.max_restarts = 0 (no limit)"],
        ),
        (
            {"restart": "exit_on_failure"},
            {"restart_policy": "no"},
            ["processes.w.availability.restart = exit_on_failure"],
        ),
        (
            {"restart": "no", "exit_on_end": True},
            {"restart_policy": "no"},
            ["processes.w.availability.exit_on_end = true"],
        ),
    ],
)
def test_availability(
    availability: dict[str, Any], expected: dict[str, Any], unmapped: list[str]
) -> None:
    plan = _compose({"w": {"command": "./w", "availability": availability}})
    task = _toml(plan)["tasks"]["w"]
    restart_keys = {k: v for k, v in task.items() if k.startswith(("restart", "max_restarts"))}
    assert restart_keys == expected
    assert _unmapped(plan) == unmapped


@pytest.mark.parametrize(
    ("shutdown", "expected", "unmapped"),
    [
        ({}, {"stop_signal": "SIGTERM"}, []),  # process-compose's default signal is 15
        (
            {"signal": 2, "timeout_seconds": 20},
            {"stop_signal": "SIGINT", "stop_grace_period": 20},
            [],
        ),
        ({"signal": "SIGQUIT"}, {"stop_signal": "SIGQUIT"}, []),
        ({"signal": 999}, {}, ["processes.w.shutdown.signal = 999"]),
        (
            {"command": "./drain", "parent_only": True},
            {"stop_signal": "SIGTERM", "hooks": {"before_stop": "./drain"}},
            ["processes.w.shutdown.parent_only = true"],
        ),
    ],
)
def test_shutdown(shutdown: dict[str, Any], expected: dict[str, Any], unmapped: list[str]) -> None:
    plan = _compose({"w": {"command": "./w", "shutdown": shutdown}})
    task = _toml(plan)["tasks"]["w"]
    stop_keys = {k: v for k, v in task.items() if k.startswith("stop") or k == "hooks"}
    assert stop_keys == expected
    assert _unmapped(plan) == unmapped


def test_an_http_readiness_probe() -> None:
    probe = {
        "http_get": {"host": "127.0.0.1", "port": 8080, "path": "/health", "scheme": "http"},
        "initial_delay_seconds": 2,
        "period_seconds": 5,
        "timeout_seconds": 3,
        "failure_threshold": 4,
        "success_threshold": 2,
    }
    plan = _compose({"api": {"command": "./api", "readiness_probe": probe}})
    task = _toml(plan)["tasks"]["api"]
    assert task["health_url"] == "http://127.0.0.1:8080/health"
    assert "port" not in task  # a probe's target is not the task's own port
    assert (
        task["health_start_period"],
        task["health_interval"],
        task["health_timeout"],
        task["health_retries"],
    ) == (2, 5, 3, 4)
    assert _unmapped(plan) == ["processes.api.readiness_probe.success_threshold = 2"]


@pytest.mark.parametrize(
    ("http", "url"),
    [
        ({"port": 80}, "http://127.0.0.1:80/"),  # process-compose's defaults
        ({"host": "example.test", "scheme": "https", "path": "x"}, "https://example.test/x"),
    ],
)
def test_http_probe_defaults(http: dict[str, Any], url: str) -> None:
    plan = _compose({"api": {"command": "./api", "liveness_probe": {"http_get": http}}})
    assert _toml(plan)["tasks"]["api"]["health_url"] == url


def test_an_exec_probe_and_a_different_liveness_probe() -> None:
    plan = _compose(
        {
            "db": {
                "command": "./db",
                "readiness_probe": {"exec": {"command": "pg_isready"}},
                "liveness_probe": {"http_get": {"port": 9187, "path": "/metrics"}},
            }
        }
    )
    task = _toml(plan)["tasks"]["db"]
    assert task["health_check"] == "pg_isready" and "health_url" not in task
    [liveness] = _unmapped(plan)
    assert liveness.startswith("processes.db.liveness_probe (http_get: 127.0.0.1:9187/metrics)")


@pytest.mark.parametrize(
    "environment",
    [
        ["APP_ENV=dev", "URL=http://x/?a=b", "EMPTY="],
        {"APP_ENV": "dev", "URL": "http://x/?a=b", "EMPTY": None},
    ],
)
def test_environment_as_a_list_or_a_map(environment: Any) -> None:
    plan = _compose({"api": {"command": "./api", "environment": environment}})
    env = _toml(plan)["tasks"]["api"]["env"]
    assert env == {"APP_ENV": "dev", "URL": "http://x/?a=b", "EMPTY": ""}


def test_environment_values_expand_as_process_compose_would() -> None:
    plan = _compose(
        {"api": {"command": "echo $$HOME", "environment": ["LOG=$APP_ENV/x", "KEEP=${A}$$"]}},
    )
    task = _toml(plan)["tasks"]["api"]
    assert task["env"] == {"LOG": "${APP_ENV}/x", "KEEP": "${A}$$"}
    assert task["command"] == "echo $HOME"  # process-compose turns $$ into $ before the shell
    plain = _compose({"api": {"command": "echo $$"}}, disable_env_expansion=True)
    assert _toml(plain)["tasks"]["api"]["command"] == "echo $$"


def test_secret_values_never_reach_a_comment_or_a_note() -> None:
    plan = _compose(
        {"api": {"command": "./api", "environment": ["TOKEN=hunter2", "not-a-name=hunter3"]}},
        env_cmds={"API_KEY": "vault read hunter4"},
    )
    text = render(plan, "t")
    notes = " ".join(f"{n.source} {n.detail}" for n in plan.notes)
    for secret in ("hunter3", "hunter4"):
        assert secret not in text and secret not in notes
    assert "hunter2" not in notes  # it is a value of env, in the file, never in a note


def test_whatever_has_no_equivalent_is_a_comment_in_the_task_table() -> None:
    plan = _compose(
        {
            "worker": {
                "command": "./w",
                "is_daemon": True,
                "replicas": 3,
                "namespace": "jobs",
                "description": "Background jobs",
                "x-team": "core",
                "disabled": True,
            }
        },
        log_location="./pc.log",
        is_strict=True,
        version="0.5",
    )
    text = render(plan, "taskmux import")
    data = tomllib.loads(text)
    assert data["tasks"]["worker"]["auto_start"] is False
    for line in (
        "# no equivalent: log_location = ./pc.log:",
        "# no equivalent: is_strict = true:",
        "# no equivalent: processes.worker.is_daemon = true:",
        "# no equivalent: processes.worker.namespace = jobs:",
        "# no equivalent: processes.worker.x-team = core:",
        "# Background jobs  (processes.worker.description)",
    ):
        assert line in text, line
    assert "version" not in _unmapped(plan)  # not needed: noted as mapped to nothing
    assert data["tasks"]["worker"]["replicas"] == 3  # taskmux has replicas now


def test_same_as_taskmux_flags_are_not_comments() -> None:
    plan = _compose({"w": {"command": "./w", "is_daemon": False, "replicas": 1, "is_tty": True}})
    assert _unmapped(plan) == []


def test_entrypoint_and_working_dir() -> None:
    plan = _compose({"w": {"entrypoint": ["python3", "-m", "app", "a b"], "working_dir": "./svc"}})
    task = _toml(plan)["tasks"]["w"]
    assert task["command"] == "python3 -m app 'a b'" and task["cwd"] == "./svc"


def test_a_ready_log_line_is_matched_as_text() -> None:
    plan = _compose({"db": {"command": "./db", "ready_log_line": "ready (pid 1)"}})
    assert _toml(plan)["tasks"]["db"]["ready_log"] == r"ready\ \(pid\ 1\)"


def test_a_bash_shell_is_named() -> None:
    plan = _compose(
        {"w": {"command": "./w"}}, shell={"shell_command": "bash", "shell_argument": "-c"}
    )
    assert _unmapped(plan) == []
    assert {n.source: n.detail for n in plan.notes}["shell"].endswith("wrapped in bash -c")
    quiet = _compose({"w": {"command": "./w"}}, shell={"shell_command": "sh"})
    assert _unmapped(quiet) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "no 'processes' table"),
        ({"processes": {}}, "no processes"),
        ({"processes": {"w": "echo"}}, "processes.w is not a table"),
        ({"processes": {"w": {"working_dir": "."}}}, "processes.w has no command"),
    ],
)
def test_files_that_cannot_be_imported(data: Any, message: str) -> None:
    with pytest.raises(ImportFailed, match=message):
        from_process_compose(data, "shop", "pc.yaml")


def test_process_names_are_made_task_names_and_dependencies_follow() -> None:
    plan = _compose(
        {"my db": {"command": "./db"}, "api": {"command": "./api", "depends_on": {"my db": {}}}}
    )
    data = _toml(plan)
    assert list(data["tasks"]) == ["my-db", "api"]
    assert data["tasks"]["api"]["depends_on"] == [{"task": "my-db", "condition": "started"}]


def test_a_process_compose_import_is_a_valid_config() -> None:
    plan = _compose(
        {
            "db": {"command": "./db", "readiness_probe": {"exec": {"command": "true"}}},
            "migrate": {
                "command": "./migrate",
                "depends_on": {"db": {"condition": "process_healthy"}},
            },
            "api": {
                "command": "./api",
                "depends_on": {"migrate": {"condition": "process_completed_successfully"}},
                "readiness_probe": {"http_get": {"port": 8080, "path": "/health"}},
                "availability": {"restart": "on_failure", "backoff_seconds": 0},
            },
        }
    )
    config, problems = validate_config(_toml(plan))
    assert config is not None, problems
    errors = [p for p in problems if p.severity == "error"]
    assert errors == []
    assert config.tasks["api"].restart_delay == 0
    assert config.tasks["migrate"].depends_on[0].condition == "healthy"
