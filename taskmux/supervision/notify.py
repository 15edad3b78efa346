"""Notices (SPEC §15 `[notify]`): while a supervisor runs, the events named in
`notify.on` go to the desktop, a webhook and/or a command; and three exits of a task
within a minute with the same last line become one `crash_loop` event.

The notifier follows the event log in its own thread (so it hears every process's
events) and delivers in a small pool of its own: a slow webhook or a hanging command
never holds up the supervisor's loop, nor the next notice.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskmux.errors import TaskmuxError
from taskmux.logs.events import EventLog
from taskmux.logs.stopflag import StopFlag
from taskmux.runtime.shell import run_shell
from taskmux.supervision.crashloop import EXITS, WINDOW, CrashLoops

if TYPE_CHECKING:
    from taskmux.config.schema import Notify
    from taskmux.supervision.seam import Supervised

NOTICE_OF = {"health_failed": "unhealthy"}  # the event log's name -> `notify.on`'s
TRIES = 3
WEBHOOK_TIMEOUT = 5.0  # seconds one POST may take
COMMAND_TIMEOUT = 30.0  # seconds a notify command may run


def notice_name(event: str) -> str:
    return NOTICE_OF.get(event, event)


def headline(record: dict[str, Any]) -> str:
    """One line for a person: `taskmux demo: worker crash_loop: Error: boom`."""
    task = f" {record['task']}" if record.get("task") else ""
    detail = next(
        (str(record[k]) for k in ("line", "reason", "error", "description") if record.get(k)),
        "",
    )
    text = f"taskmux {record.get('project', '')}:{task} {record['notice']}"
    return f"{text}: {detail}" if detail else text


class Notifier:
    """Hears the project's events and tells whom `[notify]` names."""

    def __init__(
        self,
        source: Callable[[], Supervised],
        retry_pause: float = 1.0,
        post: Callable[[str, bytes], None] | None = None,
    ) -> None:
        self._source = source
        self.loops = CrashLoops()
        self.retry_pause = retry_pause
        self._post = post or _post
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="taskmux-notify")
        self._stop = StopFlag()  # the follower's thread ends as soon as it is set
        self._thread: threading.Thread | None = None

    def start(self, events: Path) -> None:
        """Follow the event log from now on, in a thread of its own."""
        records = EventLog(events).follow(stop=self._stop)
        self._thread = threading.Thread(
            target=self._follow, args=(records,), name="taskmux-notice", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _follow(self, records: Any) -> None:
        for record in records:
            try:
                self.handle(record)
            except Exception as exc:  # noqa: BLE001 - a bad record or a config mid-reload
                # must not end the notices; the next record is handled as usual.
                self._source().record("supervisor_error", None, error=f"notify: {exc}")

    def handle(self, record: dict[str, Any]) -> None:
        """One event: a crash-loop check for an exit, a notice if `notify.on` names it."""
        project = self._source()
        event, task = str(record.get("event", "")), record.get("task")
        if event == "exited" and isinstance(task, str) and not _succeeded(project, task, record):
            line = project.last_line(task)
            at = float(record.get("ts") or 0.0)
            repeated = self.loops.exited(task, at, line)
            if repeated is not None:
                project.record("crash_loop", task, line=repeated, exits=EXITS, within=WINDOW)
        settings = project.config.notify
        notice = notice_name(event)
        if notice not in settings.on or not settings.active:
            return
        fields = {k: v for k, v in record.items() if k not in ("event", "task")}
        body = {
            "project": project.session,
            "notice": notice,
            "event": event,
            "task": task,
            **project.redacted(task if isinstance(task, str) else None, fields),
        }
        self._pool.submit(self._deliver, project, settings, body)

    def _deliver(self, project: Supervised, settings: Notify, body: dict[str, Any]) -> None:
        """Every channel, each on its own: one failing is recorded, the others still go."""
        text = json.dumps(body, default=str)
        task = body.get("task")
        if settings.desktop:
            desktop(headline(body), project.state_root)
        if settings.webhook:
            error = self._webhook(settings.webhook, text.encode())
            if error is not None:
                project.record("notify_failed", task, channel="webhook", error=error)
        if settings.command:
            env = {**os.environ, "TASKMUX_EVENT": text}
            result = run_shell(settings.command, project.state_root, COMMAND_TIMEOUT, env)
            if result.timed_out or result.exit_code != 0:
                why = "timed out" if result.timed_out else f"exit {result.exit_code}"
                project.record("notify_failed", task, channel="command", error=why)

    def _webhook(self, url: str, data: bytes) -> str | None:
        """POST, up to TRIES times; None once one got a 2xx, else the last error."""
        error = ""
        for attempt in range(TRIES):
            if attempt:
                self._stop.wait(self.retry_pause * attempt)
            try:
                self._post(url, data)
                return None
            except (OSError, ValueError, TaskmuxError) as exc:  # refused, timed out, 5xx
                error = str(exc)
        return f"{TRIES} tries failed: {error}"


def _succeeded(project: Supervised, task: str, record: dict[str, Any]) -> bool:
    """Whether an exit counts as success (a one-shot's, a schedule's run): no crash."""
    spec = project.config.tasks.get(task)
    code, sig = record.get("exit_code"), record.get("signal")
    if spec is None or sig is not None or not isinstance(code, int):
        return False
    return spec.is_success(code, None)


def _post(url: str, data: bytes) -> None:
    """One POST of JSON; raises on a connection error or a status that is not 2xx."""
    import urllib.request  # with http.client and ssl (~8 MB): only once a webhook is sent

    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as reply:
        if not 200 <= reply.status < 300:
            raise TaskmuxError(f"HTTP {reply.status}")


def desktop(text: str, cwd: Path) -> None:
    """A desktop notification where one can be shown; nothing on a headless machine."""
    shown = any(
        os.environ.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")
    )
    if not shown or shutil.which("notify-send") is None:
        return
    run_shell(f"notify-send -a taskmux {shlex.quote(text)}", cwd, WEBHOOK_TIMEOUT, None)
