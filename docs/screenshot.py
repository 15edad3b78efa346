"""Take docs/dashboard.png (1280 px wide), docs/dashboard-narrow.png (390 px, a phone) and
docs/dashboard-dark.png (dark mode): the demo project in the dashboard, in Debian's
chromium.

Run from the repository: `.venv/bin/python docs/screenshot.py`. It copies examples/demo
to a temporary folder, runs it on a private tmux server with its own state folder, kills
the worker once (so the picture shows a crash and its restart), starts a daemon, logs in
through `taskmux ui` and saves the page. Everything it started is ended afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parent.parent
TASKMUX = str(Path(sys.executable).parent / "taskmux")
OUT = REPO / "docs" / "dashboard.png"
NARROW = REPO / "docs" / "dashboard-narrow.png"
DARK = REPO / "docs" / "dashboard-dark.png"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]


def run(*args: str, cwd: Path, env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [TASKMUX, *args, "--json"], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    data: dict[str, object] = json.loads(done.stdout)
    return data


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="taskmux-shot-"))
    demo = work / "demo"
    shutil.copytree(REPO / "examples" / "demo", demo)
    socket_name = f"shot-{os.getpid()}"
    env = {**os.environ, "TASKMUX_TMUX_SOCKET": socket_name, "XDG_STATE_HOME": str(work)}
    daemon = None
    try:
        run("start", cwd=demo, env=env)
        daemon = subprocess.Popen(
            [TASKMUX, "daemon", "--port", "0"], cwd=demo, env=env, stdout=subprocess.DEVNULL
        )
        time.sleep(8)  # some history for the timelines
        rows = {r["name"]: r for r in run("status", cwd=demo, env=env)["tasks"]}  # type: ignore[attr-defined]
        os.kill(rows["worker"]["pid"], signal.SIGKILL)  # a crash, and its restart, to show
        time.sleep(6)
        url = str(run("ui", cwd=demo, env=env)["url"])
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(work / "profile"),
                executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                headless=True,
                args=ARGS,
                viewport={"width": 1280, "height": 900},
            )
            page = context.new_page()
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']")
            page.select_option("#logtask", "worker")
            page.wait_for_timeout(3500)  # two looks at CPU and memory
            page.screenshot(path=str(OUT), full_page=True)
            page.set_viewport_size({"width": 390, "height": 844})
            page.click("tr[data-task=worker] button.menu")  # its menu of actions, open
            page.wait_for_timeout(1500)  # the timeline is redrawn for the new width
            page.screenshot(path=str(NARROW))
            page.set_viewport_size({"width": 1280, "height": 900})
            page.emulate_media(color_scheme="dark")  # the system's dark mode
            page.wait_for_timeout(1500)
            page.screenshot(path=str(DARK))
            context.close()
        print(f"saved {OUT}, {NARROW} and {DARK}")
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.wait(15)
        subprocess.run(["tmux", "-L", socket_name, "kill-server"], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
