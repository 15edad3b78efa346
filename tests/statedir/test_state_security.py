"""The state folder is trusted only when it is ours alone (issue 11, item 4).

Each test runs the CLI on a private tmux server (in the test's process where no real
process is needed: a supervisor that is killed, or a daemon that `daemon stop` signals). Tests that need another real
user create one with `useradd` (root only) and remove it afterwards.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from daemon_helpers import DaemonThread
from harness import Project, Supervising, holds_for, pid_alive, project, wait_until

from taskmux.statedir.claim import claim_name, supervisor_running
from taskmux.statedir.paths import ProjectPaths

__all__ = ["project"]

SLEEPER = """
[tasks.web]
command = "echo web-says-hello; sleep 300"
"""


def _error(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert "Traceback" not in result.stderr, result.stderr
    error: dict[str, str] = json.loads(result.stdout)["error"]
    return error


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _log_text(project: Project, task: str) -> str:
    result = project.run("logs", task, "-n", "100")
    return result.stdout


# Created private ---------------------------------------------------------------------


def test_every_folder_and_file_taskmux_creates_is_private_whatever_the_umask(
    project: Project, isolated_home: Path
) -> None:
    project.write(SLEEPER)
    assert not (isolated_home / ".local").exists()
    # umask 000: every mode below comes from taskmux alone (the tmux server it starts,
    # and so the log writer, inherit that umask too). The start runs in this process, so
    # the umask is this process's for the call.
    umask = os.umask(0)
    try:
        result = project.run("start", "--json")
    finally:
        os.umask(umask)
    assert result.returncode == 0, result.stdout + result.stderr
    wait_until(lambda: "web-says-hello" in _log_text(project, "web"))
    paths = project.paths
    folders = [
        isolated_home / ".local",
        isolated_home / ".local" / "state",
        paths.root.parent,
        paths.root,
        paths.root / "logs",
        paths.root / "locks",
    ]
    assert {str(f): _mode(f) for f in folders} == {str(f): 0o700 for f in folders}
    files = [paths.log_file("web"), paths.events, paths.root / "config-cache.json"]
    files += list((paths.root / "locks").iterdir())
    assert {str(f): _mode(f) for f in files} == {str(f): 0o600 for f in files}


# Refused when not ours alone ---------------------------------------------------------


@pytest.mark.parametrize("level", ["state root", "project folder"])
def test_a_state_folder_writable_by_others_is_refused(project: Project, level: str) -> None:
    project.write(SLEEPER)
    assert project.run("status").returncode == 0
    folder = project.paths.root if level == "project folder" else project.paths.root.parent
    folder.chmod(0o777)
    for command in (["status"], ["start"], ["events"]):
        result = project.run(*command, "--json")
        error = _error(result)
        assert result.returncode == 2 and error["code"] == "E801", result.stdout
        assert str(folder) in error["message"] and f"chmod 700 {folder}" in error["message"]
    assert project.tmux("has-session", "-t", project.session).returncode != 0  # nothing started
    folder.chmod(0o700)
    assert project.run("status").returncode == 0


@pytest.mark.parametrize("level", ["state root", "project folder"])
def test_a_state_folder_owned_by_another_user_is_refused(
    project: Project, other_user: pwd.struct_passwd, level: str
) -> None:
    project.write(SLEEPER)
    assert project.run("status").returncode == 0
    folder = project.paths.root if level == "project folder" else project.paths.root.parent
    os.chown(folder, other_user.pw_uid, other_user.pw_gid)
    result = project.run("start", "--json")
    error = _error(result)
    assert result.returncode == 2 and error["code"] == "E801"
    assert str(folder) in error["message"] and other_user.pw_name in error["message"]
    assert project.tmux("has-session", "-t", project.session).returncode != 0
    os.chown(folder, 0, 0)


def test_a_pre_created_state_root_of_another_user_is_refused_before_anything_is_written(
    project: Project, other_user: pwd.struct_passwd
) -> None:
    """The shared-state-root attack: another user makes `taskmux/` first, world-readable."""
    project.write(SLEEPER)
    root = ProjectPaths.for_config(project.config).root.parent
    root.parent.mkdir(parents=True)
    root.mkdir(mode=0o755)
    os.chown(root, other_user.pw_uid, other_user.pw_gid)
    result = project.run("status", "--json")
    assert result.returncode == 2 and _error(result)["code"] == "E801"
    assert list(root.iterdir()) == []  # not even the config cache went there


# Symlinks are never followed ---------------------------------------------------------


def test_a_symlink_planted_at_a_log_file_is_not_followed(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project.write(SLEEPER)
    victim = tmp_path_factory.mktemp("victim") / "precious.txt"
    victim.write_text("precious\n")
    paths = project.paths.ensure()
    (paths.root / "logs").mkdir(mode=0o700)
    paths.log_file("web").symlink_to(victim)
    (paths.root / "killed").mkdir(mode=0o700)
    assert project.run("start").returncode == 0
    wait_until(lambda: "web-says-hello" in _log_text(project, "web"))
    assert project.status()["web"]["running"]
    assert victim.read_text() == "precious\n"
    log = paths.log_file("web")
    assert stat.S_ISREG(log.lstat().st_mode) and _mode(log) == 0o600  # a file of its own now


def test_symlinks_at_state_files_are_never_written_through(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """events, kill marks and `logs --clear` replace or remove a planted link; a lock
    file that is a link refuses with E801; the link's target is never touched."""
    project.write(SLEEPER)
    victims = tmp_path_factory.mktemp("victims")
    paths = project.paths.ensure()
    planted = {
        "events": paths.events,
        "killed": paths.killed_mark("web"),
        "log": paths.log_file("web"),
    }
    for name, where in planted.items():
        (victims / name).write_text(f"{name} stays\n")
        where.parent.mkdir(mode=0o700, exist_ok=True)
        where.symlink_to(victims / name)
    assert project.run("start").returncode == 0
    wait_until(lambda: project.status()["web"]["running"])
    assert any(e["event"] == "started" for e in project.events())
    paths.log_file("web").unlink()
    paths.log_file("web").symlink_to(victims / "log")
    assert project.run("logs", "web", "--clear").returncode == 0
    assert project.run("kill", "web").returncode == 0
    for name in planted:
        assert (victims / name).read_text() == f"{name} stays\n", name
    assert stat.S_ISREG(paths.killed_mark("web").lstat().st_mode)

    lock = paths.task_lock("web")
    lock.unlink(missing_ok=True)
    lock.symlink_to(victims / "log")
    result = project.run("start", "--json")
    error = _error(result)
    assert result.returncode == 2 and error["code"] == "E801" and str(lock) in error["message"]
    assert (victims / "log").read_text() == "log stays\n"


# Forged files are ignored ------------------------------------------------------------


def _forge_cache(project: Project, victim: Path) -> Path:
    """Rewrite the config cache (keeping its key) so that it runs another command."""
    cache = project.paths.root / "config-cache.json"
    data = json.loads(cache.read_text())
    data["config"]["tasks"]["web"]["command"] = f"echo forged > {victim}; sleep 300"
    cache.unlink()
    cache.write_text(json.dumps(data))
    return cache


@pytest.mark.parametrize("how", ["other-writable", "symlink"])
def test_a_forged_config_cache_is_ignored(
    project: Project, how: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project.write(SLEEPER)
    assert project.run("status").returncode == 0  # writes the cache
    victim = tmp_path_factory.mktemp("forged") / "ran"
    cache = _forge_cache(project, victim)
    if how == "other-writable":
        cache.chmod(0o666)
    else:
        elsewhere = victim.parent / "cache.json"
        cache.rename(elsewhere)
        cache.symlink_to(elsewhere)
    _assert_real_config_runs(project, victim)


def test_a_config_cache_owned_by_another_user_is_ignored(
    project: Project, other_user: pwd.struct_passwd, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project.write(SLEEPER)
    assert project.run("status").returncode == 0
    victim = tmp_path_factory.mktemp("forged") / "ran"
    cache = _forge_cache(project, victim)
    cache.chmod(0o600)
    os.chown(cache, other_user.pw_uid, other_user.pw_gid)
    _assert_real_config_runs(project, victim)


def _assert_real_config_runs(project: Project, victim: Path) -> None:
    assert project.status()["web"]["command"] == "echo web-says-hello; sleep 300"
    assert project.run("start").returncode == 0
    wait_until(lambda: "web-says-hello" in _log_text(project, "web"))
    assert not victim.exists()
    cache = project.paths.root / "config-cache.json"
    info = cache.lstat()
    assert stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and _mode(cache) == 0o600


def test_a_forged_daemon_state_file_is_not_trusted(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`daemon stop` signals the pid daemon.json names: a file others could have written
    must not make it signal anything."""
    project.write(SLEEPER)
    paths = project.paths.ensure()
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        record = {
            "pid": bystander.pid,
            "port": 1,
            "token_file": str(paths.daemon_token),
            "started": 4e9,
        }
        paths.daemon_state.write_text(json.dumps(record))
        paths.daemon_state.chmod(0o666)
        for command in ("status", "stop"):
            result = project.run("daemon", command, "--json")
            assert result.returncode == 1 and _error(result)["code"] == "E502", command
        elsewhere = tmp_path_factory.mktemp("forged") / "daemon.json"
        paths.daemon_state.rename(elsewhere)
        elsewhere.chmod(0o600)
        paths.daemon_state.symlink_to(elsewhere)
        result = project.run("daemon", "stop", "--json")
        assert result.returncode == 1 and _error(result)["code"] == "E502"
        holds_for(lambda: pid_alive(bystander.pid), 0.3)
    finally:
        bystander.kill()
        bystander.wait()


def test_a_token_file_others_can_read_is_refused(project: Project) -> None:
    project.write(SLEEPER)
    daemon = project.spawn("daemon", "--port", "0", "--json")
    paths = project.paths
    wait_until(lambda: paths.daemon_state.exists() and daemon.poll() is None, timeout=20)
    assert project.run("daemon", "status").returncode == 0
    paths.daemon_token.chmod(0o644)
    result = project.run("daemon", "status", "--json")
    error = _error(result)
    assert result.returncode == 2 and error["code"] == "E801"
    assert str(paths.daemon_token) in error["message"]
    assert project.run("daemon", "stop").returncode == 0  # stopping needs no token
    assert daemon.wait(timeout=20) is not None


# One supervisor, even when the state folder is removed -------------------------------


@pytest.mark.parametrize("first", ["start -m", "daemon"])
def test_removing_the_state_folder_does_not_allow_a_second_supervisor(
    project: Project, first: str
) -> None:
    """The first supervisor runs in a thread of the test's process (the claim answers
    from its own thread); the second ones are refused in the test's main thread, and the
    next one runs once the first has ended."""
    project.write(SLEEPER)
    lock = project.paths.supervisor_lock
    supervisor: Supervising | DaemonThread
    if first == "daemon":
        supervisor = DaemonThread(project.root, ui_port=0).begin()
    else:
        supervisor = project.supervise()
    ready = project.paths.daemon_state if first == "daemon" else project.paths.events
    wait_until(lambda: supervisor_running(lock) and ready.exists(), timeout=20)
    log, spool = project.paths.log_file("web"), project.paths.root / "spool" / "web"

    def collected() -> bool:  # the log collector writes in the folder too: let it finish
        return not spool.exists() or (log.exists() and b"web-says-hello" in log.read_bytes())

    wait_until(collected, timeout=20)

    def removed() -> bool:  # the supervisor may write a file while the folder goes: again
        try:
            shutil.rmtree(project.paths.root)
        except OSError:
            return False
        return True

    wait_until(removed, timeout=10, interval=0.01)
    assert supervisor_running(lock)  # the probe agrees with the claim
    for second in (["start", "-m"], ["daemon", "--port", "0"]):
        result = project.refused(*second, "--json")
        error = _error(result)
        assert result.returncode == 1 and error["code"] == "E501", result.stdout
        assert f"pid {os.getpid()}" in error["message"]
    if isinstance(supervisor, DaemonThread):
        assert supervisor.error is None
        supervisor.stop()
    else:
        assert supervisor.alive
        supervisor.end()
    wait_until(lambda: not supervisor_running(lock))
    again = project.supervise()  # the claim ended with its holder
    assert supervisor_running(lock) and again.claim.warning is None
    holds_for(lambda: again.alive, 0.3)


_SQUATTER = """
import socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.bind(bytes.fromhex(sys.argv[1]))
sock.listen(8)
print("bound", flush=True)
while True:
    sock.accept()[0].close()
"""


def test_another_user_squatting_the_claim_name_cannot_lock_us_out(
    project: Project, other_user: pwd.struct_passwd
) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("abstract socket names are Linux-only")
    project.write(SLEEPER)
    name = claim_name(project.paths.root)
    python = "/usr/bin/python3"  # one the other user can run (not a venv under /root)
    if not os.path.exists(python):
        pytest.skip(f"{python} is needed to run a process as the other user")
    squatter = subprocess.Popen(
        [python, "-c", _SQUATTER, name.hex()],
        user=other_user.pw_uid,
        group=other_user.pw_gid,
        extra_groups=[],
        cwd="/",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert squatter.stdout is not None and squatter.stdout.readline() == "bound\n"
        lock = project.paths.supervisor_lock
        assert not supervisor_running(lock)  # a foreign holder is no supervisor of ours
        monitor = project.supervise()  # what `start -m` prints first is this warning
        assert supervisor_running(lock) and monitor.alive
        second = project.refused("start", "-m", "--json")
        assert second.returncode == 1 and _error(second)["code"] == "E501"  # the lock file
        warning = monitor.claim.warning or ""
        assert "not by a supervisor of yours" in warning and other_user.pw_name in warning
        monitor.end()
    finally:
        squatter.kill()
        squatter.communicate(timeout=10)


def _binds(name: bytes) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.bind(name)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def test_the_claim_name_is_released_when_its_holder_dies(project: Project) -> None:
    project.write(SLEEPER)
    monitor = project.spawn("start", "-m")
    lock = project.paths.supervisor_lock
    wait_until(lambda: supervisor_running(lock), timeout=20)
    monitor.kill()  # no clean-up code runs
    monitor.wait(timeout=10)
    # Free again at once, or within the moment a child the supervisor was starting keeps
    # its copy of the socket (until that child execs: the socket is close-on-exec).
    wait_until(lambda: _binds(claim_name(project.paths.root)), timeout=2, interval=0.005)
    assert not supervisor_running(lock)
    again = project.supervise()  # and a new supervisor is not told another one runs
    assert supervisor_running(lock) and again.alive and again.claim.warning is None
