"""The installed `taskmux` command, run as a real process: what only a process shows.

The rest of the suite runs the CLI's entry point in the test's own process (tests/
cli_runner.py); here every call under test goes through the console script (a setup
step may run in the test's process): its exit codes, help and version, stdin that is no
terminal, signals to `start -m` and `logs -f`, error lines, the config commands editing
the file, and the README's demo coming up.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest
from cli_runner import TASKMUX
from harness import Project, project, wait_until
from probe_server import free_port

from taskmux.runtime.timing import TIMING_VAR

__all__ = ["project"]

DEMO = Path(__file__).parents[2] / "examples" / "demo"


@pytest.fixture(autouse=True)
def product_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drive the installed command as a user would: with the product's own pauses."""
    monkeypatch.delenv(TIMING_VAR, raising=False)


def _events(project: Project, task: str, kind: str) -> list[dict[str, object]]:
    return [e for e in project.events() if e["task"] == task and e["event"] == kind]


def test_version_is_the_package_version(project: Project) -> None:
    done = project.run("--version", installed=True)
    assert (done.returncode, done.stdout) == (0, f"taskmux {version('taskmux')}\n")


def test_help_lists_the_commands_and_exits_zero(project: Project) -> None:
    done = project.run("--help", installed=True)
    assert done.returncode == 0, done.stderr
    for command in ("start", "stop", "status", "logs", "daemon", "mcp"):
        assert command in done.stdout


def test_no_command_prints_the_help_and_exits_two(project: Project) -> None:
    done = project.run(installed=True)
    assert done.returncode == 2
    assert "Usage" in done.stdout + done.stderr


def test_an_unknown_command_is_one_line_and_exit_two(project: Project) -> None:
    done = project.run("frobnicate", installed=True)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error[E100]: No such command 'frobnicate'. (see 'taskmux --help')"
    ]


def test_a_json_error_is_one_document_and_one_line(project: Project) -> None:
    done = project.run("status", "--json", installed=True)
    assert done.returncode == 2
    doc = json.loads(done.stdout)
    assert doc["ok"] is False and doc["error"]["code"] == "E101"
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error[E101]: ")
    assert "Traceback" not in done.stderr


def test_json_may_stand_before_the_command(project: Project) -> None:
    done = project.run("--json", "status", installed=True)
    assert json.loads(done.stdout)["error"]["code"] == "E101"


def test_init_without_a_terminal_asks_nothing(project: Project) -> None:
    done = project.run("init", installed=True)  # stdin is /dev/null: no prompt
    assert done.returncode == 0, done.stderr
    assert "created taskmux.toml" in done.stdout
    assert project.config.is_file()


def test_check_names_the_bad_key_and_its_line_and_exits_two(project: Project) -> None:
    project.write('[tasks.web]\ncommand = "sleep 1"\nport = "x"\n')
    done = project.run("check", installed=True)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error[E112]: {project.config}:4: task 'web': key 'port': ")
    assert "Traceback" not in done.stderr
    doc = project.json("check", installed=True)
    assert doc["ok"] is False
    assert [(p["code"], p["task"], p["key"], p["line"]) for p in doc["problems"]] == [
        ("E112", "web", "port", 4)
    ]


def test_import_add_and_remove_edit_the_file_and_keep_its_comments(project: Project) -> None:
    """A Procfile imported, then a task added and one removed, each through the script:
    the file is edited in place, its comments kept, and `check` passes it."""
    (project.root / "Procfile").write_text("web: sleep 300\nworker: sleep 301\n")
    assert project.run("import", "Procfile", installed=True).returncode == 0
    assert project.config.read_text().startswith("# taskmux.toml: imported from Procfile")
    text = project.config.read_text()
    project.config.write_text(text.replace("\n\n", "\n# a note of the user's own\n\n", 1))
    assert project.run("add", "api", "sleep 302", installed=True).returncode == 0
    removed = project.run("remove", "worker", installed=True)
    assert (removed.returncode, removed.stdout) == (0, "removed task 'worker'\n")
    text = project.config.read_text()
    assert "# a note of the user's own" in text and "imported from Procfile" in text
    assert "[tasks.api]" in text and "[tasks.worker]" not in text
    assert project.run("check", installed=True).returncode == 0


def test_start_status_logs_stop_through_the_console_script(project: Project) -> None:
    project.write('[tasks.web]\ncommand = "echo hello from web; sleep 300"\n')
    started = project.json("start", installed=True)
    assert started["ok"] is True and started["started"] == ["web"]
    status = project.json("status", installed=True)
    assert [row["name"] for row in status["tasks"]] == ["web"]
    wait_until(lambda: "hello from web" in project.run("logs", "web", installed=True).stdout)
    stopped = project.run("stop", installed=True)
    assert stopped.returncode == 0 and "session ended" in stopped.stdout


def test_a_failed_start_wait_exits_one(project: Project) -> None:
    # It says why before it dies: a silent death would cost the start its whole wait for
    # the dead task's last output (the product's log_wait), and show the user nothing.
    project.write('[tasks.api]\ncommand = "echo api cannot bind; exit 3"\nrestart_policy = "no"\n')
    done = project.run("start", "--wait", "--timeout", "10", installed=True)
    assert done.returncode == 1
    assert "error[E402]: api: failed to start: exited 3" in done.stderr
    assert "api cannot bind" in done.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_start_m_and_the_tasks_keep_running(
    project: Project, signum: signal.Signals
) -> None:
    project.write('[tasks.a]\ncommand = "sleep 300"\n')
    monitor = project.spawn("start", "-m")
    wait_until(lambda: _events(project, "a", "started"), timeout=15)
    # The loop binds its wake-up socket once its signal handlers are set; a signal before
    # that interrupts the start itself (exit 130), which is another test's matter.
    wait_until(lambda: (project.paths.root / "wake.sock").exists(), timeout=15)
    monitor.send_signal(signum)
    output, _ = monitor.communicate(timeout=15)
    assert monitor.returncode == 0, output
    assert "tasks keep running" in output
    assert project.status()["a"]["running"] is True


def test_logs_follow_ends_on_ctrl_c(project: Project) -> None:
    project.write('[tasks.web]\ncommand = "echo first line; sleep 300"\n')
    assert project.run("start").returncode == 0  # in this process: the follower is the test
    follower = subprocess.Popen(
        [TASKMUX, "logs", "-f", "web"],
        cwd=project.root,
        env=project.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    project.children.append(follower)
    assert follower.stdout is not None
    assert "first line" in follower.stdout.readline()
    follower.send_signal(signal.SIGINT)
    assert follower.wait(10) == 0


def _copy_tracked(source: Path, target: Path) -> None:
    """The demo as a fresh clone has it: git's files only (not the data a run of the
    README's demo leaves in its folder)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "."], cwd=source, capture_output=True, check=False
    )
    if shutil.which("git") is None or listed.returncode != 0:
        pytest.skip("the demo's files are read from git (not a git checkout)")
    for name in listed.stdout.decode().split("\0"):
        if name:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target / name)


def test_the_demo_comes_up_with_its_migration_and_its_body_probe(project: Project) -> None:
    """The README's demo, copied, on a free port: what a newcomer sees first."""
    port = str(free_port())
    _copy_tracked(DEMO, project.root)
    for item in project.root.iterdir():
        if item.suffix in (".py", ".toml"):
            text = item.read_text().replace("8765", port)
            if item.name == "taskmux.toml":
                text = text.replace('name = "demo"', f'name = "{project.session}"')
            item.write_text(text)
    doc = project.json("start", "--wait", "--timeout", "30", installed=True)
    assert doc["ok"] is True, doc
    assert set(doc["started"]) == {"migrate", "web", "worker", "watcher"}
    migrate = doc["wait"]["tasks"]["migrate"]
    assert (migrate["state"], migrate["exit_code"]) == ("completed", 0)
    assert doc["wait"]["tasks"]["web"]["health"]["reason"] == (
        "status 200, body matched /Served by the demo/"
    )
    schema = (project.root / "data" / "schema.txt").read_text().split()
    assert schema == ["0001_create_pages", "0002_add_visits"]
    assert project.run("stop").returncode == 0  # (the test above stops through the script)

    (project.root / "data" / "fail").touch()
    (project.root / "data" / "schema.txt").unlink()
    failed = project.run("start", "--wait", "--timeout", "30", installed=True)
    assert failed.returncode == 1
    assert "✗ migrate: exited 1" in failed.stdout
    assert "0001_create_pages failed" in failed.stdout
    assert "web: skipped: dependency 'migrate' exited 1" in failed.stdout
