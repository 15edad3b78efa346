"""`taskmux import` and `taskmux export` end to end, through the installed CLI: a Rails-like
Procfile and a process-compose.yaml imported, checked and run on a private tmux server
(order, probes, restarts, environment), then exported to systemd and compose."""

from __future__ import annotations

import json
import socket
import stat
import textwrap
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import run_cli
from harness import Project, holds_for, project, wait_until

from taskmux.config.schema import TaskConfig, field_names

__all__ = ["project"]

HAS_ENV = "env" in field_names(TaskConfig)
needs_env = pytest.mark.skipif(not HAS_ENV, reason="this schema has no env/env_file/auto ports")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def _answer(url: str) -> str | None:
    """The page, or None while nothing listens yet (a task without a probe is started
    once it has lived through the settle window, not once it listens)."""
    try:
        return _get(url)
    except OSError:
        return None


# A Rails-like app, with python3 standing in for puma, sidekiq, clockwork and the migration.
RAILS = {
    "Procfile": """\
        # The shop: Rails on Heroku, run locally with foreman
        web: python3 -m http.server $PORT --bind 127.0.0.1 --directory public
        worker: python3 -u worker.py
        release: python3 release.py
        clock: python3 -u clock.py
        """,
    ".env": "GREETING=hello from .env\n",
    "release.py": """\
        import pathlib, time
        time.sleep(0.2)  # a migration takes a while
        pathlib.Path("public").mkdir(exist_ok=True)
        pathlib.Path("public/index.html").write_text("migrated")
        pathlib.Path("migrated.txt").write_text("done")
        print("release: migrations applied")
        """,
    "worker.py": """\
        import os, time
        print("worker:", os.environ.get("GREETING"))
        while True:
            time.sleep(1)
        """,
    "clock.py": """\
        import time
        while True:
            print("clock: tick")
            time.sleep(0.5)
        """,
}


def _compose_project(db_port: int, api_port: int) -> dict[str, str]:
    return {
        "process-compose.yaml": f"""\
            version: "0.5"
            log_level: info
            processes:
              db:
                command: python3 -u db.py {db_port}
                readiness_probe:
                  exec:
                    command: python3 -c "import socket; socket.create_connection(('127.0.0.1', {db_port}), 1).close()"
                  period_seconds: 1
                  failure_threshold: 20
                shutdown:
                  signal: 15
                  timeout_seconds: 2
              migrate:
                command: python3 migrate.py
                depends_on:
                  db:
                    condition: process_healthy
              api:
                command: python3 -u api.py {api_port}
                environment:
                  - "API_GREETING=hello from process-compose"
                depends_on:
                  migrate:
                    condition: process_completed_successfully
                  db:
                    condition: process_healthy
                readiness_probe:
                  http_get:
                    host: 127.0.0.1
                    port: {api_port}
                    path: /health
                  period_seconds: 1
                availability:
                  restart: on_failure
              worker:
                command: "echo tick >> ticks.txt; sleep 0.3; exit 3"
                availability:
                  restart: on_failure
                  backoff_seconds: 0
                  max_restarts: 2
            """,
        "db.py": """\
            import socket, sys, time
            time.sleep(0.2)  # replaying its journal
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", int(sys.argv[1])))
            s.listen()
            print("db: ready", flush=True)
            while True:
                s.accept()[0].close()
            """,
        "migrate.py": """\
            import pathlib, time
            time.sleep(0.2)
            pathlib.Path("migrated.txt").write_text("done")
            """,
        "api.py": """\
            import http.server, os, sys

            class Handler(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    body = os.environ.get("API_GREETING", "no greeting").encode()
                    self.send_response(200 if self.path == "/health" else 404)
                    self.end_headers()
                    self.wfile.write(body)

                def log_message(self, *args):
                    pass

            http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
            """,
    }


# import, the command ----------------------------------------------------------------------


@needs_env
def test_import_writes_next_to_the_file_and_never_over_a_config(tmp_path: Path) -> None:
    app = tmp_path / "shop"
    _write(app, RAILS)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli("import", "../shop/Procfile", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert f"wrote {app / 'taskmux.toml'} from Procfile (procfile): session 'shop'" in result.stdout
    assert "line 4 (release) → tasks.release" in result.stdout
    assert not (elsewhere / "taskmux.toml").exists()
    text = (app / "taskmux.toml").read_text()
    assert text.startswith("# taskmux.toml: imported from Procfile by taskmux import.")

    again = run_cli("import", "Procfile", "--json", cwd=app)
    assert again.returncode == 2
    error = json.loads(again.stdout)["error"]
    assert error["code"] == "E104" and "--force" in error["message"]
    assert (app / "taskmux.toml").read_text() == text  # untouched

    forced = run_cli("import", "Procfile", "--force", "--json", cwd=app)
    assert forced.returncode == 0, forced.stderr
    doc = json.loads(forced.stdout)
    assert doc["ok"] is True and doc["format"] == "procfile" and doc["session"] == "shop"
    assert doc["tasks"] == ["web", "worker", "release", "clock"]
    assert doc["config"] == str(app / "taskmux.toml") and doc["unmapped"] == []
    sources = {m["source"]: m["target"] for m in doc["mapped"]}
    assert sources[".env"] == "env_file" and sources["line 2 (PORT)"] == "tasks.web.port"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("Procfile", "# only a comment\n", "Procfile has no 'name: command' line to import"),
        ("pc.yaml", "processes:\n  a: [unclosed\n", "pc.yaml at line 3"),
        ("pc.yaml", "- a\n- b\n", "no 'processes' table"),
        ("Procfile", b"web: caf\xe9\n", "not UTF-8"),
    ],
)
def test_import_refuses_what_it_cannot_read(
    tmp_path: Path, name: str, text: str | bytes, message: str
) -> None:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    result = run_cli("import", name, "--json", cwd=tmp_path)
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "E901" and message in error["message"], error
    assert not (tmp_path / "taskmux.toml").exists()
    missing = run_cli("import", "nope.yaml", cwd=tmp_path)
    assert missing.returncode == 2 and "error[E901]" in missing.stderr
    assert "Traceback" not in result.stderr + missing.stderr


def _is_free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# round trips on a real tmux server -----------------------------------------------------


@needs_env
def test_a_rails_procfile_runs_as_foreman_would(project: Project) -> None:
    if not all(_is_free(5000 + 100 * n) for n in range(4)):
        pytest.skip("ports 5000-5300 (foreman's) are in use on this machine")
    _write(project.root, RAILS)
    imported = project.run("import", "Procfile")
    assert imported.returncode == 0, imported.stderr
    check = project.run("check")
    assert check.returncode == 0 and "0 error(s)" in check.stdout, check.stdout + check.stderr
    started = project.run("start", "--wait", "--timeout", "30", "--json")
    assert started.returncode == 0, started.stdout + started.stderr
    rows = project.status()
    # release ran first and completed; everything else started after it
    assert rows["release"]["state"].startswith("completed"), rows["release"]
    migrated_at = (project.root / "migrated.txt").stat().st_mtime
    for name in ("web", "worker", "clock"):
        assert rows[name]["running"] is True, rows[name]
        assert rows[name]["started_at"] > migrated_at, name
    # web got foreman's port as $PORT, and serves what the release wrote
    port = rows["web"]["port"]
    assert port == 5000 and rows["web"]["port_auto"] is False
    assert wait_until(lambda: _answer(f"http://127.0.0.1:{port}/")) == "migrated"
    # .env reached the tasks
    wait_until(lambda: "worker: hello from .env" in project.run("logs", "worker").stdout)


def test_a_process_compose_project_runs_as_process_compose_would(project: Project) -> None:
    db_port, api_port = free_port(), free_port()
    _write(project.root, _compose_project(db_port, api_port))
    imported = project.run("import", "process-compose.yaml", "--json")
    assert imported.returncode == 0, imported.stderr
    doc = json.loads(imported.stdout)
    assert [(n["source"], n["detail"]) for n in doc["unmapped"]] == [
        ("log_level = info", "taskmux has no log level"),
        (
            "processes.api.availability.max_restarts = 0 (no limit)",
            "taskmux gives up after max_restarts (default 5) restarts in a row",
        ),
    ]
    check = project.run("check")
    assert check.returncode == 0, check.stdout + check.stderr

    supervising = project.supervise()
    wait_until(lambda: project.status()["api"]["healthy"] is True, timeout=30)
    rows = project.status()
    # order: the migration completed before the api started, after db was healthy
    assert rows["migrate"]["state"].startswith("completed") and rows["migrate"]["exit_code"] == 0
    assert rows["api"]["started_at"] > (project.root / "migrated.txt").stat().st_mtime
    # probes: db by its exec command, the api by its health_url
    assert (rows["db"]["probe"], rows["api"]["probe"]) == ("command", "http")
    # the probe's port is the probe's: not taken as the task's own
    assert rows["db"]["healthy"] is True and rows["api"]["port"] is None
    body = _get(f"http://127.0.0.1:{api_port}/health")
    if HAS_ENV:
        assert body == "hello from process-compose"  # the environment list
    # restarts: on_failure, no delay, at most 2 restarts, then it gives up
    ticks = project.root / "ticks.txt"
    wait_until(lambda: project.status()["worker"].get("gave_up") is True, timeout=30)
    assert ticks.read_text().split() == ["tick"] * 3
    holds_for(lambda: ticks.read_text().count("tick") == 3, 0.5)  # its restarts: no delay
    assert supervising.alive  # supervision goes on for the others


# export ----------------------------------------------------------------------------------


def test_an_imported_project_exports_with_everything(tmp_path: Path) -> None:
    _write(tmp_path, _compose_project(5432, 8080))
    assert run_cli("import", "process-compose.yaml", cwd=tmp_path).returncode == 0
    session = tmp_path.name
    units = tmp_path / "units"
    result = run_cli("export", "systemd", "--dir", str(units), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    names = {Path(p).name for p in doc["files"]}
    tasks = ["db", "migrate", "api", "worker"]
    assert names == {f"taskmux-{session}-{t}.service" for t in tasks} | {
        f"taskmux-{session}.target"
    }
    api = (units / f"taskmux-{session}-api.service").read_text()
    assert f"Requires=taskmux-{session}-migrate.service taskmux-{session}-db.service" in api
    assert "http://127.0.0.1:8080/health" in api and "Restart=on-failure" in api
    migrate = (units / f"taskmux-{session}-migrate.service").read_text()
    assert "Type=oneshot" in migrate and "Restart=no" in migrate
    worker = (units / f"taskmux-{session}-worker.service").read_text()
    assert "RestartSec=0" in worker and "StartLimitBurst=3" in worker
    db = (units / f"taskmux-{session}-db.service").read_text()
    assert "KillSignal=SIGTERM" in db and "TimeoutStopSec=2" in db and "until python3" in db
    if HAS_ENV:
        assert 'Environment="API_GREETING=hello from process-compose"' in api
        mode = stat.S_IMODE((units / f"taskmux-{session}-api.service").stat().st_mode)
        assert mode == 0o600  # it holds env values
        assert f"EnvironmentFile=-{tmp_path}/.env" in api

    compose = run_cli("export", "compose", "--image", "python:3.12-slim", cwd=tmp_path)
    assert compose.returncode == 0, compose.stderr
    assert f"wrote {tmp_path / 'compose.yaml'}" in compose.stdout
    services = yaml.safe_load((tmp_path / "compose.yaml").read_text())["services"]
    assert list(services) == tasks
    assert services["api"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "db": {"condition": "service_healthy"},
    }
    assert services["db"]["healthcheck"]["interval"] == "1s"
    assert services["worker"]["restart"] == "on-failure:2"
    assert services["db"]["stop_signal"] == "SIGTERM"
    # exporting again replaces our own files; someone else's file is left alone
    assert run_cli("export", "compose", "--image", "x", cwd=tmp_path).returncode == 0
    mine = tmp_path / "mine.yaml"
    mine.write_text("services: {}\n")
    refused = run_cli(
        "export", "compose", "--image", "x", "--file", "mine.yaml", "--json", cwd=tmp_path
    )
    assert refused.returncode == 2
    assert json.loads(refused.stdout)["error"]["code"] == "E902"
    assert mine.read_text() == "services: {}\n"
    forced = run_cli(
        "export", "compose", "--image", "x", "--file", "mine.yaml", "--force", cwd=tmp_path
    )
    assert forced.returncode == 0 and mine.read_text().startswith("# Generated by taskmux")


def test_export_systemd_defaults_to_the_users_unit_folder(
    tmp_path: Path, isolated_home: Path
) -> None:
    (tmp_path / "taskmux.toml").write_text('name = "app"\n[tasks.web]\ncommand = "./web"\n')
    result = run_cli("export", "systemd", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = isolated_home / ".config" / "systemd" / "user"
    assert (folder / "taskmux-app-web.service").is_file()
    assert (folder / "taskmux-app.target").is_file()
    assert "systemctl --user start taskmux-app.target" in result.stdout
