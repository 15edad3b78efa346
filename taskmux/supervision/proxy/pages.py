"""What the proxy answers itself: a task that is not running (503), a name it does not
know (404), a Host it does not serve (421). JSON for `Accept: application/json`, else a
small HTML page. The 503 facts come from the service's read model (`status`, and the
last 20 log lines through the service's redacting log read, `lifecycle/redaction.py`).
"""

from __future__ import annotations

import html
import json
from typing import Any

LOG_LINES = 20


def wants_json(accept: str | None) -> bool:
    """A client that asks for JSON before (or instead of) HTML gets JSON."""
    text = (accept or "").lower()
    if "application/json" not in text:
        return False
    return "text/html" not in text or text.index("application/json") < text.index("text/html")


def down_facts(config: str, task: str, own: bool = True) -> dict[str, Any]:
    """State, last exit and last lines of a task the proxy could not reach (blocking:
    the server calls it in a thread). Never raises: a page must come back."""
    from taskmux.errors import TaskmuxError
    from taskmux.lifecycle.redaction import resolves_here
    from taskmux.service import Service, open_project

    try:
        service = Service.for_project(open_project(config, fallback=True))
        rows = {row["name"]: row for row in service.status().to_dict()["tasks"]}
        row = rows.get(task, {})
        lines: list[str] = []
        withheld = None
        if not own:  # the proxy's port is open to every local user
            withheld = "shown only to the user who runs the task"
        elif resolves_here(service.project, task):
            logs = service.logs(task, LOG_LINES)
            lines = [str(r.get("line", "")) for r in getattr(logs, "records", lambda: [])()]
        else:  # a secret set where the task started, not here, would show in plain text
            withheld = f"the task's variables are not all set here: `taskmux logs {task}`"
    except (TaskmuxError, OSError) as exc:
        return {"state": "unknown", "error": str(exc), "logs": []}
    return {
        "logs_withheld": withheld,
        "state": row.get("state", "not started"),
        "running": bool(row.get("running")),
        "exit_code": row.get("exit_code"),
        "signal": row.get("signal"),
        "restart_count": row.get("restart_count", 0),
        "logs": lines[-LOG_LINES:],
    }


def down_document(task: str, session: str, url: str, facts: dict[str, Any]) -> dict[str, Any]:
    reason = "is not running" if not facts.get("running") else "does not answer on its port"
    return {
        "ok": False,
        "error": f"task '{task}' of '{session}' {reason}",
        "task": task,
        "session": session,
        "url": url,
        **facts,
    }


def broken_document(task: str, session: str, error: str) -> dict[str, Any]:
    """502: the task took the request but the exchange broke off (or timed out)."""
    return {
        "ok": False,
        "error": f"task '{task}' of '{session}' broke off the exchange: {error or 'no reason'}",
        "task": task,
        "session": session,
    }


def unknown_document(host: str, urls: list[str]) -> dict[str, Any]:
    return {
        "ok": False,
        "error": f"no task answers to {host!r}: the names are TASK.SESSION.localhost",
        "urls": urls,
    }


def refused_document(host: str) -> dict[str, Any]:
    return {
        "ok": False,
        "error": f"taskmux's proxy serves only *.localhost names, not {host!r}",
    }


def render(document: dict[str, Any], as_json: bool) -> tuple[str, str]:
    """The body and its content type."""
    if as_json:
        return json.dumps(document, indent=2) + "\n", "application/json"
    return _html(document), "text/html"


def _html(document: dict[str, Any]) -> str:
    esc = html.escape
    parts = [f"<h1>{esc(str(document['error']))}</h1>"]
    if "state" in document:
        exit_text = document.get("signal") or document.get("exit_code")
        parts.append(f"<p>state: <b>{esc(str(document['state']))}</b>")
        if exit_text is not None:
            parts.append(f" · last exit: <b>{esc(str(exit_text))}</b>")
        parts.append("</p>")
        lines = "\n".join(esc(line) for line in document.get("logs", []))
        withheld = document.get("logs_withheld")
        shown = f"(withheld: {esc(str(withheld))})" if withheld else lines or "(none)"
        parts.append(f"<h2>last log lines</h2><pre>{shown}</pre>")
        parts.append(f"<p><code>taskmux start {esc(document['task'])}</code> starts it.</p>")
    if "urls" in document:
        links = "".join(f'<li><a href="{esc(u)}">{esc(u)}</a></li>' for u in document["urls"])
        parts.append(f"<h2>names served</h2><ul>{links or '<li>(none)</li>'}</ul>")
    body = "".join(parts)
    return (
        "<!doctype html><meta charset=utf-8><title>taskmux</title>"
        '<body style="font-family:sans-serif;max-width:60rem;margin:2rem auto">'
        f"{body}</body>\n"
    )
