"""`check`'s look at this machine: the program a command starts, found where the shell would."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import run_cli

from taskmux.config.environment_check import environment_problems, program_of, program_problem
from taskmux.config.models import validate_config


@pytest.mark.parametrize(
    ("command", "program"),
    [
        ("uvicorn app:app --reload", "uvicorn"),
        ("PORT=8000 DEBUG='1 2' uvicorn app", "uvicorn"),
        ("exec npm run dev", "npm"),
        ("../../venv/bin/uvicorn app", "../../venv/bin/uvicorn"),
        ("./run.sh;echo done", "./run.sh"),
        ("'my tool' --flag", "my tool"),
        ("sleep 5 && echo x", "sleep"),
        ("env FOO=1 python3 x.py", "env"),
        ("pwd; ls", None),
        ("cd web && npm run dev", None),
        ("echo hi", None),
        ("source .env; rails s", None),
        ("if true; then sleep 1; fi", None),
        ("(cd web && make)", None),
        ("{ make; }", None),
        ("$HOME/bin/tool", None),
        ("`which node` app.js", None),
        ("./bin/*", None),
        ("> out.log make", None),
        ("# a comment", None),
        ("FOO=1", None),
        ("   ", None),
        ("'unterminated", None),
    ],
)
def test_program_of(command: str, program: str | None) -> None:
    assert program_of(command) == program


def test_program_of_reads_only_the_start_of_a_huge_command() -> None:
    started = time.monotonic()
    assert program_of("uvicorn " + "a " * 500_000) == "uvicorn"
    assert program_of("x" * 1_000_000) is None  # a first word longer than what is read
    assert program_of("echo " + "y" * 1_000_000) is None
    assert time.monotonic() - started < 0.5  # splitting it all took 7 s


def test_a_path_is_resolved_against_the_tasks_folder(tmp_path: Path) -> None:
    tool = tmp_path / "venv" / "bin" / "uvicorn"
    tool.parent.mkdir(parents=True)
    tool.write_text("#!/bin/sh\n")
    api = tmp_path / "services" / "api"
    api.mkdir(parents=True)
    assert program_problem("../../venv/bin/uvicorn", api) == (
        "program '../../venv/bin/uvicorn' is not executable (chmod +x it, or run it with sh)"
    )
    tool.chmod(0o755)
    assert program_problem("../../venv/bin/uvicorn", api) is None
    assert program_problem("../venv/bin/uvicorn", api) == (
        f"program '../venv/bin/uvicorn' not found (looked for {tmp_path}/services/venv/bin/uvicorn)"
    )
    assert program_problem("../../venv", api) == "program '../../venv' is a folder"
    assert program_problem(str(tool), tmp_path / "anywhere") is None  # absolute: as written
    assert program_problem("sh", api) is None
    assert program_problem("no-such-program-7c1e", api) == (
        "program 'no-such-program-7c1e' is not on PATH"
    )


def test_environment_problems(tmp_path: Path) -> None:
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "uvicorn").write_text("")
    (tmp_path / "venv" / "bin" / "uvicorn").chmod(0o755)
    (tmp_path / "services" / "api").mkdir(parents=True)
    tasks = {
        "api": {"command": "../../venv/bin/uvicorn app", "cwd": "services/api"},
        "list": {"command": "pwd; ls"},
        "gone": {"command": "./serve", "cwd": "missing"},
        "typo": {"command": "uvicron app", "cwd": "missing"},
    }
    config, _ = validate_config({"tasks": tasks})
    assert config is not None
    found = [(p.code, p.task, p.key) for p in environment_problems(tmp_path, config)]
    assert found == [
        ("W120", "gone", "cwd"),  # and no guess about ./serve in a folder that is not there
        ("W120", "typo", "cwd"),
        ("W121", "typo", "command"),
    ]


def test_check_is_fast_and_right_on_real_commands(tmp_path: Path) -> None:
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "uvicorn").write_text("#!/bin/sh\n")
    (tmp_path / "venv" / "bin" / "uvicorn").chmod(0o755)
    (tmp_path / "services" / "api").mkdir(parents=True)
    (tmp_path / "taskmux.toml").write_text(
        '[tasks.api]\ncommand = "../../venv/bin/uvicorn app"\ncwd = "services/api"\n'
        '[tasks.list]\ncommand = "pwd; ls"\n'
        f'[tasks.long]\ncommand = "echo {"x" * 9000}"\n'
    )
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "0 error(s), 0 warning(s); 3 task(s) OK" in result.stdout

    (tmp_path / "taskmux.toml").write_text(f'[tasks.huge]\ncommand = "run{"x" * 1_000_000}"\n')
    started = time.monotonic()
    result = run_cli("check", cwd=tmp_path)
    assert time.monotonic() - started < 5
    assert result.returncode == 2
    assert "error[E113]: " in result.stderr
    assert "is 1000003 bytes long; tmux launches at most 10000" in result.stderr
