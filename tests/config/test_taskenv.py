"""A task's environment: expansion, precedence, env files (pure tables, temp files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from taskmux.config.models import validate_config
from taskmux.config.schema import ProjectConfig
from taskmux.config.taskenv import (
    ExpansionError,
    expand_ports,
    expand_value,
    parse_env_text,
    port_references,
    resolve,
)

PORTS = {"api": 4100, "db": 5432}


def _port_of(task: str) -> int | None:
    return PORTS.get(task)


def _lookup(defined: dict[str, str]) -> Any:
    return defined.get


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("${A}", "one"),
        ("x${A}y${B}z", "xoneytwoz"),
        ("$$", "$"),
        ("$${A}", "${A}"),
        ("a$$$${A}", "a$${A}"),
        ("$$$$", "$$"),
        ("$A", "$A"),  # only ${NAME} expands
        ("cost: 5$", "cost: 5$"),
        ("${tasks.api.port}", "4100"),
        ("http://127.0.0.1:${tasks.api.port}/x", "http://127.0.0.1:4100/x"),
        ("${EMPTY}", ""),
        ("~/x #c ;", "~/x #c ;"),
    ],
)
def test_expand_value(text: str, expected: str) -> None:
    defined = {"A": "one", "B": "two", "EMPTY": ""}
    assert expand_value(text, _lookup(defined), _port_of) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("${NOPE}", "${NOPE} is not defined"),
        ("${A:-x}", "cannot expand ${A:-x}"),
        ("${}", "cannot expand ${}"),
        ("${tasks.web.port}", "task 'web' has no port"),
        ("${tasks.api.host}", "cannot expand"),
        ("abc ${A", "without a closing"),
    ],
)
def test_expand_value_errors(text: str, fragment: str) -> None:
    with pytest.raises(ExpansionError) as info:
        expand_value(text, _lookup({"A": "secret-value"}), _port_of)
    assert fragment in str(info.value)
    assert "secret-value" not in str(info.value)


def test_expand_ports_leaves_the_rest_to_the_shell() -> None:
    text = "curl -f localhost:${tasks.api.port} && echo ${HOME} $$ $PORT ${A:-b} ${"
    assert expand_ports(text, _port_of) == (
        "curl -f localhost:4100 && echo ${HOME} $$ $PORT ${A:-b} ${"
    )
    assert port_references(text) == ["api"]
    with pytest.raises(ExpansionError):
        expand_ports("${tasks.web.port}", _port_of)


def _config(raw: dict[str, Any]) -> ProjectConfig:
    config, problems = validate_config(raw)
    assert config is not None, problems
    return config


def test_precedence_lowest_first(tmp_path: Path) -> None:
    """taskmux's env < top env_files < top env < task env_files < task env."""
    (tmp_path / "top1.env").write_text("A=top1\nB=top1\nC=top1\nD=top1\nE=top1\n")
    (tmp_path / "top2.env").write_text("B=top2\nC=top2\nD=top2\nE=top2\n")
    (tmp_path / "task.env").write_text("D=taskfile\nE=taskfile\n")
    raw = {
        "env_file": ["top1.env", "top2.env"],
        "env": {"C": "topenv", "D": "topenv", "E": "topenv"},
        "tasks": {
            "t": {"command": "x", "env_file": "task.env", "env": {"E": "taskenv"}},
            "u": {"command": "x"},
        },
    }
    config = _config(raw)
    base = {"A": "base", "Z": "base"}
    values, problems = resolve(config, tmp_path, "t", base, _port_of)
    assert problems == []
    assert values == {"A": "top1", "B": "top2", "C": "topenv", "D": "taskfile", "E": "taskenv"}
    other, _ = resolve(config, tmp_path, "u", base, _port_of)
    assert other == {"A": "top1", "B": "top2", "C": "topenv", "D": "topenv", "E": "topenv"}
    top, _ = resolve(config, tmp_path, None, base, _port_of)
    assert top == other


def test_names_expand_from_what_is_defined_before(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("HOST=db.local\nRAW=${HOST}:$$\n")
    raw = {
        "env_file": ".env",
        "env": {"URL": "pg://${HOST}/${DB}", "DB": "main", "PATH": "${PATH}:/opt/bin"},
        "tasks": {
            "t": {
                "command": "x",
                "env": {
                    "HOST": "${HOST}-override",
                    "LATE": "${EARLY}",
                    "EARLY": "e",
                    "API": "http://${HOST}:${tasks.api.port}",
                },
            },
            "api": {"command": "x", "port": 4100},
        },
    }
    config = _config(raw)
    base = {"PATH": "/usr/bin", "DB": "from-taskmux", "EARLY": "from-taskmux"}
    values, problems = resolve(config, tmp_path, "t", base, _port_of)
    assert problems == []
    # Env file values are literal; ${DB} is defined later in the table: taskmux's own.
    assert values["RAW"] == "${HOST}:$$"
    assert values["URL"] == "pg://db.local/from-taskmux"
    assert values["PATH"] == "/usr/bin:/opt/bin"
    assert values["HOST"] == "db.local-override"
    assert values["LATE"] == "from-taskmux"
    assert values["API"] == "http://db.local-override:4100"


def test_undefined_names_are_problems_naming_task_and_key(tmp_path: Path) -> None:
    raw = {
        "env": {"TOP": "${NOPE_TOP}"},
        "tasks": {"t": {"command": "x", "env": {"OK": "1", "BAD": "a ${NOPE} b"}}},
    }
    values, problems = resolve(_config(raw), tmp_path, "t", {}, _port_of)
    assert values == {"OK": "1"}
    assert [(p.code, p.task, p.key) for p in problems] == [
        ("E119", None, "env.TOP"),
        ("E119", "t", "env.BAD"),
    ]
    assert "${NOPE}" in problems[1].message


def test_env_files_missing_optional_and_broken(tmp_path: Path) -> None:
    (tmp_path / "broken.env").write_text("GOOD=1\nthis is not a binding\nAFTER=2\n")
    raw = {
        "env_file": ["?.env.local", "missing.env"],
        "tasks": {"t": {"command": "x", "env_file": ["broken.env"]}},
    }
    values, problems = resolve(_config(raw), tmp_path, "t", {}, _port_of)
    assert values == {"GOOD": "1", "AFTER": "2"}
    assert [(p.code, p.task, p.key) for p in problems] == [
        ("E122", None, "env_file"),
        ("E123", "t", "env_file"),
    ]
    assert "'missing.env' does not exist" in problems[0].message
    assert "'?missing.env'" in problems[0].message  # says how to make it optional
    assert "line 2" in problems[1].message


def test_dotenv_syntax() -> None:
    text = (
        "# a comment\n"
        "PLAIN=value\n"
        'DOUBLE="spaced # not a comment" # a comment\n'
        "SINGLE='$literal \\n'\n"
        "export EXPORTED=yes\n"
        'MULTI="one\ntwo"\n'
        'ESCAPED="a\\tb"\n'
        "EMPTY=\n"
        "BARE\n"
        "TRAILING=v # comment\n"
    )
    values, problems = parse_env_text(text, ".env", None)
    assert problems == []
    assert values == {
        "PLAIN": "value",
        "DOUBLE": "spaced # not a comment",
        "SINGLE": "$literal \\n",
        "EXPORTED": "yes",
        "MULTI": "one\ntwo",
        "ESCAPED": "a\tb",
        "EMPTY": "",
        "TRAILING": "v",
    }


def test_problems_never_quote_a_value(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TOKEN=hunter2-secret\nnot a line hunter2-secret\n")
    raw = {
        "env_file": ".env",
        "tasks": {"t": {"command": "x", "env": {"X": "hunter2-secret${UNDEFINED}"}}},
    }
    _, problems = resolve(_config(raw), tmp_path, "t", {}, _port_of)
    assert len(problems) == 2
    assert all("hunter2" not in p.render() for p in problems)
