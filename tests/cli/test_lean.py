"""The lean dispatcher: `status`, `inspect` and `--help` without the Typer app.

Both paths build their documents with the one read model (`lifecycle/readmodel.py`);
these tests hold the lean dispatch to printing what the Typer commands print (a `--`
after the options takes the Typer app), for every state the read model produces, and
to importing none of the heavy modules.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from harness import Project, project, wait_until
from import_probe import imports_of

from taskmux.cli import fast
from taskmux.lifecycle.readmodel import LeanRead, NotHere
from taskmux.operations import OPERATIONS

__all__ = ["project"]

HEAVY = {"typer", "click", "rich", "pydantic", "libtmux", "psutil", "tomlkit", "websockets"}
# The common case costs about an interpreter start: none of these either.
NOT_ON_HOT_PATHS = {"dataclasses", "typing", "subprocess", "taskmux.service", "taskmux.errors"}

# Every task that dies at its start says something first: a silent one would cost each
# start the whole wait for its last output (log_wait).
SCENE = """
[tasks.web]
command = "echo web up; echo web again; exec sleep 300"
stop_grace_period = 0.5
[tasks.checked]
command = "exec sleep 300"
health_check = "true"
stop_grace_period = 0.5
[tasks.passed]
command = "exec sleep 300"
health_check = "true"
stop_grace_period = 0.5
[tasks.sick]
command = "exec sleep 300"
health_check = "false"
stop_grace_period = 0.5
[tasks.ready]
command = "echo listening; exec sleep 300"
ready_log = "listening"
stop_grace_period = 0.5
[tasks.failing]
command = "echo bad; exit 3"
restart_policy = "no"
[tasks.odd]
command = "exit 4"
restart_policy = "no"
success_exit_codes = [0, 4]
[tasks.done]
command = "echo done"
restart_policy = "no"
[tasks.hopeless]
command = "echo hopeless; exit 5"
restart_policy = "no"
[tasks.again]
command = "echo again; exit 6"
restart_policy = "no"
[tasks.killed]
command = "exec sleep 300"
stop_grace_period = 0.5
[tasks.stopped]
command = "exec sleep 300"
stop_grace_period = 0.5
[tasks.signalled]
command = "exec sleep 300"
restart_policy = "no"
[tasks.later]
command = "sleep 1"
auto_start = false
depends_on = ["web"]
port = 47913
health_tcp = true
"""

EXPECTED = {
    "web": "running",
    "checked": "starting",
    "passed": "running",
    "sick": "unhealthy",
    "ready": "starting",  # the ready line seen, no verdict yet
    "failing": "exited 3",
    "odd": "completed (exit 4)",
    "done": "completed",
    "hopeless": "gave up (exited 5)",
    "again": "exited 6",  # its restart waits: no supervisor runs in this scene
    "killed": "killed",
    "stopped": "stopped",
    "signalled": "killed by SIGTERM",
    "later": "not started",
}


def _without_uptime(data: Any) -> Any:
    """Two runs a moment apart differ only in how long the tasks have been up."""
    if isinstance(data, dict):
        return {k: _without_uptime(v) for k, v in data.items() if k != "uptime"}
    if isinstance(data, list):
        return [_without_uptime(v) for v in data]
    return data


def _canon(data: Any) -> str:
    """The document as printed, keys in their order, without the uptimes."""
    return json.dumps(_without_uptime(data))


def _mark(project: Project, task: str, option: str, value: str) -> None:
    """Set one of taskmux's shared marks on a task's window, as a supervisor would."""
    done = project.tmux("set-option", "-w", "-t", f"={project.session}:={task}", option, value)
    assert done.returncode == 0, done.stderr


def _started(project: Project, task: str) -> str:
    window = f"={project.session}:={task}"
    shown = project.tmux("show-options", "-w", "-v", "-t", window, "@taskmux_started")
    assert shown.returncode == 0 and shown.stdout.strip(), shown.stderr
    return shown.stdout.strip()


def _scene(project: Project) -> None:
    """Tasks in every state the read model tells apart; the supervisor's verdicts (a
    passed and a failed check, a scheduled restart, giving up, a ready line) are set as
    the marks it writes."""
    project.write(SCENE)
    started = project.run("start")
    assert started.returncode == 1 and "error[E402]" in started.stderr, started.stderr
    assert project.run("kill", "killed").returncode == 0
    assert project.run("stop", "stopped").returncode == 0
    os.kill(project.status()["signalled"]["pid"], signal.SIGTERM)
    now = time.time()
    for task, verdict in (("passed", "ok"), ("sick", "fail")):
        run = _started(project, task)
        failures = "0" if verdict == "ok" else "3"
        _mark(project, task, "@taskmux_health", f"{verdict} {now:.3f} {failures} {run} 3 boom")
    _mark(project, "ready", "@taskmux_ready", _started(project, "ready"))
    _mark(project, "hopeless", "@taskmux_gave_up", "1")
    _mark(project, "again", "@taskmux_next_restart", f"{now + 3600:.3f}")
    states: dict[str, str] = {}

    def settled() -> bool:
        states.update({n: r["state"] for n, r in project.status().items()})
        return states == EXPECTED

    try:
        wait_until(settled, timeout=20)
    except AssertionError:
        raise AssertionError(f"the scene did not settle: {states}") from None
    assert project.run("check").returncode == 0  # validated: the cache serves the lean path


def _lean(project: Project, monkeypatch: pytest.MonkeyPatch) -> LeanRead:
    """The lean reading, in this process: `NotHere` would mean it passed."""
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("TASKMUX_TMUX_SOCKET", project.socket_name)
    return LeanRead(None)


def test_every_state_reads_the_same_on_both_paths(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """status --json, status, inspect (human and --json): the lean dispatch prints what
    the Typer commands print, key order too; the lean reading itself answers."""
    _scene(project)
    lean = _lean(project, monkeypatch)
    full = project.run("status", "--json", "--")
    assert _canon({"ok": True, **lean.status()}) == _canon(json.loads(full.stdout))
    rows = {row["name"]: row for row in json.loads(full.stdout)["tasks"]}
    assert rows["passed"]["healthy"] is True and rows["sick"]["healthy"] is False
    assert rows["ready"]["ready"] is True and rows["again"]["next_restart_at"] is not None
    for args in (("status", "--json"), ("ls", "--json"), ("inspect", "web", "--json")):
        lean_run, full_run = project.run(*args), project.run(*args, "--")
        assert lean_run.returncode == full_run.returncode == 0, lean_run.stderr
        assert lean_run.stderr == full_run.stderr == ""
        assert _canon(json.loads(lean_run.stdout)) == _canon(json.loads(full_run.stdout))
    for task in EXPECTED:
        full_run = project.run("inspect", task, "--")
        assert _canon(lean.inspect(task)) == _canon(json.loads(full_run.stdout)), task
        lean_run = project.run("inspect", task)
        assert _canon(json.loads(lean_run.stdout)) == _canon(json.loads(full_run.stdout)), task
    plain, typer_plain = project.run("status"), project.run("status", "--")
    assert plain.returncode == typer_plain.returncode == 0
    assert _lines_without_uptime(plain.stdout) == _lines_without_uptime(typer_plain.stdout)


def _lines_without_uptime(text: str) -> list[str]:
    return [" ".join(w for w in line.split() if not w[:1].isdigit()) for line in text.splitlines()]


def test_a_window_gone_from_the_config_reads_the_same(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write('[tasks.web]\ncommand = "exec sleep 300"\n')
    assert project.run("start").returncode == 0
    project.write('[tasks.api]\ncommand = "exec sleep 300"\n')
    assert project.run("check").returncode == 0
    lean = json.loads(project.run("status", "--json").stdout)
    assert _canon(lean) == _canon(json.loads(project.run("status", "--json", "--").stdout))
    row = next(r for r in lean["tasks"] if r["name"] == "web")
    assert row["in_config"] is False and row["running"] is True
    assert _lean(project, monkeypatch).session == project.session


def test_a_project_never_started_reads_the_same(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No session (and perhaps no tmux server at all): every task "not started"."""
    project.write(SCENE)
    assert project.run("check").returncode == 0
    document = {"ok": True, **_lean(project, monkeypatch).status()}
    assert document["session_running"] is False
    assert _canon(document) == _canon(json.loads(project.run("status", "--json", "--").stdout))
    assert _canon(json.loads(project.run("status", "--json").stdout)) == _canon(document)


def test_warnings_and_automatic_ports_read_the_same(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(
        """
        [tasks.api]
        command = "exec sleep 300"
        port = "auto"
        colour = "red"
        [tasks.spare]
        command = "exec sleep 300"
        port = "auto"
        auto_start = false
        health_tcp = true
        """
    )
    assert project.run("start").returncode == 0
    lean = _lean(project, monkeypatch)
    lean_run, full_run = project.run("status", "--json"), project.run("status", "--json", "--")
    assert lean_run.stderr == full_run.stderr and "warning[W117]" in lean_run.stderr
    assert lean_run.stderr == lean.notes()
    assert _canon(json.loads(lean_run.stdout)) == _canon(json.loads(full_run.stdout))
    assert _canon({"ok": True, **lean.status()}) == _canon(json.loads(full_run.stdout))
    rows = {row["name"]: row for row in json.loads(lean_run.stdout)["tasks"]}
    assert isinstance(rows["api"]["port"], int) and rows["api"]["port_auto"] is True
    assert rows["spare"]["port"] is None
    for task in ("api", "spare"):
        lean_run, full_run = project.run("inspect", task), project.run("inspect", task, "--")
        assert lean_run.stderr == full_run.stderr == lean.notes()
        assert _canon(json.loads(lean_run.stdout)) == _canon(json.loads(full_run.stdout))
        assert _canon(lean.inspect(task)) == _canon(json.loads(full_run.stdout))


def test_inspect_of_a_task_with_an_environment_is_the_services(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Variable names come from the TOML's `env` tables and env files: the service reads them."""
    project.write('env = { SHARED = "1" }\n[tasks.web]\ncommand = "exec sleep 300"\nport = 4999\n')
    assert project.run("start").returncode == 0
    lean = _lean(project, monkeypatch)
    with pytest.raises(NotHere):
        lean.inspect("web")
    lean_run = project.run("inspect", "web", "--json")
    full_run = project.run("inspect", "web", "--json", "--")
    assert _canon(json.loads(lean_run.stdout)) == _canon(json.loads(full_run.stdout))
    names = json.loads(lean_run.stdout)["env_names"]
    assert names == ["PORT", "SHARED", "TASKMUX_PROJECT", "TASKMUX_TASK", "TASKMUX_WORKTREE"]


HOT_READS = [
    ("status",),
    ("status", "--json"),
    ("ls", "--json"),
    ("inspect", "web"),
    ("inspect", "web", "--json"),
    ("logs", "web", "-n", "20"),
    ("logs", "-n", "20", "--json"),
    ("events", "-n", "20"),
    ("events", "-t", "web", "-n", "20", "--json"),
    ("--help",),
]


def test_hot_read_paths_import_no_heavy_module(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Not typer, rich, pydantic or libtmux, and in the common case not even dataclasses,
    typing, subprocess or the service: each command as a fresh interpreter runs it (one
    interpreter start, forked per command: see import_probe)."""
    project.write(SCENE)
    assert project.run("start", "web").returncode == 0
    reports = imports_of(
        HOT_READS, cwd=project.root, env=project.env, folder=tmp_path_factory.mktemp("probe")
    )
    for args, report in zip(HOT_READS, reports, strict=True):
        imported = report.modules
        assert report.code == 0, (args, report.stderr)
        assert "taskmux.cli.fast" in imported, args
        assert not HEAVY & {name.split(".")[0] for name in imported}, args
        assert not NOT_ON_HOT_PATHS & imported, (args, NOT_ON_HOT_PATHS & imported)
        if args[0] in ("status", "ls", "inspect"):
            assert "taskmux.lifecycle.readmodel" in imported, args
        if args[0] in ("logs", "events"):
            # answered from the cache, not the service
            assert "taskmux.config.cache" in imported, args


def test_lean_logs_print_what_the_typer_command_prints(project: Project) -> None:
    project.write(SCENE)
    assert project.run("start", "web").returncode == 0
    wait_until(lambda: "web again" in project.run("logs", "web", "-n", "5").stdout)
    for args in (
        ("logs", "web", "-n", "1"),
        ("logs", "web", "--json"),
        ("logs", "-n", "3"),
        ("logs", "later", "-n", "2"),
        ("logs", "--lines", "0", "--json"),
        ("logs", "--lines=1", "web"),
        ("events", "-n", "5"),
        ("events", "-t", "web", "--json"),
        ("events", "--task", "nope"),
    ):
        lean, full = project.run(*args), project.run(*args, "--")
        assert (lean.returncode, lean.stdout, lean.stderr) == (
            full.returncode,
            full.stdout,
            full.stderr,
        ), args
    assert project.run("logs", "web", "-n", "1").stdout == "web again\n"
    assert "no logs yet" in project.run("logs", "later", "-n", "2").stderr


def test_lean_paths_keep_the_error_codes(project: Project) -> None:
    project.write(SCENE)
    assert project.run("start", "web").returncode == 0
    for args in (("inspect", "nope", "--json"), ("logs", "nope", "-n", "2", "--json")):
        lean, full = project.run(*args), project.run(*args, "--")
        assert lean.returncode == full.returncode == 2
        assert json.loads(lean.stdout)["error"]["code"] == "E201"
        assert lean.stdout == full.stdout and lean.stderr == full.stderr
    no_tmux = {"TASKMUX_TMUX_SOCKET": project.socket_name, "PATH": str(project.root)}
    for args in (("status", "--json"), ("inspect", "web", "--json")):
        lean = run_cli(*args, cwd=project.root, env=no_tmux)
        full = run_cli(*args, "--", cwd=project.root, env=no_tmux)
        assert lean.returncode == full.returncode != 0 and lean.stdout == full.stdout
        assert json.loads(lean.stdout)["error"]["code"] == "E301"
    outside = project.root / "elsewhere"
    outside.mkdir()
    result = run_cli("status", "--json", cwd="/", env={"TASKMUX_CONFIG": str(outside)})
    assert result.returncode != 0 and json.loads(result.stdout)["ok"] is False


def test_lean_paths_run_on_the_last_valid_config_when_the_file_is_broken(
    project: Project,
) -> None:
    """W102: the service path answers, the lean dispatch prints what Typer prints."""
    project.write(SCENE)
    assert project.run("start", "web").returncode == 0
    project.config.write_text(project.config.read_text() + "[tasks.bad]\ncommand = 5\n")
    for args in (("status", "--json"), ("inspect", "web"), ("logs", "web", "-n", "1", "--json")):
        lean, full = project.run(*args), project.run(*args, "--")
        assert lean.returncode == full.returncode == 0, lean.stderr
        assert "warning[W102]" in lean.stderr and lean.stderr == full.stderr
        if args[0] == "logs":
            assert lean.stdout == full.stdout
            continue
        data = json.loads(lean.stdout)
        assert data["config_error"]["using"] == "last_valid_config"
        assert _canon(data) == _canon(json.loads(full.stdout))
    plain = project.run("status")
    assert plain.returncode == 0 and "warning[W102]" in plain.stderr and "web" in plain.stdout


def test_the_lean_tmux_client_keeps_the_task_variables_out() -> None:
    """A tmux client started from inside a task must not hand the task's marker on."""
    from taskmux.config import taskenv
    from taskmux.lifecycle import readmodel

    assert readmodel.TASK_VARS == taskenv.TASK_VARS and taskenv.MARKER_VAR in readmodel.TASK_VARS


# Parsing from the declarations ----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["status"], ({}, False)),
        (["status", "--json"], ({}, True)),
        (["inspect", "web"], ({"task": "web"}, False)),
        (["logs", "-n", "5", "web"], ({"lines": 5, "task": "web"}, False)),
        (["logs", "--lines=7", "--json"], ({"lines": 7}, True)),
        (["inspect"], None),  # the task is required: Typer says so
        (["inspect", "web", "--help"], None),
        (["logs", "-n", "+5"], None),  # click reads it otherwise
        (["logs", "-n", "99999"], None),  # above the declared maximum: Typer refuses it
        (["logs", "-f"], None),  # not answered here
        (["status", "--"], None),
        (["inspect", "-x"], None),
    ],
)
def test_the_lean_parser_reads_the_declared_spellings(
    args: list[str], expected: tuple[dict[str, Any], bool] | None
) -> None:
    operation, answered, _handler = fast.LEAN[args[0]]
    assert fast.parse(OPERATIONS[operation], answered, args[1:]) == expected


def test_the_lean_help_lists_every_command(project: Project) -> None:
    shown = project.run("--help")
    assert shown.returncode == 0 and shown.stdout.startswith("Usage: taskmux")
    from taskmux.cli.catalog import COMMANDS

    for name in COMMANDS:
        assert f"\n  {name} " in shown.stdout
    assert "start" in project.run("start", "--help").stdout  # a command's help: Typer's


def test_the_state_folder_of_another_user_is_the_services_to_refuse(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A state folder others can write is not read on the lean path (E801 is the
    service path's to say)."""
    project.write(SCENE)
    assert project.run("check").returncode == 0
    root = project.paths.root
    root.chmod(0o770)
    try:
        with pytest.raises(NotHere):
            _lean(project, monkeypatch)
        result = project.run("status", "--json")
        assert json.loads(result.stdout)["error"]["code"] == "E801"
    finally:
        root.chmod(0o700)
