"""The dashboard in a real headless browser: Debian's chromium, driven by Playwright.

A real project on a private tmux server, a real daemon, `taskmux ui`'s link opened in
chromium: the tasks show, a task killed with SIGKILL turns red within a second and
comes back under its restart policy, a restart button restarts, a log filter filters.
Skipped (with the reason) when chromium or Playwright is missing; `.ci/run` installs both.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from daemon_helpers import (  # noqa: F401  (tmux_socket is a fixture)
    running_daemon,
    start_tasks,
    tmux_socket,
    wait_for,
    write_config,
)
from dashboard_helpers import ui_link, ui_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PROJECT = """
name = "browser{suffix}"

[tasks.web]
command = "python3 -m http.server {port} --bind 127.0.0.1"
port = {port}

[tasks.worker]
command = "i=0; while :; do i=$((i+1)); echo tick $i; printf '\\\\033[32mgreen %s\\\\033[0m\\\\n' $i; sleep 0.2; done"
depends_on = ["web"]
restart_policy = "always"

[tasks.pinger]
command = "sleep 300"
"""

pytestmark = [
    pytest.mark.slow,
    # A guard against a hang, not a figure: these take 30-80 s on 2 cores, and half as
    # long again on a machine busy with other work (the suite's own 120 s would fire).
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"no chromium at {CHROMIUM} (apt-get install chromium)",
    ),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh chromium profile per test, closed afterwards (with every process of it)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


def _pid(page: Any, task: str) -> int | None:
    text = page.inner_text(f"tr[data-task={task}] td.pid").strip()
    return int(text) if text else None


def test_the_dashboard_in_chromium(tmp_path: Path, tmux_socket: str, browser: Any) -> None:  # noqa: F811
    root = tmp_path / "proj"
    root.mkdir()
    port = _free_port()
    write_config(root, PROJECT.format(suffix=tmp_path.name[-6:], port=port))
    start_tasks(root)
    with running_daemon(root, process=True) as daemon:
        token = daemon.token
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        # Log in through the one-time link; the code leaves the address bar.
        url = ui_link(root)
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']")
        assert page.url == f"http://127.0.0.1:{ui_port(daemon)}/"
        assert browser.cookies()[0]["httpOnly"] is True
        assert page.evaluate("document.cookie") == ""
        rows = page.eval_on_selector_all("#tasks tbody tr", "rs => rs.map(r => r.dataset.task)")
        assert rows == ["web", "worker", "pinger"]
        status = {
            r["name"]: r for r in json.loads(run_cli("status", "--json", cwd=root).stdout)["tasks"]
        }
        for name in rows:
            assert _pid(page, name) == status[name]["pid"]
        link = page.get_attribute("tr[data-task=web] td.port a", "href")
        assert link == f"http://127.0.0.1:{port}/"
        assert page.locator("#graph g.node").count() == 3
        assert page.locator("#graph path.edge").count() == 1  # web -> worker
        assert token not in page.content()

        # Small and fast: every task shown soon after a (re)load, best of three. The 200 ms
        # goal is a figure for the bench on an idle machine; here, beside the rest of the
        # slow set on 2 cores, a deadline that only a page stuck waiting would miss.
        shown = []
        for _ in range(3):
            page.reload()
            page.wait_for_selector("body[data-ready='1']")
            shown.append(page.evaluate("performance.getEntriesByName('tasks-shown')[0].startTime"))
        assert min(shown) < 1500, shown

        # A crash turns the row red within a second; the restart policy brings it back.
        page.wait_for_selector("tr[data-task=worker].ok")
        victim = _pid(page, "worker")
        assert victim is not None
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        page.wait_for_selector("tr[data-task=worker].bad", timeout=5000)
        assert time.monotonic() - killed_at < 1.0
        page.wait_for_selector("tr[data-task=worker].ok", timeout=20000)
        assert _pid(page, "worker") not in (None, victim)
        assert page.inner_text("tr[data-task=worker] td.restarts") == "1"
        assert "SIGKILL" in page.inner_text("tr[data-task=worker] td.exit")
        assert page.locator("#timeline rect.mark.exit").count() >= 1
        assert "exited" in page.inner_text("#events")

        # The restart button restarts, through the daemon's service.
        before = _pid(page, "pinger")
        page.click("button[data-act=restart][data-task=pinger]")
        wait_for(lambda: _pid(page, "pinger") not in (None, before), timeout=20)
        assert page.get_attribute("tr[data-task=pinger]", "class") == "ok"
        now = {
            r["name"]: r for r in json.loads(run_cli("status", "--json", cwd=root).stdout)["tasks"]
        }
        assert now["pinger"]["pid"] == _pid(page, "pinger")

        # Rows hold their places while a button is pressed on the table (a row moved
        # between press and release would lose the click), and sort again on release.
        order = "() => [...document.querySelectorAll('#tasks tbody tr')].map(r => r.dataset.task)"
        page.dispatch_event("tr[data-task=web] td.name .nm", "pointerdown")
        page.evaluate("() => { state.sort = 'name'; renderTasks(); }")
        assert page.evaluate(order) == ["web", "worker", "pinger"]
        page.dispatch_event("body", "click")  # the click releases them
        page.wait_for_function(f"() => ({order})().join() === 'pinger,web,worker'")
        page.evaluate("() => { state.sort = 'order'; renderTasks(); }")

        # The log: colours rendered, a regex filter applied by the daemon, followed live.
        page.select_option("#logtask", "worker")
        page.wait_for_selector("#log span.fg2")  # green, from ESC[32m
        page.fill("#filter", r"^tick \d*7$")

        def filtered() -> list[str]:
            return list(page.eval_on_selector_all("#log div", "ds => ds.map(d => d.innerText)"))

        wait_for(lambda: (lines := filtered()) and all(line.endswith("7") for line in lines))
        lines = filtered()
        assert all("tick" in line and "green" not in line for line in lines), lines
        wait_for(lambda: len(filtered()) > len(lines), timeout=15)  # new matches arrive
        assert all(line.endswith("7") for line in filtered())
        page.fill("#filter", "(")
        page.wait_for_selector("#logerror:has-text('regex')")

        assert problems == []
    assert token not in daemon.log_text
    assert url.split("code=")[1] not in daemon.log_text
