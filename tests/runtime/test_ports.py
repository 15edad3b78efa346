"""Port cleanup and self-daemonizing tasks, with real listeners, users and tmux servers.

A task's port is freed only from this project's leftovers (its marker, or a process
started from inside the project folder), pre-fork servers included; anything else fails
the start with E304 naming pid, user and command, unless `--kill-port` is given.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest
from harness import Project, pid_alive, project, wait_until

from taskmux.runtime import listeners, timing
from taskmux.runtime.port_guard import Scope, judge_all, refusal

__all__ = ["project"]

LISTENER = textwrap.dedent(
    """
    import socket, sys, time
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen()
    time.sleep(300)
    """
)

# A pre-fork server: the master binds and listens, three forked workers accept on the
# same socket, and the master replaces any worker that dies. On SIGTERM it ends its
# workers and exits (gunicorn, uvicorn --workers); "stubborn" ignores SIGTERM instead.
PREFORK = textwrap.dedent(
    """
    import os, signal, socket, sys, time
    port, pidfile, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    workers = set()

    def spawn():
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            while True:
                conn, _ = sock.accept()
                conn.close()
        workers.add(pid)

    def on_term(signum, frame):
        for pid in workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term if mode == "graceful" else signal.SIG_IGN)
    for _ in range(3):
        spawn()
    with open(pidfile + ".tmp", "w") as out:
        out.write(" ".join(map(str, [os.getpid(), *workers])))
    os.rename(pidfile + ".tmp", pidfile)
    while True:
        pid, _ = os.wait()
        workers.discard(pid)
        spawn()
    """
)

# `redis-server --daemonize yes` in small: the parent exits 0 at once, the child calls
# setsid and forks again, and the grandchild (stdio on /dev/null) serves the port. SIGHUP
# is ignored until then: the pane's exit hangs up the child's first process group.
DAEMONIZE = textwrap.dedent(
    """
    import os, signal, socket, sys, time
    port = int(sys.argv[1])
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # The parent exits once the server listens, as systemd's Type=forking expects, so
    # a loaded machine cannot put the bind after the parent's exit and the first look.
    ready, tell = os.pipe()
    if os.fork() > 0:
        os.close(tell)
        os.read(ready, 1)
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
    os.write(tell, b"1")
    os.close(tell)
    time.sleep(300)
    """
)


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listener_pids(port: int) -> set[int]:
    return {h.pid for h in listeners.port_holders(port) if h.pid is not None}


@contextlib.contextmanager
def running(argv: list[str], **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A process of the test's own, ended (by its pid) and reaped however the test ends."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **popen)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def serve_task(project: Project, port: int, name: str = "srv") -> None:
    project.write(
        f"""
        [tasks.{name}]
        command = "{sys.executable} listener.py {port}"
        port = {port}
        stop_grace_period = 0.5
        """
    )
    (project.root / "listener.py").write_text(LISTENER)


def events_of(project: Project, kind: str) -> list[dict[str, Any]]:
    return [e for e in project.events() if e["event"] == kind]


def test_a_leftover_of_this_project_is_freed_and_recorded(project: Project) -> None:
    port = free_tcp_port()
    serve_task(project, port)
    # An orphan of a crashed session: its own session, started from the project folder.
    with running(
        [sys.executable, "listener.py", str(port)], cwd=project.root, start_new_session=True
    ) as stray:
        wait_until(lambda: listeners.port_is_held(port))
        result = project.run("start")
        assert result.returncode == 0, result.stderr
        assert stray.wait(timeout=10) is not None
    wait_until(lambda: project.status()["srv"]["running"])
    (freed,) = events_of(project, "port_freed")
    assert freed["task"] == "srv" and freed["port"] == port and freed["forced"] is False
    assert freed["pids"] == [stray.pid]
    assert freed["users"] == [pwd.getpwuid(os.getuid()).pw_name]
    assert "listener.py" in freed["commands"][0]
    wait_until(lambda: listeners.port_is_held(port))  # the task itself now serves it


def test_a_listener_started_elsewhere_is_left_alone_until_kill_port(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    port = free_tcp_port()
    serve_task(project, port)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "listener.py").write_text(LISTENER)
    with running([sys.executable, "listener.py", str(port)], cwd=elsewhere) as foreign:
        wait_until(lambda: listeners.port_is_held(port))
        result = project.run("start")
        assert result.returncode == 1
        user = pwd.getpwuid(os.getuid()).pw_name
        assert "E304" in result.stderr
        assert f"pid {foreign.pid} (user {user}: {sys.executable} listener.py {port})" in (
            result.stderr
        )
        assert f"it runs from {elsewhere}" in result.stderr
        assert "--kill-port" in result.stderr
        assert project.json("start")["ok"] is False
        assert foreign.poll() is None and listener_pids(port) == {foreign.pid}
        assert events_of(project, "port_freed") == []

        forced = project.run("start", "--kill-port")
        assert forced.returncode == 0, forced.stderr
        assert foreign.wait(timeout=10) is not None
    (freed,) = events_of(project, "port_freed")
    assert freed["pids"] == [foreign.pid] and freed["forced"] is True
    wait_until(lambda: project.status()["srv"]["running"])


def test_another_taskmux_projects_task_is_named_and_left_alone(project: Project) -> None:
    port = free_tcp_port()
    serve_task(project, port)
    env = {**os.environ, "TASKMUX_MARKER": "blog-0123456789/web", "TASKMUX_PROJECT": "blog"}
    # Even from inside this project's folder: its marker says whose it is.
    with running([sys.executable, "listener.py", str(port)], cwd=project.root, env=env) as other:
        wait_until(lambda: listeners.port_is_held(port))
        result = project.run("start")
        assert result.returncode == 1 and "E304" in result.stderr
        assert f"pid {other.pid}" in result.stderr
        assert "task 'web' of another taskmux project (session 'blog'" in result.stderr
        assert other.poll() is None


def _prefork_pids(pidfile: Path) -> list[int]:
    return [int(p) for p in pidfile.read_text().split()]


@pytest.mark.parametrize("mode", ["graceful", "stubborn"])
def test_a_prefork_server_of_this_project_is_freed_completely(project: Project, mode: str) -> None:
    port = free_tcp_port()
    serve_task(project, port)
    (project.root / "prefork.py").write_text(PREFORK)
    pidfile = project.root / "prefork.pids"
    with running(
        [sys.executable, "prefork.py", str(port), str(pidfile), mode],
        cwd=project.root,
        start_new_session=True,
    ) as master:
        wait_until(pidfile.exists)
        family = _prefork_pids(pidfile)
        assert family[0] == master.pid and len(family) == 4
        wait_until(lambda: listener_pids(port) == set(family))  # four holders, one socket
        started = time.monotonic()
        result = project.run("start")
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - started < 9
        assert master.wait(timeout=10) is not None
    assert not any(pid_alive(pid) for pid in family)
    wait_until(lambda: project.status()["srv"]["running"])
    task_pid = project.json("inspect", "srv")["pid"]
    wait_until(lambda: listener_pids(port) == {task_pid})  # nothing of the old server is left
    (freed,) = events_of(project, "port_freed")
    assert set(family) <= set(freed["pids"])


# `redis-server --daemonize yes` clears its environment, and the task's marker with it:
# `env -i` does the same here, so only the port and the start time tell whose it is.
@pytest.mark.parametrize("prefix", ["", "env -i "], ids=["marked", "cleared-env"])
def test_a_self_daemonizing_task_is_named_and_stop_ends_it(
    project: Project, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `start` names a daemonized task only when its pane exits within the settle window:
    # a loaded machine can take longer than the fast 0.15 s to start Python and fork.
    monkeypatch.setattr(timing, "DEFAULT", replace(timing.DEFAULT, settle=2.0))
    port = free_tcp_port()
    project.write(
        f"""
        [tasks.cache]
        command = "{prefix}{sys.executable} daemonize.py {port}"
        port = {port}
        stop_grace_period = 0.5
        """
    )
    (project.root / "daemonize.py").write_text(DAEMONIZE)
    started = project.run("start", "--json")
    assert started.returncode == 0, started.stderr
    assert "daemonized itself" in started.stderr and "foreground" in started.stderr
    assert json.loads(started.stdout)["completed"] == ["cache"]
    row = wait_until(lambda: (r := project.status()["cache"])["state"] == "daemonized" and r)
    (daemon_pid,) = row["daemonized"]["pids"]
    assert listener_pids(port) == {daemon_pid}
    assert "run it in the foreground" in row["daemonized"]["fix"]
    assert row["running"] is False
    table = project.run("status")
    assert "daemonized" in table.stdout and str(daemon_pid) in table.stdout
    inspected = project.json("inspect", "cache")
    assert inspected["state"] == "daemonized" and inspected["daemonized"]["pids"] == [daemon_pid]
    project.status()  # seen again: still one event for this exit
    (event,) = events_of(project, "daemonized")
    assert event["task"] == "cache" and event["port"] == port
    assert event["pids"] == [daemon_pid] and "foreground" in event["fix"]

    result = project.run("stop", "cache")
    assert result.returncode == 0, result.stderr
    assert "not running" not in result.stdout
    assert f"pid {daemon_pid}" in result.stdout and "daemonized" in result.stdout
    wait_until(lambda: not pid_alive(daemon_pid))
    assert not listeners.port_is_held(port)
    stopped = events_of(project, "stopped")[-1]
    assert stopped["leftovers"] == [daemon_pid] and stopped["daemonized"] is True
    assert project.status()["cache"]["state"] == "stopped"
    again = project.json("stop", "cache")
    assert again["not_running"] == ["cache"] and again["stopped"] == {}


def test_kill_ends_a_daemonized_task_that_cleared_its_environment(project: Project) -> None:
    port = free_tcp_port()
    project.write(
        f"""
        [tasks.cache]
        command = "env -i {sys.executable} daemonize.py {port}"
        port = {port}
        """
    )
    (project.root / "daemonize.py").write_text(DAEMONIZE)
    assert project.run("start").returncode == 0
    row = wait_until(lambda: (r := project.status()["cache"])["state"] == "daemonized" and r)
    (daemon_pid,) = row["daemonized"]["pids"]
    result = project.run("kill", "cache")
    assert result.returncode == 0, result.stderr
    wait_until(lambda: not pid_alive(daemon_pid))
    assert not listeners.port_is_held(port)


def test_a_stranger_on_the_port_of_a_task_that_exited_0_is_left_alone(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server without a marker that started after the task's pane exited is not its own."""
    from taskmux.lifecycle import daemonized

    # tmux stamps a death in whole seconds: a margin of one still covers that.
    monkeypatch.setattr(daemonized, "STARTED_AFTER_EXIT", 1.0)
    port = free_tcp_port()
    project.write(
        f"""
        [tasks.setup]
        command = "true"
        port = {port}
        """
    )
    assert project.run("start").returncode == 0
    wait_until(lambda: project.status()["setup"]["state"] == "completed")
    time.sleep(1.3)  # past the margin for a child forked as the pane exited
    (project.root / "listener.py").write_text(LISTENER)
    clean = {"PATH": os.environ.get("PATH", "")}
    argv = [sys.executable, str(project.root / "listener.py"), str(port)]
    with running(argv, env=clean, cwd="/") as other:
        wait_until(lambda: listeners.port_is_held(port))
        assert project.status()["setup"]["state"] == "completed"
        assert project.run("stop", "setup").returncode == 0
        assert other.poll() is None


def test_the_supervisor_records_a_daemonized_task(project: Project) -> None:
    port = free_tcp_port()
    project.write(
        f"""
        [tasks.cache]
        command = "{sys.executable} daemonize.py {port}"
        port = {port}
        """
    )
    (project.root / "daemonize.py").write_text(DAEMONIZE)
    project.supervise()
    # Not a status call: the supervisor noticed it on its own.
    (event,) = wait_until(lambda: events_of(project, "daemonized"), timeout=15)
    assert event["task"] == "cache" and listener_pids(port) == set(event["pids"])


# A second real user ------------------------------------------------------------------


def _python_for(user: pwd.struct_passwd) -> str:
    """An interpreter that user may run (ours may sit under root's home)."""
    for candidate in (sys.executable, "/usr/bin/python3", shutil.which("python3")):
        if candidate is None:
            continue
        with contextlib.suppress(OSError):
            done = subprocess.run(
                [candidate, "-c", "pass"], user=user.pw_uid, group=user.pw_gid, extra_groups=[]
            )
            if done.returncode == 0:
                return candidate
    pytest.skip(f"no Python interpreter that user {user.pw_name} may run")


def test_another_users_listener_is_refused_even_inside_the_project(
    project: Project, other_user: pwd.struct_passwd
) -> None:
    port = free_tcp_port()
    serve_task(project, port)
    python = _python_for(other_user)
    with running(
        [python, "-c", LISTENER, str(port)],
        cwd=project.root,
        user=other_user.pw_uid,
        group=other_user.pw_gid,
        extra_groups=[],
    ) as theirs:
        wait_until(lambda: listeners.port_is_held(port))
        result = project.run("start")
        assert result.returncode == 1 and "E304" in result.stderr
        assert f"pid {theirs.pid} (user {other_user.pw_name}: {python} -c" in result.stderr
        assert f"belongs to another user ({other_user.pw_name})" in result.stderr
        assert "--kill-port" in result.stderr  # we are root: forcing would work
        assert theirs.poll() is None and listener_pids(port) == {theirs.pid}
        assert events_of(project, "port_freed") == []

        forced = project.run("restart", "srv", "--kill-port")
        assert forced.returncode == 0, forced.stderr
        assert theirs.wait(timeout=10) is not None
    (freed,) = events_of(project, "port_freed")
    assert freed["users"] == [other_user.pw_name] and freed["forced"] is True


def _seen_as(user: pwd.struct_passwd, port: int) -> dict[str, Any]:
    """What a non-root user's taskmux makes of the port: a forked child drops to `user`."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads around
        child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child, which never returns
        try:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            holders = listeners.port_holders(port)
            scope = Scope(user.pw_uid, "/nonexistent", "x-0/", "db")
            verdicts = judge_all(holders, scope, force=True)
            reply = {
                "holders": [asdict(h) for h in holders],
                "message": refusal("db", port, verdicts, forced_would_work=False),
            }
            os.write(write_end, json.dumps(reply).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 20)
        assert ready, "the child did not answer"
        data = b""
        while chunk := os.read(read_end, 65536):
            data += chunk
    finally:
        os.close(read_end)
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    result: dict[str, Any] = json.loads(data)
    return result


def test_a_holder_this_user_cannot_see_is_described_without_question_marks(
    other_user: pwd.struct_passwd,
) -> None:
    port = free_tcp_port()
    with running([sys.executable, "-c", LISTENER, str(port)]):
        wait_until(lambda: listeners.port_is_held(port))
        seen = _seen_as(other_user, port)
    (holder,) = seen["holders"]
    assert holder["pid"] is None and holder["user"] == "root"
    assert "held by a process of another user, root (pid unknown)" in seen["message"]
    assert "?" not in seen["message"]


def test_both_linux_listener_sources_agree_and_ignore_clients() -> None:
    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("Linux only")
    with socket.socket() as v4, socket.socket(socket.AF_INET6) as v6:
        v4.bind(("127.0.0.1", 0))
        port = v4.getsockname()[1]
        v4.listen()
        try:
            v6.bind(("::1", port))
        except OSError as exc:
            pytest.skip(f"no IPv6 loopback here: {exc}")
        v6.listen()
        with socket.create_connection(("127.0.0.1", port)):
            expected = {os.fstat(v4.fileno()).st_ino, os.fstat(v6.fileno()).st_ino}
            assert set(listeners._sock_diag_listeners(port)) == expected
            assert set(listeners._proc_net_listeners(port) or {}) == expected
            assert listener_pids(port) == {os.getpid()}
    assert not listeners.port_is_held(port)


def test_kill_port_of_one_api_start_does_not_carry_over_to_supervisor_restarts(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`kill_port` is an option of one call: after an API `start` with it, the daemon's
    supervisor (which shares the service and its lifecycle) still frees only this
    project's own orphans. A foreign listener on the task's port makes its restart fail
    (E304, `restart_failed`) and is left running."""
    from taskmux.runtime.timing import Timing
    from taskmux.supervision.supervisor import Supervisor

    port = free_tcp_port()
    serve_task(project, port)
    project.config.write_text(project.config.read_text() + "restart_delay = 0.5\n")
    service = project.service(Timing.fast())
    report = service.start(["srv"], kill_port=True)  # as the API's `start` with kill_port
    assert report.to_dict()["started"] == ["srv"]
    wait_until(lambda: listeners.port_is_held(port))
    os.kill(project.status()["srv"]["pid"], signal.SIGKILL)
    wait_until(lambda: not project.status()["srv"]["running"])
    wait_until(lambda: not listeners.port_is_held(port))
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "listener.py").write_text(LISTENER)
    now = [2_000_000.0]
    supervisor = Supervisor(service, clock=lambda: now[0])
    with running([sys.executable, "listener.py", str(port)], cwd=elsewhere) as foreign:
        wait_until(lambda: listeners.port_is_held(port))
        try:
            supervisor.tick()  # sees the death: the restart is scheduled
            now[0] += 60.0
            supervisor.tick()  # due: the restart runs (and must not take the port)
            supervisor.actions["srv"].result(timeout=30)
        finally:
            supervisor.pool.shutdown(wait=False)
            supervisor.action_pool.shutdown(wait=True)
        assert foreign.poll() is None and listener_pids(port) == {foreign.pid}
        (failed,) = events_of(project, "restart_failed")
        assert failed["task"] == "srv" and f"port {port}" in failed["error"]
        assert events_of(project, "port_freed") == []
        busy = project.run("start")  # the same refusal a person gets: E304
        assert busy.returncode == 1 and "E304" in busy.stderr
