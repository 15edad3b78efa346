"""Issue 28, items 1-9: imports that are right for real files' shapes, exports a server
admin would accept. Every source file here is written for the test (none is copied)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import subprocess
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_cli

from taskmux.config.models import validate_config
from taskmux.config.project import check_file
from taskmux.config.schema import ProjectConfig
from taskmux.interop.exporters import SystemdTarget, compose_file, systemd_units
from taskmux.interop.moving import plan_import

# The compose-spec JSON schema, vendored from the Compose Specification's repository
# (https://github.com/compose-spec/compose-spec, schema/compose-spec.json, commit
# 170098ba07d9f53c383a41bfd4c5166b0a4529a6, Apache License 2.0).
COMPOSE_SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"


def _write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _import(root: Path, name: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("import", name, "--json", *args, cwd=root)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def _tasks(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((root / "taskmux.toml").read_text())
    return data["tasks"]


def _notes(doc: dict[str, Any]) -> dict[str, str]:
    return {n["source"]: n["detail"] for n in doc["mapped"] + doc["unmapped"]}


def _run(command: str, cwd: Path, **env: str) -> str:
    """A command as taskmux runs it (`/bin/sh -c`), in a clean environment."""
    base = {"PATH": os.environ["PATH"], "HOME": str(cwd)}
    done = subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return done.stdout + done.stderr


def _config(root: Path, text: str) -> ProjectConfig:
    path = _write(root, "taskmux.toml", text)
    config, problems = check_file(path)
    assert config is not None, problems
    return config


# 1. an import that check rejects exits non-zero, naming what is left ------------------


def test_an_import_check_rejects_exits_non_zero_naming_what_is_left(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "process-compose.yaml",
        """
        processes:
          api:
            command: ./api
            env_file: .env.local
            environment:
              - "DATABASE_URL=postgres://${DB_USER}@localhost/shop"
        """,
    )
    code, doc = _import(tmp_path, "process-compose.yaml")
    assert code == 1 and doc["ok"] is False
    assert doc["error"]["code"] == "E904"
    assert "taskmux check rejects it" in doc["error"]["message"]
    left = {(p["code"], p["task"]) for p in doc["errors"]}
    assert ("E122", "api") in left  # the env file to write
    assert any("${DB_USER}" in p["message"] for p in doc["errors"])  # the variable to define
    assert (tmp_path / "taskmux.toml").exists()  # written, for the user to finish
    # once both are there, the same import is ok and check agrees
    _write(tmp_path, ".env.local", "DB_USER=shop\n")
    code, doc = _import(tmp_path, "process-compose.yaml", "--force")
    assert code == 0 and doc["errors"] == [], doc
    assert run_cli("check", cwd=tmp_path).returncode == 0


# 2. ${VAR:-default} and $$ as process-compose means them --------------------------------


def test_defaults_and_dollars_are_mapped_faithfully(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "process-compose.yaml",
        """
        environment:
          - "DB_HOST=${DB_HOST:-localhost}"
        processes:
          show:
            command: printf '%s|%s|%s' "$$DB_HOST" "$$PRICE" "$$GREETING"
            environment:
              - "PRICE=$$5"
              - "GREETING=${GREETING:-hello there}"
        """,
    )
    code, doc = _import(tmp_path, "process-compose.yaml")
    assert code == 0, doc  # no E119 for a file that was never written
    show = _tasks(tmp_path)["show"]
    assert show["env"] == {"PRICE": "$$5"}  # taskmux's $$ is one literal $
    assert show["command"].startswith('export DB_HOST="${DB_HOST:-localhost}"; ')
    assert "exported before the command" in _notes(doc)["processes.show.environment: GREETING"]
    # run as taskmux runs it: the task's env, then the command under /bin/sh
    assert _run(show["command"], tmp_path, PRICE="$5") == "localhost|$5|hello there"
    assert _run(show["command"], tmp_path, PRICE="$5", DB_HOST="db", GREETING="hi") == ("db|$5|hi")
    assert run_cli("check", cwd=tmp_path).returncode == 0


# 3. a probe's port is not the task's port; duplicate fixed ports are E903 ---------------


def test_probes_of_one_port_leave_the_tasks_portless(tmp_path: Path) -> None:
    probe = "readiness_probe: {http_get: {host: 127.0.0.1, port: 8080, path: /ready}}"
    _write(
        tmp_path,
        "process-compose.yaml",
        f"""
        processes:
          proxy:
            command: ./proxy --listen 8080
            {probe}
          app:
            command: ./app
            {probe}
          jobs:
            command: ./jobs
            {probe}
        """,
    )
    code, doc = _import(tmp_path, "process-compose.yaml")
    assert code == 0, doc
    tasks = _tasks(tmp_path)
    assert all("port" not in task for task in tasks.values())
    assert {task["health_url"] for task in tasks.values()} == {"http://127.0.0.1:8080/ready"}
    assert (
        "not taken as the task's own port" in _notes(doc)["processes.app.readiness_probe.http_get"]
    )


def test_two_tasks_on_one_fixed_port_are_a_check_error() -> None:
    raw = {
        "name": "shop",
        "tasks": {
            "a": {"command": "./a", "port": 8080},
            "b": {"command": "./b", "port": 8080},
            "c": {"command": "./c", "port": "auto"},
        },
    }
    config, problems = validate_config(raw)
    assert config is None
    found = [(p.code, p.task, p.key) for p in problems if p.severity == "error"]
    assert found == [("E903", "b", "port")]
    assert "also task 'a'" in problems[0].message


def test_exports_refuse_a_config_check_rejects(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "taskmux.toml",
        """
        name = "shop"
        [tasks.a]
        command = "./a"
        port = 8080
        [tasks.b]
        command = "./b"
        port = 8080
        """,
    )
    exports = (["compose", "--image", "python:3.12-slim"], ["systemd", "--dir", "units"])
    for args in exports:  # the file itself is invalid: loading it says so
        result = run_cli("export", *args, "--json", cwd=tmp_path)
        assert result.returncode == 2, result.stdout
        assert json.loads(result.stdout)["error"]["code"] == "E903"
    # valid as a file, but check rejects it (a required env file is missing): E906
    _write(
        tmp_path,
        "taskmux.toml",
        'name = "shop"\nenv_file = "prod.env"\n[tasks.a]\ncommand = "./a"\n',
    )
    for args in exports:
        result = run_cli("export", *args, "--json", cwd=tmp_path)
        assert result.returncode == 2, result.stdout
        error = json.loads(result.stdout)["error"]
        assert (
            error["code"] == "E906"
            and "E122" in error["message"]
            and "prod.env" in error["message"]
        )
    assert not (tmp_path / "compose.yaml").exists() and not (tmp_path / "units").exists()


def test_compose_never_publishes_a_port_twice(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        """
        name = "shop"
        [tasks.a]
        command = "./a"
        port = 8080
        [tasks.b]
        command = "./b"
        port = 8081
        """,
    )
    # as a config from before E903 would have it
    same = dataclasses.replace(config.tasks["b"], port=8080)
    config = dataclasses.replace(config, tasks={**config.tasks, "b": same})
    path = tmp_path / "compose.yaml"
    export = compose_file(config, tmp_path, path, "img", tmp_path / "taskmux.toml")
    services = yaml.safe_load(export.files["compose.yaml"])["services"]
    assert services["a"]["ports"] == ["8080:8080"]
    assert "ports" not in services["b"] and services["b"]["expose"] == ["8080"]


# 4. vars and Go templates are rendered ---------------------------------------------------


def test_vars_and_templates_are_rendered(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "process-compose.yaml",
        """
        vars:
          BASE_PORT: 7000
          LABEL: bench
        processes:
          node:
            vars:
              LABEL: node-a
            command: ./node --label {{.LABEL}} --port {{ .BASE_PORT }} --peer {{.PEER}}
            environment:
              - "NODE_NAME={{.LABEL}}-1"
          other:
            command: ./other --label {{.LABEL}}
        """,
    )
    code, doc = _import(tmp_path, "process-compose.yaml")
    assert code == 0, doc
    tasks = _tasks(tmp_path)
    assert tasks["node"]["command"] == "./node --label node-a --port 7000 --peer {{.PEER}}"
    assert tasks["node"]["env"] == {"NODE_NAME": "node-a-1"}
    assert tasks["other"]["command"] == "./other --label bench"
    notes = _notes(doc)
    assert "no such name in vars" in notes["processes.node: {{.PEER}}"]
    assert "vars" not in [n["source"] for n in doc["unmapped"]]


# 5. working_dir with a variable ----------------------------------------------------------


def test_a_working_dir_with_a_variable_is_a_cd_the_shell_expands(tmp_path: Path) -> None:
    (tmp_path / "data" / "svc").mkdir(parents=True)
    _write(
        tmp_path,
        "process-compose.yaml",
        """
        processes:
          svc:
            working_dir: "${DATA_ROOT}/svc"
            command: pwd
        """,
    )
    code, doc = _import(tmp_path, "process-compose.yaml")
    assert code == 0, doc
    svc = _tasks(tmp_path)["svc"]
    assert "cwd" not in svc
    assert svc["command"] == 'cd -- "${DATA_ROOT}/svc" || exit 1; pwd'
    assert _run(svc["command"], tmp_path, DATA_ROOT=str(tmp_path / "data")).strip() == str(
        tmp_path / "data" / "svc"
    )
    assert "cd into ${DATA_ROOT}/svc" in _notes(doc)["processes.svc.working_dir"]
    # the exports agree: the shell expands it from the unit's or container's environment
    config = _config(tmp_path, (tmp_path / "taskmux.toml").read_text())
    units = systemd_units(config, tmp_path, tmp_path / "taskmux.toml")
    unit = units.files[f"taskmux-{config.name}-svc.service"]
    assert 'ExecStart=/bin/sh -c "cd -- \\"$${DATA_ROOT}/svc\\" || exit 1; pwd"' in unit
    assert f"WorkingDirectory={tmp_path.resolve()}" in unit
    compose = compose_file(config, tmp_path, tmp_path / "c.yaml", "img", tmp_path)
    service = yaml.safe_load(compose.files["c.yaml"])["services"]["svc"]
    assert service["command"][2] == 'cd -- "$${DATA_ROOT}/svc" || exit 1; pwd'
    assert service["working_dir"] == "/app"


def test_a_literal_dollar_in_cwd_stays_literal_in_compose(tmp_path: Path) -> None:
    config = _config(tmp_path, 'name = "x"\n[tasks.a]\ncommand = "./a"\ncwd = "pay$day"\n')
    compose = compose_file(config, tmp_path, tmp_path / "c.yaml", "img", tmp_path)
    assert yaml.safe_load(compose.files["c.yaml"])["services"]["a"]["working_dir"] == (
        "/app/pay$$day"
    )


# 6. quoted probe ports ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("port", "url"),
    [
        ('"9681"', "http://127.0.0.1:9681/"),
        ("'9681'", "http://127.0.0.1:9681/"),
        ('"${API_PORT:-9682}"', "http://127.0.0.1:9682/"),
        ('"lots"', None),
    ],
)
def test_a_quoted_probe_port_is_read(tmp_path: Path, port: str, url: str | None) -> None:
    _write(
        tmp_path,
        "pc.yaml",
        f"""
        processes:
          api:
            command: ./api
            readiness_probe:
              http_get:
                host: 127.0.0.1
                port: {port}
        """,
    )
    plan = plan_import(tmp_path / "pc.yaml", "x")
    assert plan.tasks["api"].keys.get("health_url") == url
    if url is None:  # never a probe of port 80 without a word
        assert any("not a port number" in n.detail for n in plan.notes if not n.mapped)


# 7. Procfile PORT as foreman, honcho and overmind give it --------------------------------


def test_every_procfile_process_gets_foremans_port(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "Procfile",
        """
        web: gunicorn shop.wsgi
        worker: celery -A shop worker
        assets: npm run watch -- --port $PORT
        """,
    )
    code, doc = _import(tmp_path, "Procfile")
    assert code == 0, doc
    tasks = _tasks(tmp_path)
    assert [t["port"] for t in tasks.values()] == [5000, 5100, 5200]
    notes = _notes(doc)
    assert "foreman, honcho and overmind" in notes["line 1 (PORT)"]
    assert "5000 + 100 * n" in notes["line 1 (PORT)"]
    assert "SIGKILL after 5 s" in notes["stopping"]  # the stop differs, and says how


# 8. the smaller ones -------------------------------------------------------------------------


def test_keys_taskmux_has_are_mapped(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "pc.yaml",
        """
        processes:
          lint:
            executable: python3
            args: ["-m", "http.server", "--bind", "127.0.0.1", "0"]
            success_exit_codes: [0, 3]
            watch:
              - paths: ["src/**/*.py"]
              - "pyproject.toml"
        """,
    )
    plan = plan_import(tmp_path / "pc.yaml", "x")
    keys = plan.tasks["lint"].keys
    assert keys["command"] == "python3 -m http.server --bind 127.0.0.1 0"
    assert keys["success_exit_codes"] == [0, 3]
    assert keys["watch"] == ["src/**/*.py", "pyproject.toml"]
    assert [n.source for n in plan.notes if not n.mapped] == []


def test_bash_only_commands_run_under_bash(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "pc.yaml",
        """
        processes:
          strict:
            command: set -o pipefail; if [[ -n "$$HOME" ]]; then echo bash; fi
          plain:
            command: echo plain
        """,
    )
    plan = plan_import(tmp_path / "pc.yaml", "x")
    strict = plan.tasks["strict"].keys["command"]
    assert strict.startswith("bash -c ") and plan.tasks["plain"].keys["command"] == "echo plain"
    if shutil.which("bash"):
        assert _run(strict, tmp_path).strip() == "bash"
    assert any("uses bash syntax" in n.detail for n in plan.notes)
    procfile = _write(tmp_path, "Procfile", "web: source venv/bin/activate && ./serve\n")
    web = plan_import(procfile, "x").tasks["web"].keys["command"]
    assert web == "bash -c 'source venv/bin/activate && ./serve'"


def test_extends_is_followed(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "base.yaml",
        """
        environment: ["MODE=base"]
        processes:
          db:
            command: ./db
          api:
            command: ./api --old
            depends_on: {db: {condition: process_started}}
        """,
    )
    _write(
        tmp_path,
        "pc.yaml",
        """
        extends: base.yaml
        processes:
          api:
            command: ./api --new
        """,
    )
    plan = plan_import(tmp_path / "pc.yaml", "x")
    assert list(plan.tasks) == ["db", "api"]
    assert plan.tasks["api"].keys["command"] == "./api --new"
    assert plan.tasks["api"].keys["depends_on"] == [{"task": "db", "condition": "started"}]
    assert plan.top["env"] == {"MODE": "base"}
    assert any(n.source.startswith("extends") and n.mapped for n in plan.notes)


def test_yaml_1_1_words_are_read_as_process_compose_reads_them(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "pc.yaml",
        """
        processes:
          a:
            command: ./a
            disabled: no
            is_daemon: off
            availability:
              restart: no
          b:
            command: ./b
            disabled: yes
            environment:
              - "FLAG=off"
        """,
    )
    plan = plan_import(tmp_path / "pc.yaml", "x")
    a, b = plan.tasks["a"].keys, plan.tasks["b"].keys
    assert a["restart_policy"] == "no" and "auto_start" not in a
    assert b["auto_start"] is False and b["env"] == {"FLAG": "off"}
    assert [n.source for n in plan.notes if not n.mapped] == []  # no "unknown policy False"


def test_secrets_go_to_an_env_file_only_the_owner_reads(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "process-compose.yaml",
        """
        environment:
          - "STRIPE_SECRET_KEY=sk_test_abcdef123456"
        processes:
          api:
            command: ./api
            environment:
              - "DB_PASSWORD=hunter2hunter2"
              - "LOG_LEVEL=debug"
        """,
    )
    code, doc = _import(tmp_path, "process-compose.yaml")
    assert code == 0, doc
    text = (tmp_path / "taskmux.toml").read_text()
    assert "sk_test_abcdef123456" not in text and "hunter2hunter2" not in text
    data = tomllib.loads(text)
    assert data["env_file"] == ["?.env", ".taskmux-secrets.env"]
    api = data["tasks"]["api"]
    assert api["env_file"] == ".taskmux-secrets-api.env" and api["env"] == {"LOG_LEVEL": "debug"}
    for name in (".taskmux-secrets.env", ".taskmux-secrets-api.env"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    env = run_cli("env", "api", cwd=tmp_path)
    assert "DB_PASSWORD=hunter2hunter2" in env.stdout.replace("'", "")
    assert sorted(doc["private"]) == sorted(
        str(tmp_path / n) for n in (".taskmux-secrets.env", ".taskmux-secrets-api.env")
    )


# 9. exports a server admin would accept ----------------------------------------------------

STACK = """
name = "shop"
[tasks.db]
command = "./db"
port = 5432
[tasks.web]
command = "bundle exec puma -p $PORT"
port = "auto"
replicas = 3
depends_on = ["db"]
[tasks.jobs]
command = "./jobs"
depends_on = ["web"]
"""


def _settings(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_user_units_set_the_path_export_ran_with(tmp_path: Path) -> None:
    config = _config(tmp_path, STACK)
    where = SystemdTarget(path="/home/me/.rbenv/shims:/usr/bin", exporter="me")
    export = systemd_units(config, tmp_path, tmp_path / "taskmux.toml", where)
    db = _settings(export.files["taskmux-shop-db.service"])
    assert '"PATH=/home/me/.rbenv/shims:/usr/bin"' in db["Environment"]
    assert "User" not in db and db["ExecStart"] == ['/bin/sh -c "./db"']
    assert _settings(export.files["taskmux-shop.target"])["WantedBy"] == ["default.target"]


def test_system_units_run_as_the_user_with_a_login_shell(tmp_path: Path) -> None:
    config = _config(tmp_path, STACK)
    where = SystemdTarget(user="deploy", path="/home/me/bin:/usr/bin", exporter="me")
    export = systemd_units(config, tmp_path, tmp_path / "taskmux.toml", where)
    db = _settings(export.files["taskmux-shop-db.service"])
    assert db["User"] == ["deploy"] and db["ExecStart"] == ['/bin/sh -lc "./db"']
    assert not any(v.startswith('"PATH=') for v in db["Environment"])  # not the exporter's
    assert _settings(export.files["taskmux-shop.target"])["WantedBy"] == ["multi-user.target"]
    assert any("login shell (sh -l) of deploy" in note for note in export.notes)


def test_replicas_are_a_template_unit(tmp_path: Path) -> None:
    config = _config(tmp_path, STACK)
    export = systemd_units(config, tmp_path, tmp_path / "taskmux.toml")
    names = set(export.files)
    assert "taskmux-shop-web@.service" in names
    assert not any(name.startswith("taskmux-shop-web-") for name in names)
    template = _settings(export.files["taskmux-shop-web@.service"])
    assert '"TASKMUX_REPLICA=%i"' in template["Environment"]
    assert '"TASKMUX_TASK=web-%i"' in template["Environment"]
    assert not any(v.startswith('"PORT=') for v in template["Environment"])
    ports = [
        _settings(export.files[f"taskmux-shop-web@{n}.service.d/port.conf"])["Environment"]
        for n in (1, 2, 3)
    ]
    assert len({p[0] for p in ports}) == 3  # each instance its own PORT
    jobs = _settings(export.files["taskmux-shop-jobs.service"])
    assert jobs["After"] == [" ".join(f"taskmux-shop-web@{n}.service" for n in (1, 2, 3))]
    wants = _settings(export.files["taskmux-shop.target"])["Wants"][0].split()
    assert "taskmux-shop-web@2.service" in wants


def _analyze(units: Path, names: list[str], user: bool, runtime: Path) -> str:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    scope = ["--user"] if user else []
    result = subprocess.run(
        [analyze, "verify", *scope, "--man=no", *names],
        cwd=units,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime), "SYSTEMD_UNIT_PATH": f"{units}:"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return f"{result.returncode} {result.stdout}{result.stderr}".strip()


def _ordinary_account() -> str:
    """An account systemd takes without a warning (not root, not nobody)."""
    import pwd

    for entry in pwd.getpwall():
        if 0 < entry.pw_uid < 65534 and entry.pw_name != "nobody":
            return entry.pw_name
    pytest.skip("no ordinary account on this machine for User=")


@pytest.mark.parametrize("system", [False, True])
def test_systemd_analyze_verifies_user_and_system_units(tmp_path: Path, system: bool) -> None:
    config = _config(tmp_path, STACK)
    user = _ordinary_account() if system else None
    where = SystemdTarget(user=user, path=os.environ.get("PATH", ""), exporter="me")
    export = systemd_units(config, tmp_path, tmp_path / "taskmux.toml", where)
    units = tmp_path / "units"
    for name, text in export.files.items():
        (units / name).parent.mkdir(parents=True, exist_ok=True)
        (units / name).write_text(text)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    instances = [f"taskmux-shop-web@{n}.service" for n in (1, 2, 3)]
    plain = sorted(name for name in export.files if "@" not in name)
    assert _analyze(units, plain + instances, not system, runtime) == "0"


# compose against the compose-spec schema -------------------------------------------------


def test_compose_exports_are_valid_against_the_compose_spec(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    (tmp_path / "svc").mkdir()
    config = _config(
        tmp_path,
        STACK
        + """
[tasks.api]
command = "./api"
cwd = "svc"
port = 8080
health_url = "http://127.0.0.1:8080/health"
env = { GREETING = "hi" }
restart_policy = "always"
""",
    )
    export = compose_file(config, tmp_path, tmp_path / "compose.yaml", "img:1", tmp_path)
    document = yaml.safe_load(export.files["compose.yaml"])
    validator = jsonschema.Draft7Validator(schema)  # the draft its $schema names
    validator.validate(document)
    published = [p for s in document["services"].values() for p in s.get("ports", [])]
    assert published and len(published) == len(set(published))
    # and the validator is not a rubber stamp
    document["services"]["api"]["restart"] = ["always"]
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(document)


def test_a_mapping_taskmux_refuses_names_the_source_and_writes_nothing(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "pc.yaml",
        """
        processes:
          api:
            command: ./api
            shutdown: {signal: SIGSTOP}
        """,
    )
    code, doc = _import(tmp_path, "pc.yaml")
    assert code == 2 and doc["error"]["code"] == "E905"
    message = doc["error"]["message"]
    assert message.startswith("pc.yaml cannot be imported (nothing was written)")
    assert "task 'api' key 'stop_signal'" in message and "taskmux.toml" not in message
    assert not (tmp_path / "taskmux.toml").exists()
