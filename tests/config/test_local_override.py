"""`taskmux.local.toml`, `extends` and `replicas` as the loader reads the files: problems
name the file and line that hold them, the cache follows the local file, edits of
taskmux.toml (`add`, `scale`) leave the local file alone and keep comments."""

from __future__ import annotations

from pathlib import Path

from taskmux.config.cache import read_current
from taskmux.config.editing import add_task, set_replicas
from taskmux.config.project import check_file, load_project

MAIN = """\
name = "demo"

[groups]
backend = ["api"]

[tasks.api]
command = "serve"

[tasks.web]
# the web servers
command = "web --port $PORT"
port = "auto"
replicas = 3  # by hand
"""


def _write(tmp_path: Path, main: str, local: str | None = None) -> Path:
    path = tmp_path / "taskmux.toml"
    path.write_text(main)
    if local is not None:
        (tmp_path / "taskmux.local.toml").write_text(local)
    return path


def test_the_local_file_changes_a_command_and_the_cache_follows_it(tmp_path: Path) -> None:
    path = _write(tmp_path, MAIN)
    project = load_project(path)
    assert list(project.config.tasks) == ["api", "web-1", "web-2", "web-3"]
    assert project.config.instances["web"] == ["web-1", "web-2", "web-3"]
    assert project.config.groups == {"backend": ["api"]}
    assert project.config.tasks["web-3"].env == {"TASKMUX_REPLICA": "3"}
    (tmp_path / "taskmux.local.toml").write_text('[tasks.api]\ncommand = "serve --debug"\n')
    assert read_current(str(path)) is None  # the lean path no longer trusts the old cache
    assert load_project(path).config.tasks["api"].command == "serve --debug"
    assert "serve --debug" not in path.read_text()
    assert load_project(path).config.tasks["web-2"].env == {"TASKMUX_REPLICA": "2"}  # cached


def test_each_problem_names_the_file_and_line_that_hold_it(tmp_path: Path) -> None:
    local = (
        '[groups]\nfront = ["ghost"]\n\n[tasks.api]\ncommand = 5\n\n[tasks.x]\nextends = "nope"\n'
    )
    path = _write(tmp_path, MAIN.replace("replicas = 3", "replicas = 40"), local)
    config, problems = check_file(path)
    assert config is None
    found = {(p.code, Path(p.path or "").name, p.line) for p in problems}
    assert found == {
        ("E113", "taskmux.toml", 13),  # replicas out of range
        ("E114", "taskmux.local.toml", 2),  # a group naming an unknown task
        ("E112", "taskmux.local.toml", 5),  # the local command's type
        ("E114", "taskmux.local.toml", 8),  # extends an unknown task
        ("E111", "taskmux.local.toml", 7),  # x has no command: its table is the local file's
    }


def test_edits_change_taskmux_toml_only_and_keep_its_comments(tmp_path: Path) -> None:
    path = _write(tmp_path, MAIN, '[tasks.api]\ncommand = "serve --debug"\n')
    before = (tmp_path / "taskmux.local.toml").read_bytes()
    project = set_replicas(path, "web", 1)
    assert list(project.config.tasks) == ["api", "web-1"]
    text = path.read_text()
    assert "replicas = 1  # by hand" in text and "# the web servers" in text
    add_task(path, "db", "postgres")
    assert (tmp_path / "taskmux.local.toml").read_bytes() == before
    assert load_project(path).config.tasks["api"].command == "serve --debug"
