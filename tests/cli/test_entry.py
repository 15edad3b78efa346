"""The CLI entry point: `--json` anywhere on the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from harness import Project, project, wait_until

from taskmux.cli import lean_status
from taskmux.cli.entry import json_after_command

__all__ = ["project"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["--json", "status"], ["status", "--json"]),
        (["status", "--json"], ["status", "--json"]),
        (
            ["-c", "x.toml", "--json", "daemon", "status"],
            ["-c", "x.toml", "daemon", "status", "--json"],
        ),
        (["--json", "logs", "api", "--", "-n"], ["logs", "api", "--json", "--", "-n"]),
        (["status"], ["status"]),
    ],
)
def test_json_moves_behind_the_command(given: list[str], expected: list[str]) -> None:
    assert json_after_command(given) == expected


def test_json_before_the_command_works_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "taskmux.toml").write_text('name = "x"\n[tasks.a]\ncommand = "sleep 1"\n')
    result = run_cli("--json", "check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True


# The lean paths of the hottest read-only commands ---------------------------------------

HEAVY = {
    "typer",
    "click",
    "rich",
    "pydantic",
    "libtmux",
    "psutil",
    "tomlkit",
    "websockets",
    "regex",
}
# `status --json` in the common case costs about an interpreter start: none of these either.
NOT_FOR_STATUS = {"dataclasses", "typing", "subprocess", "taskmux.service", "taskmux.errors"}

SCENE = """
[tasks.web]
command = "echo web up; echo web again; exec sleep 300"
stop_grace_period = 0.5
[tasks.checked]
command = "exec sleep 300"
health_check = "true"
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
[tasks.killed]
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


def _imported(project: Project, *args: str) -> set[str]:
    traced = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "taskmux", *args],
        cwd=project.root,
        env=project.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert traced.returncode == 0, traced.stderr
    lines = [line for line in traced.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[-1].strip() for line in lines}


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


def _scene(project: Project) -> None:
    """Tasks in every state `status` tells apart, their windows in a session of ours."""
    project.write(SCENE)
    started = project.run("start")
    assert started.returncode == 1 and "error[E402]: task 'failing' exited 3" in started.stderr
    assert project.run("kill", "killed").returncode == 0
    pid = project.status()["signalled"]["pid"]
    os.kill(pid, signal.SIGTERM)
    expected = {
        "failing": "exited 3",
        "odd": "completed (exit 4)",
        "done": "completed",
        "signalled": "killed by SIGTERM",
        "killed": "killed",
        "checked": "starting",
        "web": "running",
        "later": "not started",
    }
    wait_until(lambda: {n: r["state"] for n, r in project.status().items()} == expected)


def _lean_answer(project: Project, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """The lean path's document, asked in this process: None would mean it passed."""
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("TASKMUX_TMUX_SOCKET", project.socket_name)
    answer = lean_status.status_document(None)
    assert answer is not None, "the lean path did not answer the common case"
    return answer.document


def test_lean_status_answers_as_the_service_does(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every state, a window no longer in the config and one not started: the lean
    document is the Typer command's (`--` after the options takes the full CLI)."""
    _scene(project)
    project.config.write_text(project.config.read_text() + '[tasks.new]\ncommand = "true"\n')
    assert project.run("check").returncode == 0  # validated: the cache serves the lean path
    lean = project.run("status", "--json")
    full = project.run("status", "--json", "--")
    assert lean.returncode == full.returncode == 0, lean.stderr + full.stderr
    assert lean.stderr == full.stderr == ""
    assert _canon(json.loads(lean.stdout)) == _canon(json.loads(full.stdout))
    assert _canon(_lean_answer(project, monkeypatch)) == _canon(json.loads(full.stdout))
    rows = {row["name"]: row for row in json.loads(lean.stdout)["tasks"]}
    assert rows["new"]["state"] == "not started" and rows["later"]["depends_on"] == ["web"]
    assert rows["web"]["uptime"] is not None and rows["web"]["pid"] is not None


def test_lean_status_leaves_a_window_gone_from_the_config_to_the_service(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write('[tasks.web]\ncommand = "exec sleep 300"\n')
    assert project.run("start").returncode == 0
    project.write('[tasks.api]\ncommand = "exec sleep 300"\n')
    assert project.run("check").returncode == 0
    lean = json.loads(project.run("status", "--json").stdout)
    full = json.loads(project.run("status", "--json", "--").stdout)
    assert _canon(lean) == _canon(full)
    row = next(r for r in lean["tasks"] if r["name"] == "web")
    assert row["in_config"] is False and row["running"] is True
    assert _lean_answer(project, monkeypatch)["session"] == project.session


@pytest.mark.parametrize("args", [("status", "--json"), ("inspect", "web"), ("ls", "--json")])
def test_status_and_inspect_cost_about_an_interpreter_start(
    project: Project, args: tuple[str, ...]
) -> None:
    """`status --json` is what agents call most: not typer, rich, pydantic, libtmux or
    psutil, and in the common case not even dataclasses, typing or subprocess."""
    project.write(SCENE)
    assert project.run("start", "web").returncode == 0
    imported = _imported(project, *args)
    assert "taskmux.cli.lean_status" in imported
    assert not HEAVY & {name.split(".")[0] for name in imported}
    assert not NOT_FOR_STATUS & imported


@pytest.mark.parametrize(
    "args",
    [
        ("inspect", "web"),
        ("inspect", "web", "--json"),
        ("logs", "web", "-n", "5"),
        ("logs", "web", "--lines", "5", "--json"),
        ("logs", "-n", "5"),
        ("status", "--json"),
    ],
)
def test_hot_read_paths_import_no_heavy_module(project: Project, args: tuple[str, ...]) -> None:
    project.write(SCENE)
    assert project.run("start", "web").returncode == 0
    imported = _imported(project, *args)
    assert "taskmux.cli.fast" in imported
    assert not HEAVY & {name.split(".")[0] for name in imported}


def test_lean_inspect_and_logs_print_what_the_typer_commands_print(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    _scene(project)
    _lean_answer(project, monkeypatch)
    for task in ("web", "checked", "failing", "odd", "done", "killed", "signalled", "later"):
        lean_record = lean_status.inspect_record(None, task)
        assert lean_record is not None, task
        full = project.run("inspect", task, "--")
        assert _canon(lean_record.document) == _canon(json.loads(full.stdout)), task
    wait_until(lambda: "web again" in project.run("logs", "web", "-n", "5").stdout)
    for args in (("inspect", "web"), ("inspect", "failing", "--json"), ("inspect", "later")):
        lean, full = project.run(*args), project.run(*args, "--")
        assert lean.returncode == full.returncode == 0, lean.stderr + full.stderr
        assert lean.stderr == full.stderr
        assert _canon(json.loads(lean.stdout)) == _canon(json.loads(full.stdout))
    record = json.loads(project.run("inspect", "signalled").stdout)
    assert "ok" not in record and record["state"] == "killed by SIGTERM"
    for args in (
        ("logs", "web", "-n", "1"),
        ("logs", "web", "--json"),
        ("logs", "-n", "3"),
        ("logs", "later", "-n", "2"),
        ("logs", "--lines", "0", "--json"),
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


def test_lean_status_reads_the_facts_the_service_reads() -> None:
    """Its copies of the variables kept from tmux and of the config's name follow the
    originals (the pane format itself is shared: `paneformat.py`)."""
    from taskmux.config import project as config
    from taskmux.config import taskenv

    assert (
        lean_status.TASK_VARS == taskenv.TASK_VARS and taskenv.MARKER_VAR in lean_status.TASK_VARS
    )
    assert lean_status.CONFIG_NAME == config.CONFIG_NAME
    assert lean_status.schema_stamp() == config.schema_stamp()


def test_inspect_of_a_task_with_an_environment_is_the_services(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Variable names come from the TOML's `env` tables and env files: the service reads them."""
    project.write('env = { SHARED = "1" }\n[tasks.web]\ncommand = "exec sleep 300"\nport = 4999\n')
    assert project.run("start").returncode == 0
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("TASKMUX_TMUX_SOCKET", project.socket_name)
    assert lean_status.inspect_record(None, "web") is None
    assert lean_status.status_document(None) is not None
    lean, full = (
        project.run("inspect", "web", "--json"),
        project.run("inspect", "web", "--json", "--"),
    )
    assert _canon(json.loads(lean.stdout)) == _canon(json.loads(full.stdout))
    names = json.loads(lean.stdout)["env_names"]
    assert names == ["PORT", "SHARED", "TASKMUX_PROJECT", "TASKMUX_TASK"]


def test_lean_status_of_a_project_never_started(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No session (and perhaps no tmux server at all): every task "not started"."""
    project.write(SCENE)
    assert project.run("check").returncode == 0
    document = _lean_answer(project, monkeypatch)
    assert document["session_running"] is False
    full = project.run("status", "--json", "--")
    assert _canon(document) == _canon(json.loads(full.stdout))
    assert _canon(json.loads(project.run("status", "--json").stdout)) == _canon(document)


def test_lean_status_shows_warnings_and_automatic_ports_as_the_service_does(
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
    document = _lean_answer(project, monkeypatch)
    lean, full = project.run("status", "--json"), project.run("status", "--json", "--")
    assert lean.stderr == full.stderr and "warning[W117]" in lean.stderr
    assert _canon(json.loads(lean.stdout)) == _canon(json.loads(full.stdout)) == _canon(document)
    rows = {row["name"]: row for row in json.loads(lean.stdout)["tasks"]}
    assert isinstance(rows["api"]["port"], int) and rows["api"]["port_auto"] is True
    assert rows["spare"]["port"] is None and document["config_warnings"]
    for task in ("api", "spare"):
        lean_record = lean_status.inspect_record(None, task)
        assert lean_record is not None and lean_record.notes
        lean, full = project.run("inspect", task), project.run("inspect", task, "--")
        assert lean.stderr == full.stderr and lean.stderr == "".join(lean_record.notes)
        assert _canon(json.loads(lean.stdout)) == _canon(json.loads(full.stdout))
        assert _canon(lean_record.document) == _canon(json.loads(full.stdout))
