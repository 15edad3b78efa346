"""Restart on file changes (SPEC §10): the pure matcher, planner and debouncer by tables,
the watchdog observer on a real folder, and `start -m` / the daemon on private tmux
servers."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import DaemonThread, running_daemon, tmux_socket, write_config
from harness import Project, holds_for, pid_alive, project, wait_until

from taskmux.supervision.filewatch import (
    Change,
    Debouncer,
    FileWatcher,
    Matcher,
    WatchGlob,
    WatchSpec,
    compile_ignore,
    is_editor_temp,
    plan_folders,
    should_restart,
)
from taskmux.supervision.supervisor import Supervisor

__all__ = ["project", "tmux_socket"]


# Patterns ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("src/*.py", "src/a.py", True),
        ("src/*.py", "src/pkg/a.py", False),  # `*` stays in its folder
        ("src/*.py", "a.py", False),
        ("src/*.py", "src/a.pyc", False),
        ("**/*.py", "a.py", True),  # `**` spans no folder too
        ("**/*.py", "x/y/z/a.py", True),
        ("**/*.py", ".hidden/a.py", True),
        ("src/**/*.py", "src/a.py", True),
        ("src/**/*.py", "src/x/y/a.py", True),
        ("src/**/*.py", "lib/a.py", False),
        ("src/**", "src/x/y", True),
        ("src/", "src/deep/file.txt", True),  # a trailing slash: everything below
        ("src", "src/deep/file.txt", True),  # a literal folder: everything below
        ("package.json", "package.json", True),
        ("package.json", "sub/package.json", False),
        ("./package.json", "package.json", True),
        ("src/a?.py", "src/ab.py", True),
        ("src/a?.py", "src/a/.py", False),
        ("src/[ab].py", "src/b.py", True),
        ("src/[!ab].py", "src/c.py", True),
        ("src/[!ab].py", "src/a.py", False),
        ("src/[ab.py", "src/[ab.py", True),  # an unclosed bracket is literal
        ("**/*.go", "../other/x.go", False),  # a wildcard never climbs out of the cwd
        ("*", "../x", False),
        ("../shared/**/*.py", "../shared/lib/a.py", True),
        ("../shared/*.py", "shared/a.py", False),
        ("src/**.py", "src/a.py", True),  # `**` inside a segment is a `*`
        ("src/**.py", "src/x/a.py", False),
    ],
)
def test_watch_globs(pattern: str, path: str, expected: bool) -> None:
    assert WatchGlob.compile(pattern).matches(path) is expected


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("node_modules", "node_modules/x/index.js", True),
        ("node_modules", "web/node_modules/x.js", True),  # a name matches at any depth
        ("node_modules", "src/node_modules_helper.js", False),
        ("*.log", "logs/app.log", True),
        ("dist/", "dist/app.js", True),
        ("build/out", "build/out/a.o", True),  # with a '/': anchored at the cwd
        ("build/out", "x/build/out/a.o", False),
        ("/gen", "gen/a.py", True),
        ("/gen", "src/gen/a.py", False),
        ("**/fixtures", "tests/a/fixtures/x.json", True),
    ],
)
def test_ignore_patterns(pattern: str, path: str, expected: bool) -> None:
    assert (compile_ignore(pattern).fullmatch(path) is not None) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (".a.py.swp", True),
        ("a.py~", True),
        (".#a.py", True),
        ("#a.py#", True),
        ("4913", True),  # vim's probe file
        ("a.py.tmp", True),
        ("a.py___jb_tmp___", True),
        (".goutputstream-XYZ123", True),
        ("a.py", False),
        ("swp.py", False),
        ("49130", False),
    ],
)
def test_editor_temporary_files(name: str, expected: bool) -> None:
    assert is_editor_temp(name) is expected


# Which tasks a path concerns -----------------------------------------------------------

SPECS = {
    "api": WatchSpec("/p/api", ("**/*.py",), ("generated",)),
    "web": WatchSpec("/p/web", ("src/**/*.ts", "package.json")),
    "both": WatchSpec("/p", ("api/*.py", "web/package.json")),
    "none": WatchSpec("/p", ()),
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/p/api/main.py", [("api", "main.py"), ("both", "api/main.py")]),
        ("/p/api/pkg/mod.py", [("api", "pkg/mod.py")]),
        ("/p/api/generated/x.py", []),  # the task's own watch_ignore
        ("/p/api/.venv/lib/x.py", []),  # a built-in ignore
        ("/p/api/__pycache__/main.cpython-312.pyc", []),
        ("/p/api/.main.py.swp", []),  # an editor's swap file
        ("/p/web/src/app.ts", [("web", "src/app.ts")]),
        ("/p/web/node_modules/x/src/a.ts", []),
        ("/p/web/package.json", [("web", "package.json"), ("both", "web/package.json")]),
        ("/p/web/README.md", []),
        ("/p/state/logs/api.log", []),  # the state folder
        ("/elsewhere/a.py", []),
    ],
)
def test_matcher(path: str, expected: list[tuple[str, str]]) -> None:
    assert Matcher(SPECS, ["/p/state"]).tasks_for(path) == expected


# Which folders to watch ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("specs", "folders", "expected", "missing"),
    [
        pytest.param(
            {"a": WatchSpec("/p", ("src/*.py",))},
            {"/p", "/p/src"},
            [("/p/src", False)],
            [],
            id="one level",
        ),
        pytest.param(
            {"a": WatchSpec("/p", ("src/**/*.py",))},
            {"/p", "/p/src"},
            [("/p/src", True)],
            [],
            id="recursive below a literal folder",
        ),
        pytest.param(
            {"a": WatchSpec("/p", ("**/*.py", "src/*.py"))},
            {"/p", "/p/src"},
            [("/p", True)],
            [],
            id="a recursive watch covers the folders below it",
        ),
        pytest.param(
            {"a": WatchSpec("/p", ("package.json",))},
            {"/p"},
            [("/p", False)],
            ["/p/package.json"],
            id="a file: its folder, one level",
        ),
        pytest.param(
            {"a": WatchSpec("/p", ("src",))},
            {"/p", "/p/src"},
            [("/p/src", True)],
            [],
            id="a literal folder: everything below",
        ),
        pytest.param(
            {"a": WatchSpec("/p", ("src/**/*.py",))},
            {"/p"},
            [("/p", False)],
            ["/p/src"],
            id="a folder yet to come: its parent until it appears",
        ),
        pytest.param(
            {"a": WatchSpec("/p/a", ("*.py",)), "b": WatchSpec("/p/b", ("x/*.py",))},
            {"/p", "/p/a", "/p/b", "/p/b/x"},
            [("/p/a", False), ("/p/b/x", False)],
            [],
            id="two tasks, two folders",
        ),
        pytest.param(
            {"a": WatchSpec("/p/a", ("../shared/*.py",))},
            {"/p", "/p/a", "/p/shared"},
            [("/p/shared", False)],
            [],
            id="a folder beside the cwd",
        ),
        pytest.param(
            {"a": WatchSpec("/p", ("src/*.py",)), "b": WatchSpec("/p", ("src/**",))},
            {"/p", "/p/src"},
            [("/p/src", True)],
            [],
            id="one folder wanted flat and deep: deep",
        ),
    ],
)
def test_plan_folders(
    specs: dict[str, WatchSpec], folders: set[str], expected: list[Any], missing: list[str]
) -> None:
    plan = plan_folders(specs, is_dir=folders.__contains__)
    assert list(plan.folders) == expected
    assert list(plan.missing) == missing


# When to restart -----------------------------------------------------------------------


def test_a_burst_is_one_change_once_quiet() -> None:
    debouncer = Debouncer(quiet=0.5, named=3)
    for i in range(20):
        debouncer.add("api", f"src/f{i % 5}.py", now=100.0 + i * 0.1)
    assert debouncer.due(102.3) == []  # 0.4 s after the last save
    assert debouncer.next_due() == pytest.approx(102.4)
    (change,) = debouncer.due(102.4)
    assert change == Change("api", ("src/f0.py", "src/f1.py", "src/f2.py"), 5, 100.0, 101.9)
    assert change.reason() == "src/f0.py, src/f1.py, src/f2.py and 2 more changed"
    assert debouncer.due(200.0) == [] and debouncer.next_due() is None


def test_tasks_are_debounced_apart_and_a_busy_one_waits() -> None:
    debouncer = Debouncer(quiet=0.5)
    debouncer.add("api", "a.py", 10.0)
    debouncer.add("web", "b.ts", 10.3)
    assert [c.task for c in debouncer.due(10.6)] == ["api"]
    debouncer.add("web", "c.ts", 10.7)
    assert debouncer.due(11.5, busy={"web"}) == []  # a restart is under way: keep collecting
    assert debouncer.next_due(busy={"web"}) is None
    debouncer.add("web", "d.ts", 11.6)
    (change,) = debouncer.due(12.2)
    assert change.files == ("b.ts", "c.ts", "d.ts") and change.count == 3
    debouncer.add("api", "a.py", 13.0)
    debouncer.keep_only(["web"])  # api no longer watched
    assert debouncer.due(20.0) == []


CHANGE = Change("api", ("a.py",), 1, 100.0, 100.2)


@pytest.mark.parametrize(
    ("alive", "stopped", "gave_up", "started_at", "expected"),
    [
        (True, False, False, 50.0, True),
        (True, False, False, None, True),
        (False, False, False, 50.0, False),  # down (crashed, completed): stays as it is
        (True, True, False, 50.0, False),  # stopped by hand
        (False, False, True, 50.0, True),  # gave up: the saved file may be the fix
        (True, False, False, 100.5, False),  # started after the change: has the new files
    ],
)
def test_should_restart(
    alive: bool, stopped: bool, gave_up: bool, started_at: float | None, expected: bool
) -> None:
    assert should_restart(alive, stopped, gave_up, started_at, CHANGE) is expected


def test_one_changed_file_reads_simply() -> None:
    assert CHANGE.reason() == "a.py changed"


# The observer on a real folder ---------------------------------------------------------


def test_the_observer_reports_matching_changes_and_replans(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "node_modules").mkdir(parents=True)
    state = tmp_path / "state"
    state.mkdir()
    watcher = FileWatcher(debounce=0.2)
    try:
        watcher.update(
            {"api": WatchSpec(str(root), ("src/**/*.py", "main.py"))}, ignore_dirs=[str(state)]
        )
        assert watcher.folders == ((str(root), False),)  # src/ does not exist yet
        (root / "main.py").write_text("x")
        (root / "node_modules" / "x.py").write_text("x")
        (root / "notes.txt").write_text("x")
        change = wait_until(lambda: watcher.due(), timeout=5)[0]
        assert (change.task, change.files) == ("api", ("main.py",))

        (root / "src" / "pkg").mkdir(parents=True)
        wait_until(lambda: watcher.due() == [] and (str(root / "src"), True) in watcher.folders)
        (root / "src" / "pkg" / "mod.py").write_text("x")
        (root / "src" / "pkg" / ".mod.py.swp").write_text("x")
        change = wait_until(lambda: watcher.due(), timeout=5)[0]
        assert change.files == ("src/pkg/mod.py",)

        watcher.update({}, ignore_dirs=[str(state)])  # a reload removed the task's watch
        assert watcher.folders == ()
        (root / "main.py").write_text("y")
        holds_for(lambda: watcher.due(time.time() + 10) == [], 0.5)
    finally:
        watcher.stop()


def test_replans_while_events_pour_in_do_not_deadlock(tmp_path: Path) -> None:
    """watchdog calls the handler holding its own lock; a re-plan calls watchdog: the two
    must never wait for each other."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    watcher = FileWatcher(debounce=0.05)
    stop = threading.Event()

    def pour() -> None:
        i = 0
        while not stop.is_set():
            for name in ("a", "b"):
                (tmp_path / name / f"f{i % 50}.py").write_text(str(i))
            i += 1

    def replan() -> None:
        for i in range(150):
            folder = "a" if i % 2 else "b"
            watcher.update({"t": WatchSpec(str(tmp_path), (f"{folder}/*.py", "*.py"))})
            watcher.due()

    writer = threading.Thread(target=pour, daemon=True)
    planner = threading.Thread(target=replan, daemon=True)
    writer.start()
    planner.start()
    try:
        planner.join(timeout=60)
        assert not planner.is_alive(), "re-planning hung while events were dispatched"
    finally:
        stop.set()
        writer.join(timeout=10)
        watcher.stop()


# Under `start -m` ----------------------------------------------------------------------

WORKER = "import os, time\nprint('worker', os.getpid(), flush=True)\nwhile True: time.sleep(1)\n"


def _restarts(project: Project, task: str) -> list[dict[str, Any]]:
    return [
        e
        for e in project.events()
        if e["task"] == task and e["event"] == "restarted" and e.get("trigger") == "watch"
    ]


def _pid(project: Project, task: str) -> int | None:
    row = project.status()[task]
    return int(row["pid"]) if row["running"] else None


def _new_pid(project: Project, task: str, old: int | None) -> int | None:
    pid = _pid(project, task)
    return pid if pid not in (None, old) else None


def _watching(project: Project) -> list[dict[str, Any]]:
    """The supervisor's `watching` events: what it watches (recorded once it does)."""
    return [e for e in project.events() if e["event"] == "watching"]


def _looked(supervisor: Supervisor) -> None:
    """Wake the supervisor until a whole tick that began after this call has ended, and
    wait for the actions it started; its file watcher (if any) then has no change left
    pending: every change it had noticed was decided on (no window of time in which it
    may or may not have looked)."""
    since = supervisor.ticks  # a tick under way now may have begun before the change

    def looked() -> bool:
        supervisor.wake()
        return supervisor.ticks >= since + 2

    wait_until(looked, timeout=15)
    wait_until(lambda: all(a.done() for a in list(supervisor.actions.values())), timeout=15)
    assert supervisor.files is None or supervisor.files.next_due() is None


def _files(supervisor: Supervisor) -> FileWatcher:
    files = supervisor.files
    assert files is not None
    return files


def test_start_monitor_restarts_a_task_when_its_files_change(project: Project) -> None:
    (project.root / "src").mkdir()
    (project.root / "node_modules").mkdir()
    (project.root / "worker.py").write_text(WORKER)
    project.write(
        """
        [tasks.worker]
        command = "python3 worker.py"
        watch = ["src/*.py"]
        stop_grace_period = 1
        [tasks.bystander]
        command = "sleep 300"
        """
    )
    supervisor = project.supervise().monitor.supervisor
    first = wait_until(lambda: _pid(project, "worker"), timeout=15)
    other = _pid(project, "bystander")
    watching = wait_until(lambda: _watching(project))[0]
    assert watching["tasks"] == ["worker"]
    assert watching["folders"] == [os.path.realpath(project.root / "src")]

    touched = time.time()
    (project.root / "src" / "a.py").write_text("print(1)\n")
    second = wait_until(lambda: _new_pid(project, "worker", first))
    assert time.time() - touched < 0.5 + 1.5  # the debounce, then about a second
    assert not pid_alive(first)
    (event,) = wait_until(lambda: _restarts(project, "worker"))
    assert event["reason"] == "src/a.py changed" and event["files"] == ["src/a.py"]
    assert project.status()["worker"]["restart_count"] == 0  # not a crash restart
    assert _pid(project, "bystander") == other

    for i in range(20):  # a burst of saves: one restart
        (project.root / "src" / f"b{i % 4}.py").write_text(f"x = {i}\n")
        time.sleep(0.02)
    wait_until(lambda: len(_restarts(project, "worker")) == 2)
    _looked(supervisor)  # nothing of the burst is left to restart for
    assert len(_restarts(project, "worker")) == 2
    burst = _restarts(project, "worker")[1]
    assert burst["changed"] == 4 and burst["reason"].endswith("and 1 more changed")
    third = _pid(project, "worker")
    assert third not in (first, second)

    (project.root / "node_modules" / "dep.py").write_text("x")
    (project.root / "src" / "notes.txt").write_text("x")
    (project.root / "src" / ".a.py.swp").write_text("x")
    (project.root / "other.py").write_text("x")
    # Then a file that counts: its restart names it alone, so the others, noticed before
    # it, were not counted (nor restarted the task on their own).
    (project.root / "src" / "c.py").write_text("x")
    wait_until(lambda: len(_restarts(project, "worker")) == 3)
    _looked(supervisor)
    assert len(_restarts(project, "worker")) == 3
    alone = _restarts(project, "worker")[2]
    assert alone["files"] == ["src/c.py"] and alone["changed"] == 1
    assert _pid(project, "worker") not in (first, second, third, None)

    assert project.run("stop", "worker").returncode == 0
    files = _files(supervisor)
    noticed = files.noticed
    (project.root / "src" / "a.py").write_text("print(2)\n")
    wait_until(lambda: files.noticed > noticed)  # the edit is seen: due in 0.3 s
    wait_until(lambda: files.next_due() is None)  # and was decided on
    _looked(supervisor)
    assert project.state("worker") == "stopped"
    assert len(_restarts(project, "worker")) == 3

    shown = project.run("events", "--task", "worker").stdout
    assert "reason=src/a.py changed" in shown and "trigger=watch" in shown


def test_watch_cmd_runs_first_and_a_failing_one_leaves_the_task_alone(project: Project) -> None:
    (project.root / "worker.py").write_text(WORKER)
    project.write(
        """
        [tasks.worker]
        command = "python3 worker.py"
        watch = ["*.src"]
        watch_cmd = "test ! -e broken && echo built >> build.log"
        stop_grace_period = 1
        """
    )
    supervisor = project.supervise().monitor.supervisor
    first = wait_until(lambda: _pid(project, "worker"), timeout=15)
    wait_until(lambda: _watching(project))

    (project.root / "broken").write_text("")
    (project.root / "a.src").write_text("1")
    failed = wait_until(
        lambda: [e for e in project.events() if e["event"] == "watch_cmd_failed"], timeout=10
    )[0]
    assert "exit 1" in failed["error"] and failed["files"] == ["a.src"]
    _looked(supervisor)  # the failed build's action is over, and no change is pending
    assert _pid(project, "worker") == first  # left running as it was

    (project.root / "broken").unlink()
    (project.root / "a.src").write_text("2")
    wait_until(lambda: _restarts(project, "worker"), timeout=10)
    assert (project.root / "build.log").read_text() == "built\n"
    assert _new_pid(project, "worker", first)


# Under the daemon: config reloads change what is watched ------------------------------

DAEMON_CONFIG = """
name = "fwdaemon"

[tasks.worker]
command = "python3 worker.py"
stop_grace_period = 1
"""


def test_a_reload_changes_the_watch_set_without_restarting(
    tmp_path: Path,
    tmux_socket: str,
) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "worker.py").write_text(WORKER)
    write_config(root, DAEMON_CONFIG)
    project = Project(root, tmux_socket)
    try:
        assert project.run("start").returncode == 0
        first = wait_until(lambda: _pid(project, "worker"), timeout=15)
        with running_daemon(root) as daemon:
            assert isinstance(daemon, DaemonThread)
            supervisor = wait_until(lambda: getattr(daemon.daemon, "supervisor", None))
            (root / "lib.py").write_text("x")
            _looked(supervisor)  # it has looked at the config: nothing to watch, no observer
            assert supervisor.files is None and _watching(project) == []
            assert _pid(project, "worker") == first

            write_config(root, DAEMON_CONFIG + 'watch = ["*.py"]\n')
            wait_until(lambda: "new watch settings for worker" in daemon.log_text)
            wait_until(lambda: _watching(project))
            assert _pid(project, "worker") == first  # a watch-only edit restarts nothing
            (root / "lib.py").write_text("y")
            event = wait_until(lambda: _restarts(project, "worker"), timeout=10)[0]
            assert event["reason"] == "lib.py changed"
            assert "worker restarted: lib.py changed" in daemon.log_text

            write_config(root, DAEMON_CONFIG)
            wait_until(lambda: daemon.log_text.count("new watch settings for worker") == 2)
            # No folder is watched any more (the watch is dropped before it is recorded).
            wait_until(lambda: _watching(project)[-1]["folders"] == [])
            assert _files(supervisor).folders == ()
            second = _pid(project, "worker")
            (root / "lib.py").write_text("z")
            _looked(supervisor)
            assert _pid(project, "worker") == second
    finally:
        project.cleanup()


# Validation --------------------------------------------------------------------------


def test_check_reports_unusable_watch_settings(tmp_path: Path) -> None:
    from conftest import run_cli

    (tmp_path / "taskmux.toml").write_text(
        'name = "w"\n'
        "[tasks.a]\n"
        'command = "sleep 1"\n'
        'watch = ["src/**/*.py", "/etc/passwd", " "]\n'
        'watch_ignore = ["/gen", "dist"]\n'
        "[tasks.b]\n"
        'command = "sleep 1"\n'
        'watch_cmd = "make"\n'
        "[tasks.c]\n"
        'command = "sleep 1"\n'
        'watch = "src"\n'
    )
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert any("'a': key 'watch': pattern '/etc/passwd' is absolute" in line for line in lines)
    assert any("'a': key 'watch': holds a blank pattern" in line for line in lines)
    assert not any("watch_ignore" in line for line in lines)  # '/gen' is anchored, not absolute
    assert any(
        line.startswith("warning[W122]") and "'b': key 'watch_cmd'" in line for line in lines
    )
    assert any(line.startswith("error[E112]") and "'c': key 'watch'" in line for line in lines)
