"""Scale: start and stop of many tasks cost about what one costs (SPEC §7).

A stop of N tasks sends every task its first signal together and waits for all of them
at once, with one look at the machine's processes shared by every task; a start of N
tasks is one tmux command list and one settle window for the whole wave. These tests
count the process scans and tmux round trips (by wrapping the real calls, which still
run) and time real processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from harness import Project, pid_alive, project, wait_until

from taskmux.config.project import load_project
from taskmux.config.taskenv import MARKER_VAR
from taskmux.lifecycle.core import Lifecycle
from taskmux.runtime import procs, timing
from taskmux.runtime.tmux_manager import Tmux

__all__ = ["project"]

# A task that takes this long to exit after SIGINT (the shell's trap sleeps, then exits).
SLOW_EXIT = 1.0
MARKERS: dict[int, str] = {}  # tree's pid -> the marker it was started with
SLOW_COMMAND = f"trap 'sleep {SLOW_EXIT:g}; exit 0' INT; while :; do sleep 0.5; done"
LOOP = "while :; do sleep 0.5; done"  # a shell with a child nearly all the time


def _counting(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Count the calls of `owner.name` (the real function still runs)."""
    calls: list[int] = []
    real: Callable[..., Any] = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


@pytest.fixture
def trees() -> Iterator[Callable[[int, str], list[subprocess.Popen[bytes]]]]:
    """Start process trees (a shell in its own group with a child), killed at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start(count: int, command: str) -> list[subprocess.Popen[bytes]]:
        for _ in range(count):
            env = {**os.environ, MARKER_VAR: _marker(len(started))}
            proc = subprocess.Popen(["/bin/sh", "-c", command], env=env, start_new_session=True)
            MARKERS[proc.pid] = env[MARKER_VAR]
            started.append(proc)
        return started[-count:]

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _marker(index: int) -> str:
    """The marker of the `index`-th tree a test started (unique to this test process)."""
    return f"scale-test-{os.getpid()}/t{index}"


def _targets(trees: list[subprocess.Popen[bytes]], grace: float) -> list[procs.StopTarget]:
    return [procs.StopTarget(p.pid, MARKERS[p.pid], grace) for p in trees]


def _running(count: int, trees: list[subprocess.Popen[bytes]]) -> bool:
    """Each tree's shell runs its loop (it has a child: its traps are set)."""
    table = procs.ProcessTable.scan(markers=False)
    return all(len(table.members(p.pid, None)) >= 2 for p in trees[:count])


def test_many_slow_stops_take_as_long_as_one(
    trees: Callable[[int, str], list[subprocess.Popen[bytes]]],
) -> None:
    """Eight tasks that each take 1 s to exit after SIGINT stop in about 1 s, not 8."""
    started = trees(8, SLOW_COMMAND)
    wait_until(lambda: _running(8, started))
    began = time.monotonic()
    ended = procs.stop_trees(_targets(started, grace=5.0))
    took = time.monotonic() - began
    assert [e.signal for e in ended] == ["SIGINT"] * 8  # each obeyed its first signal
    assert all(e.survivors == [] for e in ended)
    assert SLOW_EXIT * 0.9 <= took < SLOW_EXIT * 4, took  # one at a time: 8 s
    assert not any(pid_alive(p.pid) for p in started)


def test_each_task_keeps_its_own_escalation(
    trees: Callable[[int, str], list[subprocess.Popen[bytes]]],
) -> None:
    """In one batch, a task that ignores SIGINT gets SIGTERM after its own grace period
    while the others end at once: one slow task does not hold up the rest's signals."""
    polite = trees(3, LOOP)
    stubborn = trees(1, "trap '' INT; " + LOOP)
    wait_until(lambda: _running(3, polite) and _running(1, stubborn))
    targets = _targets(polite, grace=5.0)
    targets.append(procs.StopTarget(stubborn[0].pid, None, grace=0.3))
    began = time.monotonic()
    ended = procs.stop_trees(targets)
    assert [e.signal for e in ended] == ["SIGINT"] * 3 + ["SIGTERM"]
    assert time.monotonic() - began < 4.0  # grace 0.3 s, not the polite tasks' 5 s
    assert not any(pid_alive(p.pid) for p in [*polite, *stubborn])


def test_one_process_scan_serves_every_task(
    trees: Callable[[int, str], list[subprocess.Popen[bytes]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scans of a stop do not grow with the number of tasks stopped."""
    scans = _counting(monkeypatch, procs.ProcessTable, "scan")
    started = trees(16, LOOP)
    wait_until(partial(_running, 16, started))
    scans.clear()
    began = time.monotonic()
    ended = procs.stop_trees(_targets(started, grace=5.0))
    took = time.monotonic() - began
    assert [e.signal for e in ended] == ["SIGINT"] * 16
    # The first scan, then at most one per exit_rescan while the tasks end (however
    # many end in it), and a last one: bounded by time, not by the number of tasks.
    assert len(scans) <= 2 + took / timing.current().exit_rescan, (len(scans), took)
    assert len(scans) < 16 / 2, len(scans)


def test_a_marker_carrier_that_escaped_the_group_is_stopped(
    trees: Callable[[int, str], list[subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    """A child that called setsid is found by its marker, in the same batch as others
    (started in the background by `sh`, it ignores SIGINT: SIGTERM after the grace)."""
    pidfile = tmp_path / "escaped.pid"
    plain = trees(2, LOOP)
    escaping = trees(1, f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 300' & sleep 300")
    escaped = int(wait_until(lambda: pidfile.read_text().strip() if pidfile.exists() else ""))
    assert os.getsid(escaped) == escaped  # out of the task's group and session
    targets = _targets(plain, grace=5.0)
    targets.append(procs.StopTarget(escaping[0].pid, MARKERS[escaping[0].pid], grace=0.3))
    ended = procs.stop_trees(targets)
    assert [e.signal for e in ended] == ["SIGINT", "SIGINT", "SIGTERM"]
    assert escaped in {p.pid for p in ended[-1].found}
    assert not pid_alive(escaped)


def _tasks(count: int, command: str = "sleep 300", extra: str = "") -> str:
    return "".join(
        f'[tasks.t{i}]\ncommand = "{command}"\nrestart_policy = "no"\n{extra}' for i in range(count)
    )


def _lifecycle(project: Project) -> Lifecycle:
    return Lifecycle(load_project(project.config), Tmux(socket_name=project.socket_name))


@pytest.mark.slow
def test_tmux_round_trips_of_start_and_stop_do_not_grow_with_tasks(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start of 3 and of 24 tasks: the same number of tmux calls (one command list for
    the launch, one settle window for the wave); the same for stopping all of them."""
    calls = _tmux_calls(monkeypatch)
    counts: dict[int, tuple[list[str], list[str]]] = {}
    for size in (3, 24):
        project.write(_tasks(size))
        lifecycle = _lifecycle(project)
        calls.clear()
        began = time.monotonic()
        report = lifecycle.start()
        took = time.monotonic() - began
        assert sorted(report.started) == sorted(f"t{i}" for i in range(size))
        assert took >= timing.current().settle  # every task lived through the settle window
        started = list(calls)
        rows = project.status()
        assert all(rows[f"t{i}"]["state"] == "running" for i in range(size))
        calls.clear()
        stopped = lifecycle.stop()
        assert stopped.stopped == {f"t{i}": "SIGINT" for i in range(size)}
        assert stopped.session_ended
        counts[size] = (started, list(calls))
    # Everything but the settle window's polls (one list-panes per 0.1 s, however many
    # tasks) is the same for 3 and 24 tasks: one launch, the same stop calls.
    for small, large in zip(counts[3], counts[24], strict=True):
        assert [c for c in large if c != "list-panes"] == [c for c in small if c != "list-panes"]
    launch, stop = counts[24]
    assert launch.count("source-file") == 1, launch  # the one launch command list
    assert (
        launch.count("list-panes") <= 4 + timing.current().settle / timing.current().settle_poll
    ), launch
    assert len(stop) <= 5, stop  # observe, mark all, list and close windows, check


def _tmux_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the first tmux command of each client call (the real call still runs)."""
    calls: list[str] = []
    real = Tmux._call

    def recorded(self: Tmux, argv: list[str], script: str | None = None) -> Any:
        calls.append("source-file" if "source-file" in argv else argv[len(self._base)])
        return real(self, argv, script)

    monkeypatch.setattr(Tmux, "_call", recorded)
    return calls


def test_stop_of_named_tasks_marks_all_in_one_call_and_shows_them_stopped(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(_tasks(12))
    assert project.run("start").returncode == 0
    calls = _tmux_calls(monkeypatch)
    names = [f"t{i}" for i in range(10)]
    report = _lifecycle(project).stop(names)
    assert report.stopped == dict.fromkeys(names, "SIGINT")
    assert calls == ["list-panes", "set-option", "run-shell"]  # observe, mark all, reap
    rows = project.status()
    assert all(rows[n]["state"] == "stopped" and rows[n]["manually_stopped"] for n in names)
    assert rows["t10"]["state"] == "running" and rows["t11"]["state"] == "running"
    events = [e for e in project.events() if e["event"] == "stopped"]
    assert sorted(e["task"] for e in events) == sorted(names)


def test_many_slow_tasks_stop_through_the_cli_in_about_one_exit(project: Project) -> None:
    """`taskmux stop` of 8 tasks that take 1 s each to exit: about 1 s, every one SIGINT,
    with each task's stop hooks run and the session ended."""
    hooks = '[tasks.t{i}.hooks]\nafter_stop = "echo t{i} >> stopped.txt"\n'
    body = "".join(
        f'[tasks.t{i}]\ncommand = "{SLOW_COMMAND}"\nrestart_policy = "no"\n' + hooks.format(i=i)
        for i in range(8)
    )
    project.write(body)
    assert project.run("start").returncode == 0
    began = time.monotonic()
    result = project.json("stop")
    took = time.monotonic() - began
    assert result["stopped"] == {f"t{i}": "SIGINT" for i in range(8)}
    assert result["session_ended"] is True
    assert took < SLOW_EXIT * 4, took  # one at a time would take 8 s
    ran = (project.root / "stopped.txt").read_text().split()
    assert sorted(ran) == sorted(f"t{i}" for i in range(8))
    assert project.marked_processes() == []


def test_the_group_of_a_pane_process_that_died_unreaped_is_still_stopped(
    trees: Callable[[int, str], list[subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    """The pane's shell exited but is not reaped yet (a zombie, as in the moment before
    tmux notices): what it left in its process group is still the task's."""
    pidfile = tmp_path / "child.pid"
    (shell,) = trees(1, f"sleep 300 & echo $! > {pidfile}; exit 0")
    child = int(wait_until(lambda: pidfile.read_text().strip() if pidfile.exists() else ""))
    wait_until(lambda: procs.ProcessTable.scan(markers=False).procs[shell.pid].zombie)
    (ended,) = procs.stop_trees([procs.StopTarget(shell.pid, None, grace=0.2)])
    assert child in {p.pid for p in ended.found}
    assert ended.signal in ("SIGINT", "SIGTERM")  # a background job of `sh` ignores SIGINT
    assert not pid_alive(child)


def test_stop_waves_put_dependents_first_and_scale_with_depth() -> None:
    from taskmux.lifecycle.stop import stop_waves

    graph = {"db": [], "mig": ["db"], "web": ["mig", "db"], "worker": ["web"], "x": []}
    assert stop_waves(graph, list(graph)) == [["worker", "x"], ["web"], ["mig"], ["db"]]
    # worker depends on db through tasks that are not being stopped: still first
    assert stop_waves(graph, ["db", "worker", "x"]) == [["worker", "x"], ["db"]]
    assert stop_waves({"a": ["b"], "b": ["a"], "c": []}, ["a", "b", "c"]) == [["c"], ["a", "b"]]
    chain = {f"t{i}": [f"t{i - 1}"] if i else [] for i in range(300)}
    began = time.monotonic()
    waves = stop_waves(chain, list(chain))
    assert time.monotonic() - began < 1.0  # it took minutes when each round rescanned
    assert waves == [[f"t{i}"] for i in reversed(range(300))]
