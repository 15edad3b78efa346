"""Notices: crash loops as a scripted history of exits (one `crash_loop`, not one per
exit), and delivery to a real local HTTP server, a command and a headless desktop."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from harness import wait_until
from probe_server import SHUTDOWN_POLL
from test_histories import _config

from taskmux.supervision.crashloop import CrashLoops
from taskmux.supervision.notify import Notifier, desktop

# (time, last line) of each exit -> which exits begin a loop
LOOPS = [
    ([(0, "boom"), (10, "boom"), (20, "boom"), (30, "boom"), (40, "boom")], [20]),
    ([(0, "boom"), (10, "bang"), (20, "boom"), (30, "boom")], []),  # another line breaks it
    ([(0, "boom"), (40, "boom"), (80, "boom")], []),  # not three within 60 s
    ([(0, "a"), (1, "a"), (2, "a"), (200, "a"), (201, "a"), (202, "a")], [2, 202]),  # a new loop
]


@pytest.mark.parametrize(("exits", "loops"), LOOPS)
def test_a_crash_loop_is_told_once(exits: list[tuple[float, str]], loops: list[float]) -> None:
    detector = CrashLoops()
    told = [at for at, line in exits if detector.exited("worker", at, line) is not None]
    assert told == loops


class NoticeProject:
    """What the notifier needs of a supervised project, in memory."""

    def __init__(self, notify: str, root: Path) -> None:
        self.config = _config(
            notify
            + """
            [tasks.worker]
            command = "worker"
            [tasks.job]
            command = "job"
            """
        )
        self.session = "demo"
        self.state_root = root
        self.line = "Error: boom"
        self.recorded: list[tuple[str, str | None, dict[str, Any]]] = []

    def last_line(self, name: str) -> str:
        return self.line

    def record(self, event: str, task: str | None, **fields: Any) -> None:
        self.recorded.append((event, task, fields))

    def redacted(self, task: str | None, fields: dict[str, Any]) -> dict[str, Any]:
        return {
            k: v.replace("hunter2", "[redacted:PASSWORD]") if isinstance(v, str) else v
            for k, v in fields.items()
        }


def _exit(at: float, task: str = "worker", code: int = 1) -> dict[str, Any]:
    return {"ts": at, "event": "exited", "task": task, "exit_code": code}


class Hook(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]]
    failures: list[int]  # statuses to answer first

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers["Content-Length"]))
        status = self.failures.pop(0) if self.failures else 200
        if status == 200:
            self.bodies.append(json.loads(data))
        self.send_response(status)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def hook() -> Iterator[tuple[str, type[Hook]]]:
    handler = type("H", (Hook,), {"bodies": [], "failures": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/notify", handler
    finally:
        server.shutdown()
        server.server_close()


def test_three_exits_make_one_crash_loop_event_and_clean_exits_none(tmp_path: Path) -> None:
    project = NoticeProject("", tmp_path)
    notifier = Notifier(lambda: project)  # type: ignore[arg-type, return-value]
    try:
        for at in (0, 5, 10, 15, 20):
            notifier.handle(_exit(at))
        for at in (0, 1, 2):
            notifier.handle(_exit(at, "job", 0))  # a one-shot that succeeds: no crash
    finally:
        notifier.close()
    loops = [(task, f["line"]) for event, task, f in project.recorded if event == "crash_loop"]
    assert loops == [("worker", "Error: boom")]


def test_the_webhook_gets_the_event_after_retries_with_secrets_hidden(
    tmp_path: Path, hook: tuple[str, type[Hook]]
) -> None:
    url, handler = hook
    handler.failures.extend([500, 503])  # two failed tries, the third lands
    project = NoticeProject(
        f'[notify]\non = ["crash_loop", "gave_up"]\nwebhook = "{url}"\n', tmp_path
    )
    notifier = Notifier(lambda: project, retry_pause=0.01)  # type: ignore[arg-type, return-value]
    try:
        notifier.handle({"ts": 1.0, "event": "crash_loop", "task": "worker", "line": "pw hunter2"})
        notifier.handle(
            {"ts": 2.0, "event": "exited", "task": "worker", "exit_code": 1}
        )  # not in `on`
        wait_until(lambda: handler.bodies, timeout=5)
    finally:
        notifier.close()
    (body,) = handler.bodies
    assert body["notice"] == "crash_loop" and body["task"] == "worker"
    assert body["line"] == "pw [redacted:PASSWORD]" and body["project"] == "demo"
    assert not [r for r in project.recorded if r[0] == "notify_failed"]


def test_a_webhook_that_never_answers_is_recorded_after_three_tries(tmp_path: Path) -> None:
    project = NoticeProject('[notify]\nwebhook = "http://127.0.0.1:9/x"\n', tmp_path)
    tries: list[str] = []

    def refuse(url: str, data: bytes) -> None:
        tries.append(url)
        raise OSError("connection refused")

    notifier = Notifier(lambda: project, retry_pause=0.01, post=refuse)  # type: ignore[arg-type, return-value]
    try:
        notifier.handle({"ts": 1.0, "event": "gave_up", "task": "worker"})
        wait_until(lambda: project.recorded, timeout=5)
    finally:
        notifier.close()
    assert len(tries) == 3
    assert project.recorded[0][0] == "notify_failed"


def test_the_command_gets_the_event_in_its_environment(tmp_path: Path) -> None:
    out = tmp_path / "event.json"
    project = NoticeProject(
        f'[notify]\non = ["unhealthy"]\ncommand = "printf %s \\"$TASKMUX_EVENT\\" > {out}"\n',
        tmp_path,
    )
    notifier = Notifier(lambda: project)  # type: ignore[arg-type, return-value]
    try:
        notifier.handle({"ts": 1.0, "event": "health_failed", "task": "worker", "reason": "exit 1"})
        wait_until(lambda: out.exists() and out.read_text(), timeout=5)
    finally:
        notifier.close()
    event = json.loads(out.read_text())
    assert (event["notice"], event["event"], event["reason"]) == (
        "unhealthy",
        "health_failed",
        "exit 1",
    )


def test_a_headless_machine_gets_no_desktop_notice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    called: list[str] = []
    monkeypatch.setattr("taskmux.supervision.notify.run_shell", lambda *a, **k: called.append(a[0]))
    desktop("taskmux demo: worker gave_up", tmp_path)
    assert called == []
