"""A broken taskmux.toml must not lock the user out, and must never cost a traceback.

Real CLI runs against a private tmux server: tasks are started from a valid config, the
file is broken, and the commands that look and stop must still work (W102), while those
that would act on the half-edited file keep refusing.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
from harness import Project, pid_alive, project, wait_until

from taskmux.runtime import timing

__all__ = ["project"]

VALID = """
[tasks.alpha]
command = "sleep 300"
stop_grace_period = 0.5
[tasks.beta]
command = "while :; do echo beta-line; sleep 0.2; done"
stop_grace_period = 0.5
"""
# Line 5 (after the `name` line the harness writes and a blank one): a type error.
BROKEN = """
[tasks.alpha]
command = "sleep 300"
port = "not a port"
[tasks.beta]
command = "while :; do echo beta-line; sleep 0.2; done"
"""


def _start(project: Project) -> dict[str, int]:
    project.write(VALID)
    assert project.json("start")["ok"] is True
    rows = wait_until(lambda: _running(project))
    return {name: row["pid"] for name, row in rows.items()}


def _running(project: Project) -> dict[str, Any] | None:
    rows = project.status()
    return rows if all(row["running"] for row in rows.values()) else None


def _one_warning(result: subprocess.CompletedProcess[str], code: str, line: int) -> str:
    """Exactly one W102 line on stderr, naming the error's code and line."""
    assert "Traceback" not in result.stderr, result.stderr
    warnings = [w for w in result.stderr.splitlines() if w.startswith("warning[W102]")]
    assert len(warnings) == 1, result.stderr
    assert f"error[{code}]" in warnings[0] and f"taskmux.toml:{line}:" in warnings[0]
    return warnings[0]


def test_a_broken_config_still_lets_the_user_look_and_stop(project: Project) -> None:
    pids = _start(project)
    wait_until(lambda: "beta-line" in project.run("logs", "beta", "-n", "3").stdout)
    project.write(BROKEN)

    shown = project.run("status")
    assert shown.returncode == 0
    assert "using the last valid config" in _one_warning(shown, "E112", 5)
    assert "alpha" in shown.stdout and "running" in shown.stdout

    data = project.json("status")
    assert data["ok"] is True
    error = data["config_error"]
    assert (error["code"], error["using"]) == ("E112", "last_valid_config")
    assert error["problems"][0]["line"] == 5 and error["last_valid_at"] > 0
    assert {row["name"]: row["pid"] for row in data["tasks"]} == pids

    logs = project.run("logs", "beta", "-n", "3")
    assert logs.returncode == 0 and "beta-line" in logs.stdout
    _one_warning(logs, "E112", 5)
    events = project.json("events")
    assert {e["task"] for e in events["events"] if e["event"] == "started"} == {"alpha", "beta"}
    assert events["config_error"]["code"] == "E112"
    assert project.json("inspect", "alpha")["pid"] == pids["alpha"]

    # Acting on a config the user is editing stays refused.
    for args in (["start"], ["restart", "alpha"], ["check"], ["add", "gamma", "true"]):
        refused = project.run(*args)
        assert refused.returncode == 2, args
        assert "error[E112]" in refused.stderr and "Traceback" not in refused.stderr

    killed = project.run("kill", "beta")
    assert killed.returncode == 0, killed.stderr
    _one_warning(killed, "E112", 5)
    wait_until(lambda: not pid_alive(pids["beta"]), timeout=5)

    stopped = project.run("stop", "--json")
    assert stopped.returncode == 0, stopped.stderr
    report = json.loads(stopped.stdout)
    assert report["session_ended"] is True and report["config_error"]["code"] == "E112"
    wait_until(lambda: not pid_alive(pids["alpha"]), timeout=5)
    assert project.tmux("has-session", "-t", f"={project.session}").returncode != 0


def test_never_valid_config_shows_and_stops_the_windows_tmux_reports(project: Project) -> None:
    pids = _start(project)
    (project.paths.root / "config-cache.json").unlink()  # no valid config on record
    project.write('[tasks.alpha\ncommand = "sleep 300"\n')  # malformed TOML on line 2

    data = project.json("status")
    assert data["ok"] is True and data["session"] == project.session
    assert data["config_error"]["using"] == "tmux_windows"
    rows = {row["name"]: row for row in data["tasks"]}
    assert {name: row["pid"] for name, row in rows.items()} == pids
    assert all(row["running"] for row in rows.values())
    shown = project.run("status")
    assert "tmux reports" in _one_warning(shown, "E110", 2)

    assert project.run("stop", "alpha").returncode == 0
    wait_until(lambda: not pid_alive(pids["alpha"]), timeout=8)
    assert pid_alive(pids["beta"])
    assert project.json("stop")["session_ended"] is True
    wait_until(lambda: not pid_alive(pids["beta"]), timeout=8)


def test_daemon_stop_works_while_the_config_is_broken(project: Project) -> None:
    pids = _start(project)
    daemon = project.spawn("daemon", "--port", "0")
    wait_until(lambda: project.paths.daemon_state.exists(), timeout=20)
    project.write(BROKEN)
    shown = project.json("daemon", "status")
    assert shown["pid"] == daemon.pid and shown["config_error"]["code"] == "E112"
    stopped = project.run("daemon", "stop", "--json")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["pid"] == daemon.pid
    assert daemon.wait(10) == 0
    assert all(pid_alive(pid) for pid in pids.values())  # tasks keep running


# ---- a missing file --------------------------------------------------------------------


def _gone_warning(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    warnings = [w for w in result.stderr.splitlines() if w.startswith("warning[W102]")]
    assert len(warnings) == 1, result.stderr
    assert "taskmux.toml is gone (error[E101]" in warnings[0]
    assert "using the last valid config" in warnings[0]
    return warnings[0]


def test_a_deleted_config_still_lets_the_user_look_and_stop(project: Project) -> None:
    pids = _start(project)
    daemon = project.spawn("daemon", "--port", "0")
    wait_until(lambda: project.paths.daemon_state.exists(), timeout=20)
    project.config.unlink()  # a branch switch to where the file is not

    shown = project.run("status")
    assert shown.returncode == 0, shown.stderr
    _gone_warning(shown)
    assert "alpha" in shown.stdout and "running" in shown.stdout
    data = project.json("status")
    assert (data["config_error"]["code"], data["config_error"]["using"]) == (
        "E101",
        "last_valid_config",
    )
    assert {row["name"]: row["pid"] for row in data["tasks"]} == pids

    stopped = project.run("daemon", "stop", "--json")
    assert stopped.returncode == 0, stopped.stderr
    _gone_warning(stopped)
    assert daemon.wait(10) == 0
    ended = project.run("stop", "--json")
    assert ended.returncode == 0, ended.stderr
    assert json.loads(ended.stdout)["session_ended"] is True
    wait_until(lambda: not any(pid_alive(pid) for pid in pids.values()), timeout=8)

    refused = project.run("start")  # acting on a file that is not there: still E101
    assert refused.returncode == 2 and "error[E101]" in refused.stderr


def test_a_config_never_validated_is_still_e101_when_missing(project: Project) -> None:
    shown = project.run("status")
    assert shown.returncode == 2 and "error[E101]" in shown.stderr
    assert not project.paths.root.exists()  # looking for a last config creates no folder


# ---- encodings ------------------------------------------------------------------------


def _write_bytes(project: Project, body: bytes) -> None:
    project.config.write_bytes(f'name = "{project.session}"\n'.encode() + body)


LATIN1 = b'[tasks.alpha]\ncommand = "echo caf\xe9"\n'  # the bad byte is on line 3


@pytest.mark.parametrize("args", [["check"], ["start"], ["add", "gamma", "true"], ["restart"]])
def test_a_latin1_byte_is_one_line_e110_with_its_line(project: Project, args: list[str]) -> None:
    _write_bytes(project, LATIN1)
    result = project.run(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error[")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("error[E110]") and "taskmux.toml:3:" in errors[0]
    assert "0xe9" in errors[0] and "UTF-8" in errors[0]


def test_a_latin1_byte_in_json_and_in_the_look_commands(project: Project) -> None:
    _write_bytes(project, LATIN1)
    checked = project.json("check")
    assert checked["ok"] is False
    assert [(p["code"], p["line"]) for p in checked["problems"]] == [("E110", 3)]
    status = project.run("status", "--json")  # looks: stays usable, says why
    assert status.returncode == 0 and json.loads(status.stdout)["config_error"]["code"] == "E110"
    _one_warning(status, "E110", 3)


def test_a_utf16_file_is_e110(project: Project) -> None:
    project.config.write_bytes('name = "x"\n'.encode("utf-16"))
    result = project.run("check")
    assert result.returncode == 2 and "error[E110]" in result.stderr and "UTF-16" in result.stderr


def test_a_bom_is_accepted_and_kept(project: Project) -> None:
    _write_bytes(project, VALID.encode())
    project.config.write_bytes(b"\xef\xbb\xbf" + project.config.read_bytes())
    checked = project.run("check")
    assert checked.returncode == 0, checked.stderr
    assert sorted(project.json("start")["started"]) == ["alpha", "beta"]
    assert project.run("add", "gamma", "sleep 300", "--no-auto-start").returncode == 0
    assert project.config.read_bytes().startswith(b"\xef\xbb\xbfname")  # still there, once
    assert project.json("check")["ok"] is True
    assert set(project.status()) == {"alpha", "beta", "gamma"}


def test_a_watching_supervisor_reports_a_latin1_edit_and_keeps_tasks(project: Project) -> None:
    """The config watch of `start -m` (the one `watch` runs too, whose own loop is
    tests/supervision/test_watch.py's), in a thread here: the reload it reports."""
    pids = _start(project)
    supervising = project.supervise()
    for _ in range(5):  # the first save may land before the watch is in place
        tmp = project.root / ".taskmux.toml.swp"
        tmp.write_bytes(f'name = "{project.session}"\n'.encode() + LATIN1)
        os.replace(tmp, project.config)  # as editors save
        if timing.wait_until(lambda: supervising.reloads, 3, interval=0.05):
            break
    assert supervising.reloads, "no reload reported"
    outcome = supervising.reloads[0].to_dict()
    assert outcome["ok"] is False
    assert outcome["errors"][0].startswith("error[E110]") and ":3:" in outcome["errors"][0]
    assert supervising.alive and all(pid_alive(pid) for pid in pids.values())
