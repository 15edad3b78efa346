"""Config watching: the debounced file watcher, the reloader, and `taskmux watch`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import TASKMUX, run_cli
from daemon_helpers import (  # noqa: F401  (tmux_socket is a fixture)
    pids,
    start_tasks,
    status,
    tmux_socket,
    wait_for,
    write_config,
)

from taskmux.config.project import load_project
from taskmux.runtime.childpid import task_pid
from taskmux.runtime.timing import Timing
from taskmux.runtime.tmux_manager import Tmux
from taskmux.service import ConfigInUse, Service
from taskmux.supervision.config_watch import ConfigWatcher, Reloader
from taskmux.supervision.supervisor import claim_supervision

# The watcher on its own -----------------------------------------------------------------


class Recorder:
    """Collects the file's content at each callback (called from the watcher's timer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: list[str] = []
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            self.seen.append(self.path.read_text() if self.path.exists() else "<missing>")

    def snapshot(self) -> list[str]:
        with self.lock:
            return list(self.seen)


@pytest.fixture
def watched(tmp_path: Path) -> tuple[Path, Recorder, ConfigWatcher]:
    path = tmp_path / "taskmux.toml"
    path.write_text("v0")
    recorder = Recorder(path)
    watcher = ConfigWatcher(path, recorder, debounce=0.2)
    watcher.start()
    yield path, recorder, watcher
    watcher.stop()


def test_a_burst_of_replacing_saves_is_one_change(
    watched: tuple[Path, Recorder, ConfigWatcher],
) -> None:
    path, recorder, _ = watched
    for version in range(1, 6):
        write_config(path.parent, f"v{version}")  # temp file renamed over the config
    wait_for(lambda: recorder.snapshot())
    path.write_text("v6")  # written in place this time
    wait_for(lambda: "v6" in recorder.snapshot())
    assert recorder.snapshot() == ["v5", "v6"]


def test_reads_and_other_files_are_not_changes(
    watched: tuple[Path, Recorder, ConfigWatcher],
) -> None:
    path, recorder, _ = watched
    for _ in range(5):
        path.read_text()
    (path.parent / "other.toml").write_text("x")
    (path.parent / "taskmux.toml.bak").write_text("x")
    path.write_text("final")
    wait_for(lambda: recorder.snapshot())
    assert recorder.snapshot() == ["final"]


def test_an_edit_of_the_local_override_is_a_change(
    watched: tuple[Path, Recorder, ConfigWatcher],
) -> None:
    path, recorder, _ = watched
    (path.parent / "taskmux.local.toml").write_text("[tasks]")  # merged over the config
    wait_for(lambda: recorder.snapshot())
    assert recorder.snapshot() == ["v0"]


def test_stop_drops_a_pending_change(watched: tuple[Path, Recorder, ConfigWatcher]) -> None:
    path, recorder, watcher = watched
    watcher.debounce = 0.5  # long enough to stop inside it, short enough to outwait it
    pending = threading.Event()
    notice = watcher.notice

    def noticed(event: Any) -> None:
        notice(event)
        if event.event_type == "modified" and not event.is_directory:
            pending.set()  # the edit is seen: its callback is now due in `debounce`

    watcher.notice = noticed  # type: ignore[method-assign]
    path.write_text("late")
    assert pending.wait(10)
    watcher.stop()
    # The last timer started (the earlier ones were cancelled as each edit came, and
    # none starts after the stop) is the one thing that could still call back.
    timer = watcher._timer
    assert timer is not None
    timer.join(timeout=10)  # cancelled: at once (else it fires after the debounce)
    assert not timer.is_alive() and recorder.snapshot() == []


# The reloader -----------------------------------------------------------------------------

TASKS = """
name = "wproj"

[tasks.alpha]
command = "sleep 300"

[tasks.beta]
command = "sleep 301"

[tasks.gamma]
command = "sleep 302"
"""


@pytest.fixture
def project(tmp_path: Path, tmux_socket: str) -> Path:  # noqa: F811
    root = tmp_path / "proj"
    root.mkdir()
    write_config(root, TASKS)
    start_tasks(root)
    return root


def reloader_for(root: Path) -> Reloader:
    project = load_project(root / "taskmux.toml")
    return Reloader(Service(ConfigInUse(project), Tmux.from_env(), timing=Timing.fast()))


def test_a_changed_task_that_was_stopped_stays_stopped(project: Path) -> None:
    assert run_cli("stop", "beta", cwd=project).returncode == 0
    reloader = reloader_for(project)
    before = pids(project)
    write_config(project, TASKS.replace("sleep 301", "sleep 311").replace("sleep 302", "sleep 9"))
    outcome = reloader.reload()
    assert outcome.ok, outcome
    assert outcome.change is not None and outcome.change.changed == ("beta", "gamma")
    assert outcome.restarted == ("gamma",)
    rows = status(project)
    assert rows["beta"]["manually_stopped"] and not rows["beta"]["running"]
    assert rows["alpha"]["pid"] == before["alpha"]
    assert rows["gamma"]["pid"] != before["gamma"] and rows["gamma"]["running"]
    assert reloader.lifecycle.config.tasks["gamma"].command == "sleep 9"


def test_an_invalid_edit_changes_nothing(project: Path) -> None:
    reloader = reloader_for(project)
    lifecycle = reloader.lifecycle
    before = pids(project)
    (project / "taskmux.toml").write_text(TASKS + "\n[tasks.delta]\nport = 0\n")
    outcome = reloader.reload()
    assert not outcome.applied and reloader.lifecycle is lifecycle
    check = run_cli("check", cwd=project)
    expected = [line for line in check.stderr.splitlines() if line.startswith("error[")]
    assert list(outcome.errors) == expected and expected
    (project / "taskmux.toml").unlink()
    missing = reloader.reload()
    assert missing.errors and "E101" in missing.errors[0]
    write_config(project, TASKS)
    assert reloader.reload().describe() == "config reloaded: no changes"
    assert pids(project) == before


def test_a_renamed_session_moves_the_running_tasks(project: Path) -> None:
    reloader = reloader_for(project)
    assert run_cli("stop", "gamma", cwd=project).returncode == 0
    write_config(project, TASKS.replace('"wproj"', '"moved"'))
    outcome = reloader.reload()
    assert outcome.ok, outcome
    assert not Tmux.from_env().observe("wproj").session_exists
    rows = status(project)
    assert rows["alpha"]["running"] and rows["beta"]["running"]
    assert not rows["gamma"]["running"]


# `taskmux watch` ---------------------------------------------------------------------------

EDITED = """
name = "wproj"

[tasks.alpha]
command = "sleep 300"

[tasks.beta]
command = "sleep 333"

[tasks.delta]
command = "sleep 304"
"""


def test_watch_applies_edits_and_reports_invalid_ones(project: Path, tmp_path: Path) -> None:
    before = pids(project)
    paths = load_project(project / "taskmux.toml").paths
    claim = claim_supervision(paths.supervisor_lock, "test")  # watch is no supervisor
    out, err = tmp_path / "watch.out", tmp_path / "watch.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        watch = subprocess.Popen(
            [TASKMUX, "watch", "--json"], cwd=project, stdout=stdout, stderr=stderr
        )
    try:
        wait_for(lambda: "watching" in err.read_text())
        write_config(project, EDITED)
        wait_for(lambda: out.read_text().count("\n") >= 1)
        report = json.loads(out.read_text().splitlines()[0])
        assert report["ok"], report
        assert (report["started"], report["stopped"], report["restarted"]) == (
            ["delta"],
            ["gamma"],
            ["beta"],
        )
        after = status(project)
        assert after["alpha"]["pid"] == before["alpha"]
        assert after["beta"]["pid"] != before["beta"] and after["beta"]["running"]
        assert after["delta"]["running"] and not after["gamma"]["running"]

        running = pids(project)
        (project / "taskmux.toml").write_text(EDITED.replace("[tasks.delta]", "[tasks.delta"))
        wait_for(lambda: out.read_text().count("\n") >= 2)
        invalid = json.loads(out.read_text().splitlines()[1])
        assert not invalid["ok"] and invalid["errors"][0].startswith("error[E110]: ")
        observed = Tmux.from_env().observe("wproj").tasks  # pane pids: the waiting shells
        assert {name: task_pid(s.pid) for name, s in observed.items() if s.is_alive} == {
            name: pid for name, pid in running.items() if pid is not None
        }
        watch.send_signal(signal.SIGINT)
        assert watch.wait(10) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
        claim.release()
    assert all(Tmux.from_env().observe("wproj").tasks[n].is_alive for n in ("alpha", "beta"))
    assert os.path.exists(project / "taskmux.toml")


def test_a_reload_of_an_unchanged_file_trusts_its_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`start -m` reloads once its tasks are up: a file unchanged since it was loaded
    must not cost pydantic's validators a second time."""
    from taskmux.config import models
    from taskmux.supervision.config_watch import read_project

    path = tmp_path / "taskmux.toml"
    path.write_text(TASKS + 'watch_cmd = "x"\n')  # a warning the cache keeps
    loaded = load_project(path)
    calls: list[object] = []
    validate = models.validate_config
    monkeypatch.setattr(models, "validate_config", lambda raw: calls.append(raw) or validate(raw))
    found = read_project(path)
    assert calls == [] and not isinstance(found, list)
    assert loaded.warnings and found.warnings == loaded.warnings
    assert found.config == loaded.config
    path.write_text(TASKS.replace("sleep 302", "sleep 9"))
    edited = read_project(path)
    assert len(calls) == 1 and not isinstance(edited, list)
    assert edited.config.tasks["gamma"].command == "sleep 9" and edited.warnings == []
