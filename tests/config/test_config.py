"""config.py: finding, loading, locating problems, and editing the file in place."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from conftest import run_cli

from taskmux.config.project import (
    atomic_write,
    check_file,
    edit_config,
    find_config,
    load_project,
    locate,
)
from taskmux.errors import ConfigError, ConfigNotFound, TaskNotFound
from taskmux.statedir.paths import ProjectPaths

COMMENTED = """\
# Project header comment
name = "demo"  # the session

# --- the database ---
[tasks.db]
command = "postgres -D data"  # inline note
port = 5432

# the web app
[tasks.web]
command = "npm run dev"
depends_on = ["db"]   # wait for db
cwd = "web"
"""


def _write(folder: Path, text: str) -> Path:
    path = folder / "taskmux.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _comments(text: str) -> list[str]:
    return [line[line.index("#") :] for line in text.splitlines() if "#" in line]


# ---- finding ---------------------------------------------------------------------------


def test_find_config_in_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, 'name = "x"\n')
    monkeypatch.chdir(tmp_path)
    assert find_config() == path


def test_find_config_walks_up_to_the_nearest_parent(tmp_path: Path) -> None:
    outer = _write(tmp_path, 'name = "outer"\n')
    inner_root = tmp_path / "inner"
    deep = inner_root / "src" / "pkg"
    deep.mkdir(parents=True)
    assert find_config(start=deep) == outer
    inner = _write(inner_root, 'name = "inner"\n')
    assert find_config(start=deep) == inner


def test_find_config_explicit_path_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, 'name = "here"\n')
    other = tmp_path / "other.toml"
    other.write_text('name = "other"\n')
    monkeypatch.chdir(tmp_path)
    assert find_config(other) == other
    monkeypatch.setenv("TASKMUX_CONFIG", str(other))
    assert find_config() == other


def test_find_config_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigNotFound, match="taskmux init") as info:
        find_config(start=tmp_path)
    assert info.value.code == "E101"
    assert info.value.exit_code == 2
    with pytest.raises(ConfigNotFound, match="does not exist"):
        find_config(tmp_path / "nope.toml")


def test_find_config_accepts_a_folder_that_holds_one(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    with pytest.raises(ConfigNotFound, match="is a folder without a taskmux") as info:
        find_config(project)
    assert info.value.code == "E101"
    config = _write(project, 'name = "p"\n')
    assert find_config(project) == config
    assert find_config(str(project) + "/") == config


def test_cli_config_flag_names_a_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("-c", str(empty), "status", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"error[E101]: {empty} is a folder without a taskmux.toml "
        "(-c takes a config file, or a folder that holds one)\n"
    )
    _write(empty, 'name = "p"\n[tasks.web]\ncommand = "sleep 1"\n')
    result = run_cli("-c", str(empty), "check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{empty / 'taskmux.toml'}: 0 error(s)")


# ---- loading ---------------------------------------------------------------------------


def test_load_project(tmp_path: Path) -> None:
    path = _write(tmp_path, COMMENTED)
    project = load_project(path)
    assert project.path == path
    assert project.root == tmp_path
    assert project.session == "demo"
    assert list(project.config.tasks) == ["db", "web"]
    assert project.warnings == []
    assert project.task_cwd("web") == (tmp_path / "web").resolve()
    assert project.task_cwd("db") == tmp_path
    with pytest.raises(TaskNotFound, match=r"'nope' not found in taskmux\.toml") as info:
        project.task("nope")
    assert info.value.code == "E201"
    with pytest.raises(TaskNotFound):
        project.check_names(["db", "nope"])


def test_load_project_keeps_warnings(tmp_path: Path) -> None:
    path = _write(tmp_path, '[tasks.a]\ncommand = "x"\ncolour = "red"\n')
    project = load_project(path)
    assert [(w.code, w.task, w.key, w.line) for w in project.warnings] == [
        ("W117", "a", "colour", 3)
    ]


def test_state_folder_is_outside_the_project(tmp_path: Path, isolated_home: Path) -> None:
    project = load_project(_write(tmp_path, 'name = "x"\n'))
    assert project.paths.root.is_relative_to(isolated_home / ".local" / "state" / "taskmux")
    assert project.paths == ProjectPaths.for_config(project.path)


@pytest.mark.parametrize(
    ("text", "code", "line", "fragment"),
    [
        pytest.param('name = "x"\n[tasks.a\n', "E110", 2, "invalid TOML", id="toml"),
        pytest.param('name = "x"\nname = "y"\n', "E110", 2, "invalid TOML", id="dup-key"),
        pytest.param("[tasks.a]\nport = 1\n", "E111", 1, "is required", id="missing-command"),
        pytest.param('[tasks.a]\ncommand = "x"\n\nport = 0\n', "E113", 4, "greater", id="range"),
        pytest.param('[tasks.a]\ncommand = "x"\nport = "80"\n', "E112", 3, "integer", id="type"),
        pytest.param(
            '[tasks.a]\ncommand = "x"\ndepends_on = ["b"]\n', "E114", 3, "'b'", id="unknown-dep"
        ),
        pytest.param('[tasks."a b"]\ncommand = "x"\n', "E116", 1, "letters", id="name"),
        pytest.param(
            'log_backups = -1\n[tasks.a]\ncommand = "x"\n', "E113", 1, "log", id="top-range"
        ),
    ],
)
def test_load_errors_name_file_line_task_and_key(
    tmp_path: Path, text: str, code: str, line: int | None, fragment: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_project(path)
    error = info.value
    assert error.code == code
    assert error.exit_code == 2
    assert str(path) in error.message
    assert fragment in error.message
    if line is not None:
        assert f"{path}:{line}:" in error.message
    assert error.problems[0].line == line
    assert "\n" not in error.message


def test_load_error_mentions_more_problems(tmp_path: Path) -> None:
    path = _write(tmp_path, '[tasks.a]\ncommand = "x"\nport = 0\nmax_restarts = -1\n')
    with pytest.raises(ConfigError, match=r"and 1 more problem\(s\); run 'taskmux check'"):
        load_project(path)


def test_check_file_returns_everything_and_never_raises_for_content(tmp_path: Path) -> None:
    path = _write(tmp_path, '[tasks.a]\ncommand = "x"\nport = 0\nmax_restarts = -1\nbogus = 1\n')
    config, problems = check_file(path)
    assert config is None
    assert {(p.code, p.key, p.line) for p in problems} == {
        ("E113", "port", 3),
        ("E113", "max_restarts", 4),
        ("W117", "bogus", 5),
    }
    assert all(p.path == str(path) for p in problems)
    config, problems = check_file(_write(tmp_path, "[tasks.a\n"))
    assert config is None
    assert [p.code for p in problems] == ["E110"]


def test_locate_finds_keys_in_tables_and_subtables() -> None:
    text = (
        'name = "x"\n'  # 1
        "[hooks]\n"  # 2
        'before_start = "a"\n'  # 3
        "[tasks.web]\n"  # 4
        'command = "x"\n'  # 5
        "  port = 1\n"  # 6
        '[ tasks."api" ]\n'  # 7
        'command = "y"\n'  # 8
        "[tasks.api.hooks]\n"  # 9
        'after_stop = "z"\n'  # 10
    )
    assert locate(text, None, "name") == 1
    assert locate(text, None, "hooks.before_start") == 3
    assert locate(text, "web", "port") == 6
    assert locate(text, "web", None) == 4
    assert locate(text, "web", "health_check") == 4  # missing key: point at the table
    assert locate(text, "api", "command") == 8
    assert locate(text, "api", "hooks.after_stop") == 10
    assert locate(text, "ghost", "command") is None


# ---- writing ---------------------------------------------------------------------------


def test_atomic_write_keeps_mode_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "old\n")
    os.chmod(path, 0o640)
    atomic_write(path, "new\n")
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taskmux.toml"]
    fresh = tmp_path / "fresh.toml"
    atomic_write(fresh, "x\n")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644


def test_atomic_write_failure_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "old\n")

    def boom(*_args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, "new\n")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taskmux.toml"]


def _add(name: str, **values: Any) -> Any:
    def mutate(document: Any) -> None:
        table = tomlkit.table()
        table.update(values)
        document.setdefault("tasks", tomlkit.table(is_super_table=True))[name] = table

    return mutate


def _remove(name: str) -> Any:
    def mutate(document: Any) -> None:
        del document["tasks"][name]

    return mutate


def test_edit_keeps_comments_and_layout(tmp_path: Path) -> None:
    path = _write(tmp_path, COMMENTED)
    project = edit_config(path, _add("worker", command="celery worker", depends_on=["db"]))
    text = path.read_text()
    assert text.startswith(COMMENTED)
    assert _comments(text) == _comments(COMMENTED)
    assert list(project.config.tasks) == ["db", "web", "worker"]
    assert project.config.tasks["worker"].dependencies == ["db"]
    edit_config(path, _remove("worker"))
    # tomlkit may leave the blank line it put before the new table; nothing else changes.
    assert path.read_text().rstrip("\n") == COMMENTED.rstrip("\n")


def test_edit_removing_a_task_keeps_the_other_comments(tmp_path: Path) -> None:
    path = _write(tmp_path, COMMENTED)
    edit_config(path, _remove("web"))
    text = path.read_text()
    assert "[tasks.web]" not in text
    for comment in ["# Project header comment", "# the session", "# --- the database ---"]:
        assert comment in text
    assert "# inline note" in text


def test_edit_into_a_file_without_tasks(tmp_path: Path) -> None:
    path = _write(tmp_path, '# just a name\nname = "solo"\n')
    project = edit_config(path, _add("web", command="serve"))
    assert project.session == "solo"
    assert path.read_text().startswith('# just a name\nname = "solo"\n')
    assert list(load_project(path).config.tasks) == ["web"]


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        pytest.param(_add("bad name", command="x"), "E116", id="name"),
        pytest.param(_add("w", command="x", port=0), "E113", id="range"),
        pytest.param(_add("w", command="x", depends_on=["ghost"]), "E114", id="dep"),
        pytest.param(_add("db", command="x", depends_on=["web"]), "E115", id="cycle"),
        pytest.param(_remove("db"), "E114", id="remove-needed"),
    ],
)
def test_edit_validates_before_writing(tmp_path: Path, mutate: Any, code: str) -> None:
    path = _write(tmp_path, COMMENTED)
    before = path.read_bytes()
    with pytest.raises(ConfigError) as info:
        edit_config(path, mutate)
    assert info.value.code == code
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taskmux.toml"]


def test_edit_refuses_a_malformed_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[tasks.a\n")
    with pytest.raises(ConfigError) as info:
        edit_config(path, _add("w", command="x"))
    assert info.value.code == "E110"
    assert path.read_text() == "[tasks.a\n"


def test_edit_error_in_mutation_leaves_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, COMMENTED)

    def mutate(document: Any) -> None:
        document["name"] = "changed"
        raise TaskNotFound("stop here")

    with pytest.raises(TaskNotFound):
        edit_config(path, mutate)
    assert path.read_text() == COMMENTED


def test_edit_keeps_the_file_mode(tmp_path: Path) -> None:
    path = _write(tmp_path, COMMENTED)
    os.chmod(path, 0o600)
    edit_config(path, _add("w", command="x"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_config_cache_keeps_env_values_out(tmp_path: Path) -> None:
    """`env` values may be secrets: the cache holds the rest, they are read from the TOML."""
    path = tmp_path / "taskmux.toml"
    path.write_text(
        'name = "p"\n[env]\nTOP = "top-s3cret"\n'
        '[tasks.t]\ncommand = "x"\nenv = { TASK = "task-s3cret", N = "1" }\n'
    )
    first = load_project(path)  # validates and writes the cache
    cache = ProjectPaths.for_config(path).root / "config-cache.json"
    assert cache.is_file()
    assert "s3cret" not in cache.read_text()
    data = json.loads(cache.read_text())
    data["config"]["log_backups"] = 7  # proves the next load comes from the cache
    cache.write_text(json.dumps(data))
    again = load_project(path)
    assert again.config.log_backups == 7
    assert again.config.tasks == first.config.tasks
    assert again.config.env == {"TOP": "top-s3cret"}
    assert again.config.tasks["t"].env == {"TASK": "task-s3cret", "N": "1"}


def test_an_edit_leaves_the_next_load_a_warm_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`add` then `start`: the config the edit validated is the cache the start reads, so
    it is validated once; a file changed behind the edit is validated again."""
    from taskmux.config import models

    path = _write(tmp_path, COMMENTED)
    edited = edit_config(path, _add("w", command="x", watch_cmd="y"))
    calls: list[object] = []
    validate = models.validate_config
    monkeypatch.setattr(models, "validate_config", lambda raw: calls.append(raw) or validate(raw))
    loaded = load_project(path)
    assert calls == [] and loaded.config == edited.config
    assert loaded.warnings == edited.warnings and [p.code for p in loaded.warnings] == ["W122"]
    assert loaded.config == check_file(path)[0] and len(calls) == 1
    edit_config(path, _add("v", command="z"))
    path.write_text(path.read_text() + "\n# a comment of the user's\n")
    assert "v" in load_project(path).config.tasks and len(calls) == 3
