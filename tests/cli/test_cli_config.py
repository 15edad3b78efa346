"""End to end: the installed `taskmux` running add, remove, init and check in a temp project."""

from __future__ import annotations

import json
import subprocess
import tomllib
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import TASKMUX, kill_tmux_server, run_cli
from import_probe import imports_of

from taskmux.interop.agents import BEGIN, END

COMMENTED = """\
# Shop: local development processes
name = "shop"  # tmux session

# --- storage ---
[tasks.db]
command = "sleep 600"  # stands in for postgres
port = 15432

# the web app (needs db)
[tasks.web]
command = "sleep 601"
depends_on = ["db"]   # start db first
"""


def _write(folder: Path, text: str) -> Path:
    path = folder / "taskmux.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _comments(text: str) -> list[str]:
    return [line[line.index("#") :] for line in text.splitlines() if "#" in line]


def _tasks(path: Path) -> dict[str, dict[str, object]]:
    tasks: dict[str, dict[str, object]] = tomllib.loads(path.read_text()).get("tasks", {})
    return tasks


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout


def _only_config(folder: Path) -> None:
    """No temp file or lock left beside the config."""
    assert sorted(p.name for p in folder.iterdir()) == ["taskmux.toml"]


@pytest.fixture
def tmux_socket() -> Iterator[str]:
    """A unique tmux socket name with no server behind it (killed again if one appeared)."""
    name = f"taskmux-test-{uuid.uuid4().hex[:12]}"
    yield name
    kill_tmux_server(name)


# ---- one case per validation rule -----------------------------------------------------

BAD_CONFIGS = [
    pytest.param(
        'name = "x"\n[tasks.a\ncommand = "x"\n',
        "E110",
        ["invalid TOML", "taskmux.toml:2:"],
        id="toml",
    ),
    pytest.param(
        '[tasks.a]\ncommand = "x"\ncommand = "y"\n', "E110", ["invalid TOML"], id="toml-dup-key"
    ),
    pytest.param(
        "[tasks.web]\nport = 8000\n",
        "E111",
        ["taskmux.toml:1:", "task 'web'", "key 'command'", "is required"],
        id="missing-command",
    ),
    pytest.param(
        '[tasks.web]\ncommand = "x"\nport = "8000"\n',
        "E112",
        ["taskmux.toml:3:", "key 'port'", "integer", "'8000'"],
        id="type-port",
    ),
    pytest.param(
        '[tasks.web]\ncommand = "x"\nauto_start = "yes"\n',
        "E112",
        ["key 'auto_start'", "boolean"],
        id="type-bool",
    ),
    pytest.param(
        '[tasks.web]\ncommand = "x"\nrestart_policy = "sometimes"\n',
        "E112",
        ["key 'restart_policy'", "'sometimes'"],
        id="type-policy",
    ),
    pytest.param(
        '[tasks.web]\ncommand = "x"\ndepends_on = "db"\n',
        "E112",
        ["key 'depends_on'", "array", "(got 'db')"],
        id="type-depends-on",
    ),
    pytest.param('tasks = ["web"]\n', "E112", ["key 'tasks'", "table"], id="type-tasks"),
    pytest.param(
        '[tasks.web]\ncommand = ""\n', "E113", ["key 'command'", "at least 1"], id="empty-command"
    ),
    *[
        pytest.param(
            f'[tasks.web]\ncommand = "x"\n{key} = {value}\n',
            "E113",
            ["taskmux.toml:3:", "task 'web'", f"key '{key}'", f"(got {value})"],
            id=f"range-{key}-{value}",
        )
        for key, value in [
            ("port", "0"),
            ("port", "65536"),
            ("health_interval", "0"),
            ("health_timeout", "-1"),
            ("health_retries", "0"),
            ("stop_grace_period", "-1"),
            ("max_restarts", "-1"),
            ("restart_backoff", "0.5"),
        ]
    ],
    *[
        pytest.param(
            f'{key} = {value}\n[tasks.web]\ncommand = "x"\n',
            "E113",
            ["taskmux.toml:1:", f"key '{key}'", f"(got {value})"],
            id=f"range-{key}",
        )
        for key, value in [("log_max_size_mb", "0"), ("log_backups", "-1")]
    ],
    pytest.param(
        '[tasks.web]\ncommand = "x"\ndepends_on = ["ghost"]\n',
        "E114",
        ["task 'web'", "key 'depends_on'", "unknown task 'ghost'"],
        id="unknown-dependency",
    ),
    pytest.param(
        '[tasks.a]\ncommand = "x"\ndepends_on = ["b"]\n[tasks.b]\ncommand = "x"\ndepends_on = ["a"]\n',
        "E115",
        ["dependency cycle: a → b → a"],
        id="cycle",
    ),
    pytest.param(
        "[tasks.a]\ncommand = 'x'\ndepends_on = ['b']\n[tasks.b]\ncommand = 'x'\n"
        "depends_on = ['c']\n[tasks.c]\ncommand = 'x'\ndepends_on = ['a']\n",
        "E115",
        ["dependency cycle: a → b → c → a"],
        id="cycle-3",
    ),
    pytest.param(
        '[tasks.a]\ncommand = "x"\ndepends_on = ["a"]\n',
        "E115",
        ["task 'a'", "cannot depend on itself"],
        id="self-dependency",
    ),
    *[
        pytest.param(
            f'[tasks."{name}"]\ncommand = "x"\n',
            "E116",
            [f"task '{name}'", "letters, digits"],
            id=f"task-name-{name}",
        )
        for name in ["my task", "1st", "-web", "a.b", "a:b"]
    ],
    pytest.param('name = "my shop"\n', "E140", ["key 'name'", "'my shop'"], id="session-name"),
]


@pytest.mark.parametrize(("text", "code", "fragments"), BAD_CONFIGS)
@pytest.mark.parametrize("command", [["check"], ["add", "extra", "echo hi"]], ids=["check", "add"])
def test_bad_config_is_one_clear_error(
    tmp_path: Path, text: str, code: str, fragments: list[str], command: list[str]
) -> None:
    path = _write(tmp_path, text)
    before = path.read_bytes()
    result = run_cli(*command, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    _no_traceback(result)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error[")]
    assert errors, result.stderr
    assert errors[0].startswith(f"error[{code}]: {path}"), result.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, result.stderr)
    assert path.read_bytes() == before
    _only_config(tmp_path)


@pytest.mark.parametrize(("text", "code", "fragments"), BAD_CONFIGS[:3] + BAD_CONFIGS[-3:])
def test_bad_config_json(tmp_path: Path, text: str, code: str, fragments: list[str]) -> None:
    _write(tmp_path, text)
    result = run_cli("check", "--json", cwd=tmp_path)
    assert result.returncode == 2
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert code in [p["code"] for p in doc["problems"] if p["severity"] == "error"]
    result = run_cli("add", "extra", "echo hi", "--json", cwd=tmp_path)
    assert result.returncode == 2
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert doc["error"]["code"] == code
    assert fragments[0] in doc["error"]["message"]


def test_unknown_keys_are_warnings(tmp_path: Path) -> None:
    text = 'name = "shop"\ncolour = "red"\n[tasks.web]\ncommand = "echo hi"\nprot = 8000\n'
    path = _write(tmp_path, text)
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _no_traceback(result)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning[W117]")]
    assert len(warnings) == 2, result.stderr
    assert f"{path}:2: key 'colour': unknown key" in warnings[0]
    assert f"{path}:5: task 'web': key 'prot': unknown key" in warnings[1]
    assert path.read_text() == text

    result = run_cli("add", "api", "echo api", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning[W117]" in result.stderr
    assert "'prot'" in result.stderr
    assert path.read_text().startswith(text)
    assert list(_tasks(path)) == ["web", "api"]


def test_every_problem_is_reported_by_check(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "[tasks.a]\nport = 0\n[tasks.b]\ncommand = 'x'\ndepends_on = ['zz']\n"
        "[tasks.c]\ncommand = 'x'\nmax_restarts = -1\ncomand = 'typo'\n",
    )
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    codes = sorted(line.split("]")[0] + "]" for line in lines)
    assert codes == sorted(
        ["error[E111]", "error[E113]", "error[E113]", "error[E114]", "warning[W117]"]
    ), result.stderr
    assert "4 error(s), 1 warning(s)" in result.stdout


# ---- check: environment warnings and JSON --------------------------------------------


def test_check_warns_about_missing_folder_and_program(tmp_path: Path) -> None:
    _write(
        tmp_path,
        '[tasks.web]\ncommand = "echo hi"\ncwd = "frontend"\n'
        '[tasks.api]\ncommand = "no-such-program-9f2c --serve"\n'
        '[tasks.env]\ncommand = "PORT=1 sh -c true"\n',
    )
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _no_traceback(result)
    assert "warning[W120]" in result.stderr
    assert "'frontend' does not exist" in result.stderr
    assert "warning[W121]" in result.stderr
    assert "'no-such-program-9f2c' is not on PATH" in result.stderr
    assert "'sh'" not in result.stderr
    assert "0 error(s), 2 warning(s); 3 task(s) OK" in result.stdout

    (tmp_path / "frontend").mkdir()
    result = run_cli("check", "--json", cwd=tmp_path)
    assert result.returncode == 0
    doc = json.loads(result.stdout)
    assert doc["ok"] is True
    assert [(p["code"], p["severity"], p["task"]) for p in doc["problems"]] == [
        ("W121", "warning", "api")
    ]


def test_check_json_is_one_document(tmp_path: Path) -> None:
    _write(tmp_path, '[tasks.a]\ncommand = "echo"\nport = 0\nmax_restarts = -1\n')
    result = run_cli("check", "--json", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout.count("\n") == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert doc["config"] == str(tmp_path / "taskmux.toml")
    assert sorted(p["key"] for p in doc["problems"]) == ["max_restarts", "port"]
    assert all(p["line"] in (3, 4) for p in doc["problems"])


def test_check_valid_file(tmp_path: Path) -> None:
    _write(tmp_path, COMMENTED)
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "0 error(s), 0 warning(s); 2 task(s) OK" in result.stdout


def test_check_finds_the_config_in_a_parent_or_by_flag(tmp_path: Path) -> None:
    _write(tmp_path, COMMENTED)
    deep = tmp_path / "src" / "pkg"
    deep.mkdir(parents=True)
    assert run_cli("check", cwd=deep).returncode == 0
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "alt.toml").write_text("[tasks.a]\nport = 0\n")
    result = run_cli("-c", str(other / "alt.toml"), "check", cwd=deep)
    assert result.returncode == 2
    assert "alt.toml" in result.stderr


def test_no_config_is_a_usage_error(tmp_path: Path) -> None:
    for args in (["check"], ["add", "web", "echo"], ["remove", "web"]):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2, args
        _no_traceback(result)
        assert result.stderr.startswith("error[E101]: no taskmux.toml"), result.stderr
    result = run_cli("check", "--json", cwd=tmp_path)
    assert json.loads(result.stdout) == {
        "ok": False,
        "error": {"code": "E101", "message": json.loads(result.stdout)["error"]["message"]},
    }
    assert not (tmp_path / "taskmux.toml").exists()


def test_bad_usage_exits_2_in_one_line(tmp_path: Path) -> None:
    _write(tmp_path, COMMENTED)
    for args in (
        ["add"],
        ["add", "x", "y", "--port", "abc"],
        ["no-such-command"],
        ["events", "-n", "-5"],
        ["logs", "-n", "-1"],
        ["logs", "-C", "-1"],
        ["wait", "db", "--timeout", "-1"],
        ["wait", "db", "--timeout", "nan"],
        ["wait", "db", "--timeout", "inf"],
    ):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2, args
        _no_traceback(result)
        assert result.stderr.startswith("error[E100]: "), result.stderr
        assert result.stderr.count("\n") == 1, result.stderr


# ---- add ------------------------------------------------------------------------------


def test_add_keeps_comments_and_layout(tmp_path: Path) -> None:
    path = _write(tmp_path, COMMENTED)
    result = run_cli("add", "worker", "celery -A shop worker", "--depends-on", "db", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "added task 'worker'" in result.stdout
    text = path.read_text()
    assert text.startswith(COMMENTED)
    assert _comments(text) == _comments(COMMENTED)
    assert _tasks(path)["worker"] == {"command": "celery -A shop worker", "depends_on": ["db"]}
    _only_config(tmp_path)


def test_add_every_option(tmp_path: Path) -> None:
    path = _write(tmp_path, COMMENTED)
    result = run_cli(
        "add", "api", "uvicorn app:app --port 8001",
        "--cwd", "backend", "--port", "8001", "--health-check", "curl -sf localhost:8001",
        "--depends-on", "db", "--depends-on", "web",
        "--restart-policy", "always", "--no-auto-start", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "ok": True,
        "task": "api",
        "config": str(path),
        "added": True,
    }
    assert _tasks(path)["api"] == {
        "command": "uvicorn app:app --port 8001",
        "cwd": "backend",
        "port": 8001,
        "health_check": "curl -sf localhost:8001",
        "restart_policy": "always",
        "auto_start": False,
        "depends_on": ["db", "web"],
    }


def test_add_env_env_file_and_auto_port(tmp_path: Path) -> None:
    path = _write(tmp_path, COMMENTED)
    result = run_cli(
        "add", "api", "serve --port $PORT", "--port", "auto",
        "--env", "A=1", "--env", "URL=http://127.0.0.1:${tasks.db.port}/x=y", "--env", "EMPTY=",
        "--env-file", ".env", "--env-file", "?.env.local",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _tasks(path)["api"] == {
        "command": "serve --port $PORT",
        "port": "auto",
        "env_file": [".env", "?.env.local"],
        "env": {"A": "1", "URL": "http://127.0.0.1:${tasks.db.port}/x=y", "EMPTY": ""},
    }
    assert run_cli("add", "one", "x", "--env-file", "a.env", cwd=tmp_path).returncode == 0
    assert _tasks(path)["one"]["env_file"] == "a.env"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        pytest.param(["--env", "NOEQUALS"], "E100", id="no-equals"),
        pytest.param(["--env", "=value"], "E100", id="no-name"),
        pytest.param(["--env", "A-B=1"], "E124", id="bad-name"),
        pytest.param(["--env", "A=${tasks.ghost.port}"], "E119", id="unknown-task"),
        pytest.param(["--port", "sometimes"], "E100", id="port-word"),
    ],
)
def test_add_env_errors(tmp_path: Path, args: list[str], code: str) -> None:
    path = _write(tmp_path, COMMENTED)
    before = path.read_bytes()
    result = run_cli("add", "w", "x", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    _no_traceback(result)
    assert result.stderr.startswith(f"error[{code}]: "), result.stderr
    assert path.read_bytes() == before


def test_add_existing_name_is_refused_and_force_replaces(tmp_path: Path) -> None:
    path = _write(tmp_path, COMMENTED)
    before = path.read_bytes()
    result = run_cli("add", "db", "redis-server", cwd=tmp_path)
    assert result.returncode == 2
    _no_traceback(result)
    assert result.stderr.startswith("error[E202]: task 'db' already exists"), result.stderr
    assert "--force" in result.stderr
    assert path.read_bytes() == before

    result = run_cli("add", "db", "redis-server", "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    tasks = _tasks(path)
    assert tasks["db"] == {"command": "redis-server"}  # the old port went with the old table
    assert list(tasks) == ["db", "web"]
    assert "# Shop: local development processes" in path.read_text()


@pytest.mark.parametrize(
    ("args", "code"),
    [
        pytest.param(["bad name", "x"], "E116", id="name"),
        pytest.param(["9lives", "x"], "E116", id="name-digit"),
        pytest.param(["w", "x", "--port", "0"], "E113", id="port"),
        pytest.param(["w", "x", "--port", "70000"], "E113", id="port-high"),
        pytest.param(["w", "x", "--restart-policy", "sometimes"], "E112", id="policy"),
        pytest.param(["w", "x", "--depends-on", "ghost"], "E114", id="dep"),
        pytest.param(["w", ""], "E113", id="empty-command"),
        pytest.param(["w", "   "], "E113", id="blank-command"),
        pytest.param(["w" * 65, "x"], "E116", id="name-too-long"),
    ],
)
def test_add_validates_before_writing(tmp_path: Path, args: list[str], code: str) -> None:
    path = _write(tmp_path, COMMENTED)
    before = path.read_bytes()
    result = run_cli("add", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    _no_traceback(result)
    assert result.stderr.startswith(f"error[{code}]: "), result.stderr
    assert path.read_bytes() == before
    _only_config(tmp_path)


def test_add_writes_a_repeated_dependency_once(tmp_path: Path) -> None:
    path = _write(tmp_path, COMMENTED)
    result = run_cli("add", "api", "true", "--depends-on", "db", "--depends-on", "web",
                     "--depends-on", "db", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert _tasks(path)["api"]["depends_on"] == ["db", "web"]


def test_check_warns_about_a_repeated_dependency(tmp_path: Path) -> None:
    _write(tmp_path, COMMENTED.replace('depends_on = ["db"]', 'depends_on = ["db", "db"]'))
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("warning[W119]: ")
    assert (
        "taskmux.toml:12: task 'web': key 'depends_on': lists 'db' more than once" in result.stderr
    )


def test_a_long_task_name_fails_check_not_start(tmp_path: Path) -> None:
    _write(tmp_path, f'[tasks.{"t" * 300}]\ncommand = "sleep 1"\n')
    for args in (["check"], ["start"]):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        _no_traceback(result)
        assert "error[E116]: " in result.stderr
        assert "task name is 300 characters long; at most 64" in result.stderr


def test_add_refreshes_an_existing_agent_block(tmp_path: Path) -> None:
    _write(tmp_path, COMMENTED)
    notes = tmp_path / "AGENTS.md"
    notes.write_text(f"# mine\n\n{BEGIN}\nold\n{END}\n\ntail\n")
    assert run_cli("add", "cache", "redis-server --port 16379", cwd=tmp_path).returncode == 0
    text = notes.read_text()
    assert text.startswith("# mine\n\n")
    assert text.endswith("\n\ntail\n")
    assert text.count(BEGIN) == 1
    assert "- `cache`: `redis-server --port 16379`" in text
    assert "- `db`: `sleep 600`" in text


@pytest.mark.parametrize(
    ("round_", "writers"),
    [
        (0, 3),
        pytest.param(1, 20, marks=pytest.mark.slow),
        pytest.param(2, 20, marks=pytest.mark.slow),
    ],
)
def test_concurrent_adds_all_land(tmp_path: Path, round_: int, writers: int) -> None:
    """Three writers race in the default run; the slow set races twenty, twice."""
    path = _write(tmp_path, COMMENTED)
    names = [f"w{round_}x{i:02d}" for i in range(writers)]
    procs = [
        subprocess.Popen(
            [TASKMUX, "add", name, f"echo {name}", "--depends-on", "db"],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    outcomes = []
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        outcomes.append((proc.returncode, err))
    assert outcomes == [(0, "")] * writers
    text = path.read_text()
    assert text.startswith(COMMENTED)  # existing tasks, comments and session name untouched
    config = tomllib.loads(text)
    assert config["name"] == "shop"
    assert sorted(config["tasks"]) == sorted(["db", "web", *names])
    for name in names:
        assert config["tasks"][name] == {"command": f"echo {name}", "depends_on": ["db"]}
    _only_config(tmp_path)
    assert run_cli("check", cwd=tmp_path).returncode == 0


# ---- remove ---------------------------------------------------------------------------


def test_remove_a_needed_task_is_refused_naming_its_dependents(tmp_path: Path) -> None:
    text = COMMENTED + '\n[tasks.worker]\ncommand = "sleep 602"\ndepends_on = ["db"]\n'
    path = _write(tmp_path, text)
    result = run_cli("remove", "db", cwd=tmp_path)
    assert result.returncode == 2
    _no_traceback(result)
    assert result.stderr.startswith("error[E203]: cannot remove 'db'"), result.stderr
    assert "'web'" in result.stderr
    assert "'worker'" in result.stderr
    assert path.read_text() == text


def test_remove_unknown_task(tmp_path: Path) -> None:
    path = _write(tmp_path, COMMENTED)
    result = run_cli("remove", "ghost", cwd=tmp_path)
    assert result.returncode == 2
    _no_traceback(result)
    assert result.stderr.startswith("error[E201]: task 'ghost' not found"), result.stderr
    assert path.read_text() == COMMENTED


def test_add_then_remove_keeps_every_comment(tmp_path: Path, tmux_socket: str) -> None:
    path = _write(tmp_path, COMMENTED)
    env = {"TASKMUX_TMUX_SOCKET": tmux_socket}
    assert run_cli("add", "worker", "sleep 603", cwd=tmp_path, env=env).returncode == 0
    result = run_cli("remove", "worker", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    _no_traceback(result)
    assert "removed task 'worker'" in result.stdout
    text = path.read_text()
    assert _comments(text) == _comments(COMMENTED)
    assert text.rstrip("\n") == COMMENTED.rstrip("\n")

    result = run_cli("remove", "web", "--json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data == {
        "ok": True,
        "task": "web",
        "config": data["config"],
        "removed": True,
        "killed": False,
    }
    assert list(_tasks(path)) == ["db"]
    assert "# --- storage ---" in path.read_text()
    assert "# stands in for postgres" in path.read_text()


HEADINGS = """\
name = "shop"

# --- storage ---
[tasks.db]
command = "sleep 600"
# db's own note
port = 15432

# --- the app ---
[tasks.web]
command = "sleep 601"

# [tasks.old]
# command = "sleep 602"
"""


def test_remove_keeps_the_comments_below_the_removed_table(
    tmp_path: Path, tmux_socket: str
) -> None:
    """TOML gives a table every comment up to the next header: the next task's heading,
    or tasks commented out at the end, stay; a comment between the task's keys goes."""
    path = _write(tmp_path, HEADINGS)
    env = {"TASKMUX_TMUX_SOCKET": tmux_socket}
    assert run_cli("remove", "db", cwd=tmp_path, env=env).returncode == 0
    assert path.read_text() == HEADINGS.replace(
        '[tasks.db]\ncommand = "sleep 600"\n# db\'s own note\nport = 15432\n', ""
    )
    assert run_cli("remove", "web", cwd=tmp_path, env=env).returncode == 0
    assert path.read_text() == (
        'name = "shop"\n\n# --- storage ---\n\n# --- the app ---\n\n'
        '# [tasks.old]\n# command = "sleep 602"\n'
    )
    assert run_cli("check", cwd=tmp_path, env=env).returncode == 0


def test_add_force_keeps_the_comments_below_the_replaced_table(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADINGS)
    assert run_cli("add", "db", "sleep 700", "--force", cwd=tmp_path).returncode == 0
    text = path.read_text()
    assert "# db's own note" not in text  # the replaced task's own
    assert text.index('command = "sleep 700"') < text.index("# --- the app ---")
    assert text.index("# --- the app ---") < text.index("[tasks.web]")
    assert run_cli("add", "web", "sleep 701", "--force", cwd=tmp_path).returncode == 0
    assert path.read_text().endswith('"sleep 701"\n\n# [tasks.old]\n# command = "sleep 602"\n')


def _removed(text: str, task: str) -> str:
    """`remove TASK` as `editing.remove_task` edits the text (no file, no lock)."""
    import tomlkit

    from taskmux.config.editing import ClosingComments

    document = tomlkit.parse(text)
    closing = ClosingComments()
    closing.take(document["tasks"][task])
    del document["tasks"][task]
    return closing.put_back(text, tomlkit.dumps(document))


def test_closing_comments_keep_the_files_line_ends() -> None:
    read = 'name = "p"\r\n[tasks.a]\r\ncommand = "x"\r\n# the end'
    assert _removed(read, "a") == 'name = "p"\r\n\r\n# the end\r\n'
    assert _removed("a = 1\n[tasks.t]\nb = 2\n", "t") == "a = 1\n"


def test_string_lines_that_look_like_comments_stay_with_their_task() -> None:
    """Only what TOML reads as comments comes back: not the end of a multi-line string,
    nor a string's text after a U+2028 (a line break to `splitlines`, not to TOML)."""
    read = (
        'name = "p"\n\n[tasks.a]\ncommand = """\nmake run\n# done"""\n\n'
        '[tasks.b]\ncommand = "echo a\u2028# b"\n\n[tasks.c]\ncommand = "y"\n'
    )
    assert _removed(read, "a") == read.replace(
        '[tasks.a]\ncommand = """\nmake run\n# done"""\n\n', ""
    )
    edited = _removed(read, "b")
    assert "# b" not in edited and "[tasks.c]" in edited


def test_a_sub_tables_closing_comments_are_kept_too() -> None:
    read = 'name = "p"\n\n[tasks.a]\ncommand = "x"\n\n[tasks.a.env]\nK = "v"\n\n# [tasks.old]\n'
    assert _removed(read, "a") == 'name = "p"\n\n# [tasks.old]\n'


def test_add_force_drops_the_replaced_tasks_own_comments(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADINGS)
    assert (
        run_cli("add", "db", "sleep 700", "--port", "15432", "--force", cwd=tmp_path).returncode
        == 0
    )
    text = path.read_text()
    assert "# db's own note" not in text
    assert '[tasks.db]\ncommand = "sleep 700"\nport = 15432\n\n# --- the app ---\n' in text


def test_remove_works_without_tmux_installed(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, tmux_socket: str
) -> None:
    path = _write(tmp_path, COMMENTED)
    empty_bin = tmp_path_factory.mktemp("bin")
    env = {"PATH": str(empty_bin), "TASKMUX_TMUX_SOCKET": tmux_socket}
    result = run_cli("remove", "web", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    _no_traceback(result)
    assert list(_tasks(path)) == ["db"]


# ---- init -----------------------------------------------------------------------------

USER_AGENTS_MD = b"# Agent notes\r\n\r\nAlways run the linters.\n\n- keep this\n"


def _init_project(root: Path, home: Path) -> Path:
    project = root / "my app.v2"
    (project / ".claude").mkdir(parents=True)  # Claude Code in use here
    (home / ".codex").mkdir()  # Codex installed for this user
    (project / "AGENTS.md").write_bytes(USER_AGENTS_MD)
    return project


def test_init_twice_keeps_one_block_per_context_file(tmp_path: Path, isolated_home: Path) -> None:
    project = _init_project(tmp_path, isolated_home)
    result = run_cli("init", "--defaults", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is True
    assert doc["session"] == "my-app-v2"
    assert {"claude", "codex"} <= set(doc["agents"])
    files = doc["context_files"]
    assert {".claude/rules/taskmux.md", "AGENTS.md"} <= set(files)
    assert tomllib.loads((project / "taskmux.toml").read_text())["name"] == "my-app-v2"
    assert run_cli("check", cwd=project).returncode == 0

    agents_md = project / "AGENTS.md"
    assert agents_md.read_bytes().startswith(USER_AGENTS_MD)
    agents_md.write_bytes(agents_md.read_bytes() + b"\n## Added later by the user\n")
    first = {rel: (project / rel).read_bytes() for rel in files}

    result = run_cli("init", "--defaults", "--force", cwd=project)
    assert result.returncode == 0, result.stderr
    _no_traceback(result)
    for rel in files:
        data = (project / rel).read_bytes()
        assert data.count(BEGIN.encode()) == 1, rel
        assert data.count(END.encode()) == 1, rel
        assert data == first[rel], rel  # replaced in place: nothing moved, nothing doubled
    assert agents_md.read_bytes().startswith(USER_AGENTS_MD)
    assert agents_md.read_bytes().endswith(b"\n## Added later by the user\n")


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = _write(tmp_path, COMMENTED)
    for args in (["init", "--defaults"], ["init"]):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2
        _no_traceback(result)
        assert result.stderr.startswith("error[E104]: "), result.stderr
        assert "--force" in result.stderr
        assert path.read_text() == COMMENTED


@pytest.mark.parametrize("stdin", ["devnull", "closed", "open-pipe"])
def test_init_without_defaults_never_prompts(tmp_path: Path, stdin: str) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    if stdin == "devnull":
        result = run_cli("init", cwd=project, timeout=30)
        returncode, stderr = result.returncode, result.stderr
    elif stdin == "closed":
        result = subprocess.run(
            ["/bin/sh", "-c", 'exec "$0" init <&-', TASKMUX],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        returncode, stderr = result.returncode, result.stderr
    else:  # a pipe nobody writes to: a prompt would wait forever
        proc = subprocess.Popen(
            [TASKMUX, "init"],
            cwd=project,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            returncode = proc.wait(timeout=30)
        finally:
            proc.kill()  # only reached alive if it hung; the wait above has then failed
            stderr = proc.communicate()[1]
    assert returncode == 0, stderr
    assert "Traceback" not in stderr
    assert tomllib.loads((project / "taskmux.toml").read_text())["name"] == "proj"


@pytest.mark.parametrize(
    ("folder", "session"),
    [
        ("my app.v2", "my-app-v2"),
        ("web_shop", "web_shop"),
        ("..hidden..", "hidden"),
        ("日本", "taskmux"),
    ],
)
def test_init_session_name_from_folder(tmp_path: Path, folder: str, session: str) -> None:
    project = tmp_path / folder
    project.mkdir()
    result = run_cli("init", "--defaults", cwd=project)
    assert result.returncode == 0, result.stderr
    assert f"session '{session}'" in result.stdout
    assert tomllib.loads((project / "taskmux.toml").read_text())["name"] == session
    assert run_cli("check", cwd=project).returncode == 0


def test_init_with_no_agent_writes_no_context_file(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = {"PATH": str(tmp_path_factory.mktemp("bin"))}
    result = run_cli("init", "--defaults", "--json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["agents"], doc["context_files"]) == ([], [])
    _only_config(tmp_path)


# ---- startup cost ---------------------------------------------------------------------

HEAVY = {"libtmux", "pydantic", "websockets", "watchdog"}


def test_help_and_version_import_nothing_heavy(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """--help, --version and -h, each as a fresh interpreter runs it (see import_probe);
    the control, a command that validates a config, shows the probe sees pydantic."""
    _write(tmp_path, COMMENTED)
    runs = [["--help"], ["--version"], ["-h"], ["check"]]
    *light, control = imports_of(runs, cwd=tmp_path, folder=tmp_path_factory.mktemp("probe"))
    for args, report in zip(runs[:-1], light, strict=True):
        assert report.code == 0, (args, report.stderr)
        assert sorted(m for m in report.modules if m.split(".")[0] in HEAVY) == [], args
        assert "taskmux" in report.stdout, args
    assert light[1].stdout == f"taskmux {version('taskmux')}\n"  # `python -m taskmux`
    assert control.code == 0, control.stderr
    assert "pydantic" in control.modules


def test_version_comes_from_package_metadata(tmp_path: Path) -> None:
    """In this process; `python -m taskmux --version` in the test above."""
    assert run_cli("--version", cwd=tmp_path).stdout == f"taskmux {version('taskmux')}\n"


def test_help_lists_the_config_commands(tmp_path: Path) -> None:
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("add", "remove", "init", "check"):
        assert command in result.stdout
