"""`ensure` (SPEC §13) on real tmux: kept when running and current; started after a
kill -9; restarted after an edit of the task's command, of a watched file, or a move of
a port its environment was built from, and only that task."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from harness import Project, project, wait_until

from taskmux.config.reload import IN_PLACE_KEYS
from taskmux.config.watchglobs import WatchSpec
from taskmux.lifecycle.ensure_lean import all_kept
from taskmux.lifecycle.launchrecord import IN_PLACE
from taskmux.lifecycle.readmodel import NotHere
from taskmux.lifecycle.watchscan import Scan

__all__ = ["project"]

_CONFIG = """
[tasks.db]
command = "sleep 300"
min_uptime = 0
[tasks.api]
command = "sleep 300"
min_uptime = 0
depends_on = ["db"]
[tasks.web]
command = "sleep 301"
min_uptime = 0
watch = ["src/**/*.py"]
"""


def _ensure(project: Project, *names: str) -> dict[str, dict[str, object]]:
    document = project.json("ensure", *names)
    assert document["ok"] is True, document
    tasks: dict[str, dict[str, object]] = document["tasks"]
    return tasks


def _actions(tasks: dict[str, dict[str, object]]) -> dict[str, object]:
    return {name: task["action"] for name, task in tasks.items()}


def _pids(project: Project) -> dict[str, object]:
    return {name: row["pid"] for name, row in project.status().items()}


def test_ensure_starts_then_keeps_then_restarts_only_the_edited_task(project: Project) -> None:
    project.write(_CONFIG)
    first = _ensure(project)
    assert _actions(first) == {"db": "started", "api": "started", "web": "started"}
    assert first["db"]["reason"] == "not started" and first["db"]["url"] is None
    before = _pids(project)

    assert _actions(_ensure(project)) == {"db": "kept", "api": "kept", "web": "kept"}
    assert _pids(project) == before

    project.write(_CONFIG.replace('command = "sleep 301"', 'command = "sleep 302"'))
    edited = _ensure(project)
    assert _actions(edited) == {"db": "kept", "api": "kept", "web": "restarted"}
    assert "definition changed" in str(edited["web"]["reason"])
    after = _pids(project)
    assert after["db"] == before["db"] and after["api"] == before["api"]
    assert after["web"] != before["web"]


def test_ensure_named_task_brings_its_dependencies_and_restarts_a_killed_one(
    project: Project,
) -> None:
    project.write(_CONFIG)
    assert _actions(_ensure(project, "api")) == {"db": "started", "api": "started"}
    pid = project.status()["db"]["pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not project.status()["db"]["running"])
    again = _ensure(project, "api")
    assert _actions(again) == {"db": "started", "api": "kept"}
    assert project.status()["db"]["running"] is True


def test_ensure_restarts_a_task_whose_watched_file_changed(project: Project) -> None:
    project.write(_CONFIG)
    source = project.root / "src" / "app"
    source.mkdir(parents=True)
    (source / "main.py").write_text("x = 1\n")
    (project.root / "src" / "notes.txt").write_text("not watched\n")
    _ensure(project)
    started = project.status()["web"]["started_at"]
    assert isinstance(started, float)
    later = started + 1
    os.utime(project.root / "src" / "notes.txt", (later, later))  # not a watched pattern
    assert _actions(_ensure(project))["web"] == "kept"
    os.utime(source / "main.py", (later, later))
    changed = _ensure(project)
    assert _actions(changed) == {"db": "kept", "api": "kept", "web": "restarted"}
    assert changed["web"]["reason"] == "watched file src/app/main.py changed since its start"


def test_ensure_restarts_the_task_whose_port_moved(project: Project) -> None:
    import socket

    project.write(
        """
[tasks.api]
command = "sleep 300"
min_uptime = 0
port = "auto"
[tasks.web]
command = "sleep 300"
min_uptime = 0
env = { API_URL = "http://127.0.0.1:${tasks.api.port}" }
"""
    )
    _ensure(project)
    old = project.status()["api"]["port"]
    assert isinstance(old, int)
    assert project.run("stop", "api").returncode == 0
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", old))
        sock.listen()
        moved = _ensure(project)
    new = moved["api"]["port"]
    assert moved["api"]["action"] == "started" and new != old
    assert moved["web"]["action"] == "restarted"
    assert f"'api' moved from {old} to {new}" in str(moved["web"]["reason"])


def test_ensure_that_cannot_make_a_task_ready_exits_1_saying_why(project: Project) -> None:
    project.write(
        """
[tasks.bad]
command = "echo broken; exit 3"
restart_policy = "no"
"""
    )
    result = project.run("ensure", "--json", "--timeout", "5")
    assert result.returncode == 1
    assert "bad" in result.stderr or "bad" in result.stdout


def test_the_watch_scan_stops_at_its_budget(tmp_path: Path) -> None:
    for index in range(30):
        (tmp_path / f"f{index}.py").write_text("")
    spec = WatchSpec(str(tmp_path), ("*.py",))
    future = time.time() + 60
    scan = Scan(budget=5)
    assert scan.newer("web", spec, future) is None
    assert scan.cut == ["web"]
    assert Scan().newer("web", spec, 0.0) is not None


def test_the_lean_answer_is_the_service_answer_and_env_edits_restart(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project.root / ".env").write_text("TOKEN=first-secret\n")
    config = """
[tasks.api]
command = "sleep 300"
min_uptime = 0
env_file = ".env"
[tasks.web]
command = "sleep 300"
min_uptime = 0
env = { MODE = "one" }
"""
    project.write(config)
    _ensure(project)
    monkeypatch.setenv("TASKMUX_TMUX_SOCKET", project.socket_name)
    lean, _notes = all_kept(str(project.config), [])
    service = project.service()
    assert lean == {"ok": True, **service.ensure(timeout=5).to_dict()}
    recorded = (project.paths.root / "launched" / "api").read_text()
    assert "first-secret" not in recorded and len(recorded) == 64  # a SHA-256, never values

    (project.root / ".env").write_text("TOKEN=second-secret\n")
    with pytest.raises(NotHere):
        all_kept(str(project.config), [])
    assert _actions(_ensure(project)) == {"api": "restarted", "web": "kept"}
    project.write(config.replace('"one"', '"two"'))
    assert _actions(_ensure(project)) == {"api": "kept", "web": "restarted"}


def test_the_lean_digest_skips_the_keys_a_reload_applies_in_place() -> None:
    assert IN_PLACE == IN_PLACE_KEYS
