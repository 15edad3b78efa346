"""The dashboard under load, in headless chromium (issue 27's "done when"): a burst of
100,000 lines followed with no silent gap, CPU and memory per task, "daemon stopped"
and recovery without a new login, a restart answered during a slow search, the cost of
a filter that matches nothing in three tabs, 30 crash-looping tasks with the page still
answering clicks, and the layout at 390 and 1280 pixels with 40 tasks and a long name.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import run_cli
from daemon_helpers import (  # noqa: F401  (tmux_socket is a fixture)
    running_daemon,
    start_daemon,
    start_tasks,
    tmux_socket,
    wait_for,
    write_config,
)
from dashboard_helpers import ui_link
from test_dashboard_browser import CHROMIUM, browser  # noqa: F401  (a fixture)

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

BURST = 100_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _project(tmp_path: Path, text: str) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    write_config(root, f'name = "load{tmp_path.name[-6:]}"\n' + text)
    return root


def _open(browser: Any, url: str, width: int = 1280, height: int = 1000) -> Any:  # noqa: F811
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": height})
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    return page


def _problems(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


# What the log shows, in order: each line's number, each gap marker's count.
WALK = """() => [...document.querySelector('#log').children].map(d =>
  d.classList.contains('gap') ? ['gap', Number(d.dataset.count)]
  : d.classList.contains('note') ? ['note', d.textContent]
  : ['line', d.textContent.replace(/^\\S+ /, '')])"""


def _check_no_silent_gap(page: Any) -> tuple[int, int]:
    """Every number from 1 to BURST is shown or counted by a marker, in order; returns
    (lines shown, markers)."""
    trimmed = page.evaluate("logView.trimmed")
    expected, shown, markers = trimmed + 1, 0, 0
    for kind, value in page.evaluate(WALK):
        assert kind != "note", value
        if kind == "gap":
            expected += value
            markers += 1
        else:
            assert int(value) == expected, (value, expected)
            expected += 1
            shown += 1
    assert expected == BURST + 1
    return shown, markers


def test_a_burst_usage_and_a_daemon_restart(
    tmp_path: Path,
    tmux_socket: str,  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    root = _project(
        tmp_path,
        f"""
[tasks.burst]
command = "while [ ! -f go ]; do sleep 0.05; done; seq 1 {BURST}; sleep 300"

[tasks.spin]
command = "while [ ! -f spin ]; do sleep 0.05; done; timeout 15 sh -c 'while :; do :; done'; sleep 300"
""",
    )
    start_tasks(root)
    ui = _free_port()
    daemon = start_daemon(root, "--ui-port", str(ui), process=True)
    try:
        page = _open(browser, ui_link(root))
        problems = _problems(page)
        page.select_option("#logtask", "burst")
        page.wait_for_function("() => logView.loaded")

        # A burst of 100,000 lines: every line shown, or counted by a marker.
        (root / "go").touch()
        page.wait_for_function(
            "n => [...document.querySelectorAll('#log div')].some(d => d.textContent.endsWith(' ' + n))",
            arg=BURST,
            timeout=60_000,
        )
        shown, markers = _check_no_silent_gap(page)
        assert markers >= 1 and shown <= 5000, (shown, markers)
        gap = page.locator("#log .gap").first
        before = int(gap.get_attribute("data-count") or 0)
        assert f"{before:,} lines skipped" in gap.inner_text()
        gap.locator("button").click()
        wait_for(
            lambda: int(page.locator("#log .gap").first.get_attribute("data-count") or 0) < before
        )
        _check_no_silent_gap(page)  # the loaded lines went in their place

        # CPU and memory per task, updating.
        (root / "spin").touch()
        wait_for(
            lambda: float(page.inner_text("tr[data-task=spin] td.cpu").rstrip("%") or 0) > 30, 20
        )
        first = page.inner_text("tr[data-task=spin] td.cpu")
        wait_for(lambda: page.inner_text("tr[data-task=spin] td.cpu") != first, 10)
        assert re.fullmatch(r"[\d.]+ (KiB|MiB)", page.inner_text("tr[data-task=burst] td.mem"))

        # The daemon stops: within 2 s the page says so, greys out, disables buttons.
        stopped_at = time.monotonic()
        daemon.process.send_signal(signal.SIGTERM)
        page.wait_for_selector("body.down", timeout=5000)
        assert time.monotonic() - stopped_at < 2.0
        assert "daemon stopped" in page.inner_text("#conn")
        assert page.locator("button[data-act]:enabled").count() == 0
        daemon.process.wait(15)

        # A new daemon on the same port: the page comes back without a new login.
        daemon = start_daemon(root, "--ui-port", str(ui), process=True)
        page.wait_for_selector("#conn.on", timeout=15_000)
        assert page.locator("body.down").count() == 0
        assert page.locator("button[data-act=restart]:enabled").count() == 2
        assert not page.is_visible("#notice.bad")
        assert problems == []
    finally:
        daemon.stop()


BIG = """
[tasks.big]
command = "python3 -c \\"import sys\\nfor i in range(300000): sys.stdout.write('line %07d of a long and boring log, nothing to see here at all\\\\n' % i)\\"; sleep 300"

[tasks.ticker]
command = "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done"

[tasks.pinger]
command = "sleep 300"
"""


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def test_a_filter_that_matches_nothing_and_a_restart_during_a_slow_search(
    tmp_path: Path,
    tmux_socket: str,  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    root = _project(tmp_path, BIG)
    start_tasks(root)
    wait_for(lambda: "0299999" in run_cli("logs", "big", "-n", "1", cwd=root).stdout, 60)
    with running_daemon(root, process=True) as daemon:
        time.sleep(1)
        before, start = _cpu_seconds(daemon.pid), time.monotonic()
        time.sleep(3)
        idle = (_cpu_seconds(daemon.pid) - before) / (time.monotonic() - start)
        print(f"daemon CPU with no tab: {idle:.1%} of a core")
        url = ui_link(root)
        pages = [_open(browser, url)] + [
            _open(browser, url.split("/login")[0] + "/") for _ in range(2)
        ]
        for page in pages:
            page.select_option("#logtask", "big")
            page.fill("#filter", "matches-nothing-at-all")
        for page in pages:  # a deadline, not a figure: each tab's first search reads the
            # whole log, three at once, and tens of seconds on a machine busy with browsers
            page.wait_for_function(
                "() => logView.loaded && !logView.busy && !document.querySelector('#log div')",
                timeout=90_000,
            )
        # The daemon's own cost, three tabs following a filter that matches nothing.
        time.sleep(1.5)  # let the searches that the filter's change started end
        before, start = _cpu_seconds(daemon.pid), time.monotonic()
        time.sleep(6)
        share = (_cpu_seconds(daemon.pid) - before) / (time.monotonic() - start)
        print(f"daemon CPU with 3 tabs following a non-matching filter: {share:.1%} of a core")
        assert share < 0.05, share

        # A slow search (the whole 20 MB log) on the page's socket: a restart click is
        # answered meanwhile. Three rounds of a restart alone, then one during a search.
        page = pages[0]
        alone, during, searches = [], [], []
        for _ in range(3):
            alone.append(_restart_click(page))
            page.evaluate(
                "() => { window.searchDone = null; const t = performance.now();"
                " send('logs', {task: 'big', grep: 'x+y', context: 0, lines: 500})"
                ".then(() => { window.searchDone = performance.now() - t; }); }"
            )
            page.wait_for_timeout(200)  # the search is under way
            during.append(_restart_click(page))
            page.wait_for_function("() => window.searchDone !== null", timeout=60_000)
            searches.append(page.evaluate("window.searchDone") / 1000)
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
        print(
            f"restart answered in {min(during):.2f} s during a search of {min(searches):.2f} s "
            f"(alone: {min(alone):.2f} s; best of three; load {load:.1f} per core)"
        )
        # Queued behind its search, a restart would end after it (started 0.2 s into it,
        # it takes `alone` more): answered before its own search ended, in two rounds of
        # three, it was not. One round may meet a burst of the machine's other work.
        answered = sum(d < s for d, s in zip(during, searches, strict=True))
        assert min(searches) >= 2.0 and answered >= 2, (during, searches)
        # Within 1 s (or half a second more than a restart alone, which takes about 0.6 s,
        # here). On a machine already loaded
        # past its cores (the slow set runs browsers side by side), the search and the
        # restart share what is left of a core: within 2 s, or three restarts alone.
        limit = max(1.0, min(alone) + 0.5) if load < 1.0 else max(2.0, 3 * min(alone))
        assert min(during) < limit, (during, alone, load)


def _restart_click(page: Any) -> float:
    """Seconds from a click on pinger's restart to the notice of its reply."""
    page.evaluate("() => { document.querySelector('#notice').textContent = ''; }")
    clicked = time.monotonic()
    page.click("button[data-act=restart][data-task=pinger]")
    page.wait_for_selector("#notice:has-text('restart pinger: started pinger')", timeout=10_000)
    return time.monotonic() - clicked


LONG = "a-service-with-a-very-long-name-that-goes-on-and-on-for-sixty-four"[:64]
CRASHING = 30


def _crowd() -> str:
    text = ""
    for i in range(CRASHING):
        text += f"""
[tasks.crash{i:02d}]
command = "sleep 0.4; exit 1"
restart_policy = "always"
restart_delay = 0.2
restart_backoff = 1
max_restarts = 100000
"""
    for i in range(39 - CRASHING):
        text += f'\n[tasks.calm{i}]\ncommand = "sleep 300"\ndepends_on = ["{LONG}"]\n'
    text += f'\n[tasks.{LONG}]\ncommand = "sleep 300"\nport = {_free_port()}\n'
    return text


LATENCY = """() => {
  window.clickDelays = [];
  window.longTasks = [];
  document.addEventListener('click', (e) => clickDelays.push(performance.now() - e.timeStamp), true);
  new PerformanceObserver((list) => list.getEntries().forEach((t) => longTasks.push(t.duration)))
    .observe({ type: 'longtask' });
}"""

OVERFLOWS = """() => {
  const out = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) out.push(`page ${root.scrollWidth} > ${root.clientWidth}`);
  for (const s of document.querySelectorAll('section')) {
    if (s.scrollWidth > s.clientWidth + 1) out.push(`section ${s.querySelector('h2, table')?.textContent.slice(0, 20)} ${s.scrollWidth} > ${s.clientWidth}`);
    const box = s.getBoundingClientRect();
    for (const e of s.querySelectorAll('svg, button, td, table')) {
      if (e.offsetParent === null && e.tagName !== 'svg') continue;
      const r = e.getBoundingClientRect();
      if (r.width && (r.right > box.right + 1 || r.left < box.left - 1)) out.push(`${e.tagName} ${e.className?.baseVal ?? e.className} ${Math.round(r.right)} > ${Math.round(box.right)}`);
    }
  }
  return out;
}"""

FAILING = """() => {
  renderTasks();  // as drawn from one status: events recolour a row before it is re-sorted
  const bad = new Set(state.tasks.filter((r) => tone(r) === 'bad').map((r) => r.name));
  return [...document.querySelectorAll('#tasks tbody tr')].map((tr) => bad.has(tr.dataset.task));
}"""

NARROW = """() => [...document.querySelectorAll('#tasks tbody tr')].map((tr) => {
  const box = (sel) => { const r = tr.querySelector(sel).getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= innerWidth; };
  return [tr.dataset.task, box('td.name .nm'), box('td.state'), box('td.act .menu')];
})"""


def test_forty_tasks_thirty_crash_looping_at_1280_and_390_pixels(
    tmp_path: Path,
    tmux_socket: str,  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    root = _project(tmp_path, _crowd())
    result = run_cli("start", "--json", cwd=root)
    assert result.returncode in (0, 1), result.stderr
    with running_daemon(root, process=True):
        page = _open(browser, ui_link(root))
        problems = _problems(page)
        page.evaluate(LATENCY)
        # The storm: every crash-looping task dies and is restarted again and again.
        wait_for(lambda: page.locator("#events li").count() >= 150, timeout=60)
        names = [f"crash{i:02d}" for i in range(0, CRASHING, 3)]
        for name in names:
            page.click(f"tr[data-task={name}] td.name .nm")
            page.wait_for_timeout(150)
        assert page.input_value("#logtask") == names[-1]
        delays = page.evaluate("clickDelays")
        longest = max(page.evaluate("longTasks") or [0])
        print(
            f"clicks during the storm: slowest {max(delays):.0f} ms; longest task {longest:.0f} ms"
        )
        # One click may meet a burst of the machine's other work (the slow set runs
        # browsers side by side); a page the storm keeps busy is slow on every click.
        assert len(delays) >= len(names) and max(delays) < 1000, delays
        assert sorted(delays)[-2] < 200, delays
        assert page.evaluate("timeline.draws") > 0

        # 1280 px: summary, failing first, nothing runs off its card (the graph neither).
        assert page.inner_text("#summary").startswith("40 tasks")
        failing = page.evaluate(FAILING)  # the rows in order: is each one failing?
        assert failing == sorted(failing, reverse=True), failing
        assert page.evaluate(OVERFLOWS) == []
        assert page.is_visible(f"tr[data-task='{LONG}'] button[data-act=restart]")
        page.screenshot(path=str(tmp_path / "wide.png"), full_page=True)

        # 390 px: every task's name, state and menu of actions, no sideways scrolling.
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(300)
        seen = page.evaluate(NARROW)
        assert len(seen) == 40 and all(all(flags) for _, *flags in seen), seen
        page.screenshot(path=str(tmp_path / "narrow.png"))
        assert page.evaluate(OVERFLOWS) == []
        page.click(f"tr[data-task='{LONG}'] button.menu")
        restart = page.locator(f"tr[data-task='{LONG}'] button[data-act=restart]")
        box = restart.bounding_box()
        assert restart.is_visible() and box is not None and box["x"] + box["width"] <= 390
        assert problems == []
