"""Moving in from process-compose: a process's readiness or liveness probe as the task's
health check (`health_check` or `health_url`, with its timing). Pure."""

from __future__ import annotations

from typing import Any

from taskmux.interop.importers.plan import (
    ImportPlan,
    is_number,
    shown,
    unescape_dollars,
)
from taskmux.interop.importers.substitution import port_number


def probes(plan: ImportPlan, name: str, where: str, body: dict[str, Any], expand: bool) -> None:
    readiness = body.get("readiness_probe")
    liveness = body.get("liveness_probe")
    chosen, kind = (readiness, "readiness_probe") if readiness else (liveness, "liveness_probe")
    if not chosen:
        return
    source = f"{where}.{kind}"
    if not isinstance(chosen, dict) or not _probe(plan, name, source, chosen, expand):
        plan.unmapped(f"{source}", "neither exec.command nor http_get: no probe", name)
        return
    if readiness and liveness and liveness != readiness:
        plan.unmapped(
            f"{where}.liveness_probe ({_probe_summary(liveness)})",
            "taskmux has one probe per task (here the readiness probe), which also restarts "
            "the task after health_retries failures",
            name,
        )


def _probe(plan: ImportPlan, name: str, source: str, probe: dict[str, Any], expand: bool) -> bool:
    keys = plan.tasks[name].keys
    exec_probe = probe.get("exec")
    http = probe.get("http_get") or probe.get("http")
    if isinstance(exec_probe, dict) and isinstance(exec_probe.get("command"), str):
        keys["health_check"] = unescape_dollars(exec_probe["command"], expand)
        plan.mapped(f"{source}.exec.command", f"tasks.{name}.health_check", "a shell command")
        probe_dir = exec_probe.get("working_dir")
        if probe_dir and probe_dir != keys.get("cwd"):
            plan.unmapped(
                shown(f"{source}.exec.working_dir", probe_dir),
                "taskmux runs the check in the task's cwd",
                name,
            )
    elif isinstance(http, dict):
        _http_probe(plan, name, source, http)
    else:
        return False
    timing = {
        "initial_delay_seconds": "health_start_period",
        "period_seconds": "health_interval",
        "timeout_seconds": "health_timeout",
        "failure_threshold": "health_retries",
    }
    for key, target in timing.items():
        value = probe.get(key)
        if value is None:
            continue
        lowest = 0 if target == "health_start_period" else 1
        if is_number(value) and value >= lowest:
            keys[target] = int(value) if target == "health_retries" else value
            plan.mapped(f"{source}.{key}", f"tasks.{name}.{target}", str(value))
        else:
            plan.unmapped(shown(f"{source}.{key}", value), "out of range: default kept", name)
    success = probe.get("success_threshold")
    if success not in (None, 1):
        plan.unmapped(
            shown(f"{source}.success_threshold", success),
            "one passing check makes a task healthy",
            name,
        )
    for extra in probe:
        if extra not in ("exec", "http_get", "http", "success_threshold", *timing):
            plan.unmapped(shown(f"{source}.{extra}", probe[extra]), "no equivalent", name)
    return True


def _http_probe(plan: ImportPlan, name: str, source: str, http: dict[str, Any]) -> None:
    keys = plan.tasks[name].keys
    scheme = str(http.get("scheme") or "http")
    host = str(http.get("host") or "127.0.0.1")
    raw_port = http.get("port")
    port = port_number(raw_port)
    path = str(http.get("path") or "/")
    if not path.startswith("/"):
        path = "/" + path
    if raw_port is not None and port is None:
        plan.unmapped(
            shown(f"{source}.http_get.port", raw_port),
            "not a port number: no probe (it would check the scheme's default port)",
            name,
        )
        return
    netloc = f"{host}:{port}" if port is not None else host
    keys["health_url"] = f"{scheme}://{netloc}{path}"
    detail = keys["health_url"]
    if port is not None and not isinstance(raw_port, int):
        detail += f" (port {raw_port!r} read as {port})"
    if port is not None:
        # A probe's target is not what the task listens on: several tasks may probe one
        # port (a proxy's, a database's), and a port of its own would be freed, shown,
        # published by exports and refused twice by check.
        detail += "; not taken as the task's own port: set port if the task listens on it"
    plan.mapped(f"{source}.http_get", f"tasks.{name}.health_url", detail)
    status = http.get("status_code")
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        keys["health_expect_status"] = status
        plan.mapped(
            f"{source}.http_get.status_code", f"tasks.{name}.health_expect_status", str(status)
        )
    elif status is not None:
        plan.unmapped(shown(f"{source}.http_get.status_code", status), "not a status", name)
    method = http.get("method")
    if method is not None and str(method).upper() != "GET":
        plan.unmapped(shown(f"{source}.http_get.method", method), "taskmux probes with GET", name)
    for extra in http:
        if extra not in ("scheme", "host", "port", "path", "status_code", "method"):
            plan.unmapped(shown(f"{source}.http_get.{extra}", http[extra]), "no equivalent", name)


def _probe_summary(probe: Any) -> str:
    if not isinstance(probe, dict):
        return "not a table"
    if isinstance(probe.get("exec"), dict):
        return f"exec: {probe['exec'].get('command')}"
    http = probe.get("http_get") or probe.get("http")
    if isinstance(http, dict):
        return (
            f"http_get: {http.get('host', '127.0.0.1')}:{http.get('port')}{http.get('path', '/')}"
        )
    return "no exec or http_get"
