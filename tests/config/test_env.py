"""Task environments on a real private tmux server: env files and tables reach the task,
its hooks and its health checks; automatic ports; secrets stay off every command line."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from conftest import TASKMUX
from harness import Project, project, wait_until

from taskmux.config.taskenv import MARKER_VAR

__all__ = ["project"]

SECRET = "tok-S3CRET-7f3a"
# What the task must receive, byte for byte: quotes, $, ;, # and a backslash.
SECRET_VALUE = f"""{SECRET} 'single' "double" $NOTVAR ;#x \\ end"""

DOTENV = """\
# shared settings
USER_NAME="Ada Lovelace"   # quoted, with a comment
API_TOKEN=top-level-token
export SHARED=from-dotenv
"""
API_DOTENV = f"""API_TOKEN="{SECRET} 'single' \\"double\\" $NOTVAR ;#x \\\\ end"\n"""

CONFIG = """
env_file = [".env", "?.env.local"]

[env]
FROM_TOP = "top"
GREETING = "hello ${USER_NAME}"
LITERAL = "$$HOME stays"

[tasks.api]
command = "sleep 300"
port = "auto"
env_file = "api.env"
health_check = 'test "$TASKMUX_TASK" = api && test "$PORT" = ${tasks.api.port} && test -n "$API_TOKEN"'
health_interval = 0.2
stop_grace_period = 0.5
restart_backoff = 1.0
restart_delay = 0.2

[tasks.api.env]
FROM_TOP = "task wins"
URL = "http://127.0.0.1:${tasks.api.port}/${GREETING}"

[tasks.api.hooks]
before_start = 'printf "%s|%s|%s|%s" "$TASKMUX_TASK" "$PORT" "$FROM_TOP" "$TASKMUX_PROJECT" > hook.out; printf %s "$API_TOKEN" | sha256sum > hook.sum'

[tasks.worker]
command = "sleep 301"
stop_grace_period = 0.5
"""

# Set by tmux or sh for every pane, not by taskmux.
_PANE_VARS = {"TMUX", "TMUX_PANE", "TERM", "TERM_PROGRAM", "TERM_PROGRAM_VERSION", "COLORTERM"}
_PANE_VARS |= {"PWD", "OLDPWD", "SHLVL", "_"}
_PASSED = {"PATH", "LANG", "VIRTUAL_ENV", MARKER_VAR}


def _write_project(project: Project) -> None:
    (project.root / ".env").write_text(DOTENV)
    (project.root / "api.env").write_text(API_DOTENV)
    project.write(CONFIG)


def _log_tmux_argv(project: Project) -> Path:
    """Put a `tmux` first on the CLI's PATH that appends its argv to a file, then runs the
    real one: every tmux client (and so the server) that taskmux starts is recorded."""
    real = shutil.which("tmux")
    assert real is not None
    folder = project.root.parent / f"{project.root.name}-bin"
    folder.mkdir()
    log = folder / "argv.log"
    wrapper = folder / "tmux"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    project.env["PATH"] = f"{folder}{os.pathsep}{project.env['PATH']}"
    return log


def _environ(pid: int) -> dict[str, str]:
    """A task process's environment, once readable (empty for a moment while it execs)."""
    found: dict[str, str] = wait_until(
        lambda: (env := _raw_environ(pid)) and MARKER_VAR in env and env, timeout=5
    )
    return found


def _raw_environ(pid: int) -> dict[str, str]:
    """/proc/PID/environ read as bytes (psutil reads it as text, turning \r\n into \n)."""
    try:
        data = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.decode().partition("=") for item in data.split(b"\0") if b"=" in item)
    return {name: value for name, _, value in pairs}


def _server_env(project: Project) -> set[str]:
    lines = project.tmux("show-environment", "-g").stdout.splitlines()
    return {line.partition("=")[0] for line in lines if not line.startswith("-")}


def _command_lines_holding(text: str) -> list[str]:
    found = []
    needle = text.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found.append(f"{entry.name}: {cmdline!r}")
    return found


def _files_holding(folder: Path, text: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def test_each_task_gets_exactly_the_documented_variables(project: Project) -> None:
    _write_project(project)
    result = project.run("start")
    assert result.returncode == 0, result.stderr
    rows = project.status()
    port = rows["api"]["port"]
    assert isinstance(port, int) and rows["api"]["port_auto"] is True
    wait_until(lambda: project.status()["api"]["running"] and project.status()["worker"]["running"])
    base = _server_env(project)
    shared = {
        "USER_NAME": "Ada Lovelace",
        "SHARED": "from-dotenv",
        "GREETING": "hello Ada Lovelace",
        "LITERAL": "$HOME stays",
        "TASKMUX_PROJECT": project.session,
        "TASKMUX_WORKTREE": "main",
    }
    expected = {
        "api": shared
        | {
            "API_TOKEN": SECRET_VALUE,
            "FROM_TOP": "task wins",
            "URL": f"http://127.0.0.1:{port}/hello Ada Lovelace",
            "TASKMUX_TASK": "api",
            "PORT": str(port),
        },
        "worker": shared
        | {"API_TOKEN": "top-level-token", "FROM_TOP": "top", "TASKMUX_TASK": "worker"},
    }
    for task, wanted in expected.items():
        env = _environ(rows[task]["pid"])
        assert {k: env.get(k) for k in wanted} == wanted, task
        extra = set(env) - base - _PANE_VARS - _PASSED
        assert extra == set(wanted) - base, task
        assert env[MARKER_VAR] == project.paths.marker(task)
    assert "PORT" not in _environ(rows["worker"]["pid"])

    # The hook saw the task's variables (the secret compared by digest only)...
    hook = (project.root / "hook.out").read_text()
    assert hook == f"api|{port}|task wins|{project.session}"
    digest = (project.root / "hook.sum").read_text().split()[0]
    assert digest == hashlib.sha256(SECRET_VALUE.encode()).hexdigest()
    # ...and so does the health check (which also expands ${tasks.api.port}).
    health = project.json("health")
    assert health["tasks"]["api"]["healthy"] is True, health

    inspect = project.json("inspect", "api")
    assert inspect["session"] == project.session and inspect["port"] == port
    assert {"API_TOKEN", "URL", "PORT", "TASKMUX_TASK"} <= set(inspect["env_names"])
    assert inspect["env_problems"] == []


def test_a_missing_env_file_and_an_undefined_name_are_one_line_config_errors(
    project: Project,
) -> None:
    project.write(
        """
        env_file = "missing.env"
        [tasks.api]
        command = "sleep 300"
        env = { DB = "${NOPE}" }
        """
    )
    result = project.run("start")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error[E122]: "), result.stderr
    assert "key 'env_file'" in lines[0] and "'missing.env' does not exist" in lines[0]
    assert "?missing.env" in lines[0]
    assert project.json("status")["session_running"] is False

    (project.root / "missing.env").write_text("OTHER=1\n")
    result = project.run("start", "api")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error[E119]: "), result.stderr
    assert "task 'api'" in lines[0] and "key 'env.DB'" in lines[0] and "${NOPE}" in lines[0]
    assert f"{project.config}:6:" in lines[0]  # the line of the env table
    assert project.json("status")["session_running"] is False

    # A restart refuses before it stops anything.
    project.write('[tasks.api]\ncommand = "sleep 300"\nenv = { DB = "${DB_HOST}" }\n')
    project.env["DB_HOST"] = "db.local"  # taskmux's own environment is the fallback
    assert project.run("start").returncode == 0
    pid = project.status()["api"]["pid"]
    assert _environ(pid)["DB"] == "db.local"
    del project.env["DB_HOST"]
    result = project.run("restart", "api")
    assert result.returncode == 2 and "error[E119]" in result.stderr
    assert project.status()["api"]["pid"] == pid

    project.write(
        """
        env_file = "missing.env"
        [tasks.api]
        command = "sleep 300"
        env = { DB = "${NOPE}" }
        """
    )
    (project.root / "missing.env").unlink()
    check = project.json("check")
    assert check["ok"] is False
    assert {p["code"] for p in check["problems"]} == {"E122", "E119"}


def test_secrets_stay_off_command_lines_out_of_state_files_and_inspect(project: Project) -> None:
    argv_log = _log_tmux_argv(project)
    _write_project(project)
    assert project.run("start").returncode == 0
    api_pid = project.status()["api"]["pid"]
    assert _environ(api_pid)["API_TOKEN"] == SECRET_VALUE

    # A supervisor's relaunch delivers the environment the same way.
    daemon = project.spawn("daemon", "--port", "0")
    wait_until(lambda: project.paths.daemon_state.exists(), timeout=20)
    os.kill(api_pid, signal.SIGKILL)
    wait_until(lambda: any(e["event"] == "restarted" for e in project.events()), timeout=20)

    def relaunched_pid() -> int | None:
        pid = project.status()["api"]["pid"]
        return pid if pid not in (None, api_pid) else None

    relaunched = wait_until(relaunched_pid)
    assert _environ(relaunched)["API_TOKEN"] == SECRET_VALUE
    assert project.run("restart", "worker").returncode == 0

    inspect = project.run("inspect", "api", "--json")
    assert inspect.returncode == 0 and SECRET not in inspect.stdout
    assert "API_TOKEN" in inspect.stdout
    assert _command_lines_holding(SECRET) == []
    recorded = argv_log.read_text()
    assert "source-file -" in recorded and "respawn-pane" not in recorded
    assert SECRET not in recorded
    sessions = project.tmux("show-environment", "-t", f"={project.session}").stdout
    assert SECRET not in sessions and SECRET not in project.tmux("show-environment", "-g").stdout
    daemon.send_signal(signal.SIGTERM)
    daemon.communicate(timeout=20)
    assert _files_holding(project.paths.root, SECRET) == []
    assert (project.paths.root / "daemon.log").exists()


def test_auto_port_is_kept_across_restarts_and_sessions_while_free(project: Project) -> None:
    server = f"{sys.executable} -m http.server $PORT --bind 127.0.0.1"
    project.write(
        f"""
        [tasks.api]
        command = "{server}"
        port = "auto"
        stop_grace_period = 0.5
        [tasks.web]
        command = "sleep 300"
        env = {{ API_URL = "http://127.0.0.1:${{tasks.api.port}}" }}
        stop_grace_period = 0.5
        """
    )
    # web alone: api's port is chosen on demand, before api ever started.
    assert project.run("start", "web").returncode == 0
    port = project.status()["api"]["port"]
    assert isinstance(port, int)
    web_env = _environ(project.status()["web"]["pid"])
    assert web_env["API_URL"] == f"http://127.0.0.1:{port}"
    assert project.run("start", "api").returncode == 0
    wait_until(lambda: _listening(port))
    assert project.run("restart", "api").returncode == 0
    assert project.status()["api"]["port"] == port
    wait_until(lambda: _listening(port))
    assert project.json("stop")["session_ended"] is True
    assert project.run("start").returncode == 0  # a new session: same port
    assert project.status()["api"]["port"] == port
    wait_until(lambda: _listening(port))
    assert project.run("stop").returncode == 0

    # Something else takes the port meanwhile: the next start picks another and says so.
    intruder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        intruder.bind(("127.0.0.1", port))
        intruder.listen()
        assert project.run("start").returncode == 0
        moved = project.status()["api"]["port"]
        assert moved != port
        wait_until(lambda: _listening(moved))
        changed = [e for e in project.events() if e["event"] == "port_changed"]
        assert changed[-1]["port"] == moved and changed[-1]["previous"] == port
        assert _environ(project.status()["api"]["pid"])["PORT"] == str(moved)
    finally:
        intruder.close()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_env_command_prints_what_eval_needs(project: Project) -> None:
    _write_project(project)
    result = project.run("env")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("export TASKMUX_API_PORT=")
    port = int(lines[0].rpartition("=")[2])
    assert project.status()["api"]["port"] == port  # chosen on demand, and kept

    data = project.json("env", "api")
    assert data["ports"] == {"api": port} and data["session"] == project.session
    assert data["env"]["API_TOKEN"] == SECRET_VALUE
    assert data["env"]["PORT"] == str(port) and data["env"]["TASKMUX_TASK"] == "api"
    assert data["env"]["TASKMUX_API_PORT"] == str(port)

    # A one-off command run as the task would see it (the secret compared by digest).
    script = (
        f'eval "$({TASKMUX} env api)" && printf "%s|%s|%s|" "$PORT" "$URL" "$TASKMUX_API_PORT"'
        ' && printf %s "$API_TOKEN" | sha256sum'
    )
    shell = subprocess.run(
        ["/bin/sh", "-c", script], cwd=project.root, env=project.env, capture_output=True, text=True
    )
    assert shell.returncode == 0, shell.stderr
    digest = hashlib.sha256(SECRET_VALUE.encode()).hexdigest()
    url = f"http://127.0.0.1:{port}/hello Ada Lovelace"
    assert shell.stdout.startswith(f"{port}|{url}|{port}|{digest}")

    unknown = project.run("env", "nope")
    assert unknown.returncode == 2 and unknown.stderr.startswith("error[E201]")


NASTY = [
    "it's", 'dq"x', "$HOME", "${HOME}", "~", "~/x", "#{session_name}", "#(id)", "a;b", ";",
    "a ; b", "\\", "a\\", "\\;", "line1\nline2", "x\r\ny", "tab\tx", "{", "}", "%if 1",
    "%hidden x=1", "  spaced  ", "", "'", "''", "\\'", "#", "# comment", "ü€", "$(id)",
    "`id`", "##", "-e", "--", "=", "a=b=c",
]  # fmt: skip


def test_any_value_reaches_the_task_byte_for_byte(project: Project) -> None:
    """The tmux configuration quoting of a launch keeps every value exactly."""
    from taskmux.runtime.tmux_manager import Launch, Observation, Tmux

    tmux = Tmux(socket_name=project.socket_name)
    env = {f"V{i}": value for i, value in enumerate(NASTY)}
    spec = Launch("t", "exec sleep 300", project.root, env)
    tmux.launch("nasty", [spec], Observation(False, session="nasty"), owner="test")
    pid = int(project.tmux("list-panes", "-t", "=nasty:", "-F", "#{pane_pid}").stdout)
    got = wait_until(lambda: _raw_environ(pid) if "V0" in _raw_environ(pid) else None)
    assert {k: got.get(k) for k in env} == env
    assert (
        project.tmux("show-options", "-v", "-t", "=nasty:", "@taskmux_project").stdout == "test\n"
    )
