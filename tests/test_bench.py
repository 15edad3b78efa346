"""The benchmark itself: its report lists every SPEC §7 figure, peers' commands are built
as their users would write them, and a quick run measures and cleans up after itself."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import procs, report  # noqa: E402
from bench.core import Figure  # noqa: E402
from bench.drivers import peer_argv  # noqa: E402
from bench.scenarios import SCENARIOS  # noqa: E402
from bench.scenarios.logs import missing_ranges  # noqa: E402
from bench.spec import FIGURES  # noqa: E402


def test_the_spec_table_has_a_row_for_every_figure_measured_or_not() -> None:
    ours = [
        Figure("start", "start 30 tasks", "s", [0.2, 0.3, 0.4], "< 0.15 s", 0.15, spec="start-30")
    ]
    peer = [Figure("start", "start 30 tasks", "s", [0.6], spec="start-30")]
    absent = [
        Figure("restart", "x", "ms", status="unsupported", reason="no delay", spec="restart-0.1")
    ]
    header, rows = report.spec_rows({"taskmux": ours, "pm2": peer + absent}, ["pm2"])
    assert header[:4] == ["figure", "goal", "taskmux", "met?"]
    assert len(rows) == len(FIGURES)
    by_goal = {row[0]: row for row in rows}
    start = by_goal["start 30 tasks"]
    assert start[2] == "0.30 s" and start[3] == "**no**"
    assert start[4] == "0.60 s" and start[5] == "2.0x"  # theirs ÷ ours
    delayed = next(row for row in rows if "restart_delay = 0.1" in row[0])
    assert delayed[2] == "not run" and delayed[4] == "not supported"
    trips = next(row for row in rows if "tmux round trips" in row[0])
    assert trips[4] == "n/a"  # the peers have no tmux: not applicable, not "not run"


def test_a_ratio_of_zero_to_zero_reads_equal() -> None:
    ours = [Figure("logs", "lost", "lines", [0], "0", 0, spec="lossless")]
    theirs = [Figure("logs", "lost", "lines", [0], spec="lossless")]
    _header, rows = report.spec_rows({"taskmux": ours, "supervisord": theirs}, ["supervisord"])
    row = next(r for r in rows if r[0] == "lost")
    assert row[3] == "yes" and row[5] == "="


def test_peers_run_plain_commands_without_a_shell_of_the_bench() -> None:
    assert peer_argv("sh -c 'echo $$ > f; exec sleep 9'") == [
        "/bin/sh",
        "-c",
        "echo $$ > f; exec sleep 9",
    ]
    argv = peer_argv("seq 1 5")
    assert Path(argv[0]).name == "seq" and argv[1:] == ["1", "5"]
    assert peer_argv("echo $HOME; exit 3")[:2] == ["/bin/sh", "-c"]
    assert peer_argv("a > b")[:2] == ["/bin/sh", "-c"]


def test_the_sandbox_processes_include_the_log_collector(tmp_path: Path) -> None:
    """The collector starts with an empty environment, so no sandbox marker: it is found
    by its command line (`python -I -S …/collector.py STATE`), and only for its sandbox."""
    script = tmp_path / "collector.py"
    script.write_text("import time\ntime.sleep(60)\n")
    state = tmp_path / "home" / ".local" / "state" / "taskmux" / "proj-0123"
    state.mkdir(parents=True)
    argv = [sys.executable, "-I", "-S", str(script), str(state)]
    collector = subprocess.Popen(argv, env={"LC_ALL": "C.UTF-8"}, stdin=subprocess.DEVNULL)
    try:
        found = procs.sandbox_processes("TASKMUX_BENCH_SANDBOX", "sb-1", tmp_path)
        assert collector.pid in found
        assert procs.name_of(collector.pid) == "log collector (python)"
        elsewhere = procs.sandbox_processes("TASKMUX_BENCH_SANDBOX", "sb-2", tmp_path / "proj")
        assert collector.pid not in elsewhere
    finally:
        collector.kill()
        collector.wait(timeout=10)


def test_missing_lines_are_named_as_ranges() -> None:
    assert missing_ranges(set(range(1, 11)), 10) == ""
    assert missing_ranges({1, 2, 5, 9}, 10) == "3-4, 6-8, 10"
    assert missing_ranges(set(), 5) == "1-5"


def test_every_scenario_says_whether_peers_run_it() -> None:
    assert all(len(entry) == 4 for entry in SCENARIOS.values())
    peered = {name for name, entry in SCENARIOS.items() if entry[3]}
    assert {"status", "start", "scale", "restart", "daemon", "memory", "logs", "burst"} <= peered


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short temp folder: tmux's socket path inside a sandbox must stay under 108 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="tb-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # every sandbox lands here
    for name in ("TMUX", "TMUX_PANE", "TASKMUX_TMUX_SOCKET"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(tmp_path / "r.json"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )


def _left_behind(tmp_path: Path) -> list[str]:
    return [p.name for p in tmp_path.iterdir() if p.name.startswith("tmxb-")]


@pytest.mark.slow
def test_a_quick_run_prints_the_spec_table_and_leaves_nothing(short_tmp: Path) -> None:
    tmp_path = short_tmp
    done = _bench(
        tmp_path, "--no-peers", "--only", "status,start", "--markdown", str(tmp_path / "t.md")
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "SPEC §7 figures" in done.stdout
    assert "start 10 tasks → all running" in done.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    ours = {f["spec"]: f for f in data["results"]["taskmux"] if f["spec"]}
    assert {"status-10", "status-ratio", "start-30", "stop-30"} <= set(ours)
    assert all(f["status"] == "ok" and f["median"] is not None for f in ours.values())
    table = (tmp_path / "t.md").read_text()
    assert table.count("\n|") >= len(FIGURES) + 1  # header, rule, one row per figure
    assert _left_behind(tmp_path) == []


@pytest.mark.slow
def test_the_reads_figure_runs_alone_quickly(short_tmp: Path) -> None:
    """`--only reads`: each read command as a ratio to a bare interpreter start."""
    done = _bench(short_tmp, "--no-peers", "--only", "reads")
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads((short_tmp / "r.json").read_text())
    figures = {f["name"].split(",")[0]: f for f in data["results"]["taskmux"]}
    expected = {"status", "status --json", "inspect TASK", "logs TASK -n 20", "events -n 20"}
    assert expected | {"--help"} <= set(figures)
    assert all(f["status"] == "ok" and f["unit"] == "x" for f in figures.values())
    assert figures["status"]["goal"] == "< 2.5x" and figures["--help"]["goal"] == "< 5x"
    assert _left_behind(short_tmp) == []


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("supervisord") is None, reason="supervisord is not on PATH")
def test_supervisord_runs_the_same_workload_and_is_cleaned_up(short_tmp: Path) -> None:
    tmp_path = short_tmp
    done = _bench(
        tmp_path,
        "--only",
        "start",
        "--no-peers",
        "--peer",
        f"supervisord={shutil.which('supervisord')}",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads((tmp_path / "r.json").read_text())
    theirs = {f["spec"]: f for f in data["results"]["supervisord"] if f["spec"]}
    assert theirs["start-30"]["status"] == "ok", theirs["start-30"]["reason"]
    assert _left_behind(tmp_path) == []


def test_an_earlier_run_can_be_rendered_again(tmp_path: Path) -> None:
    from bench.cli import main

    figures = [
        Figure("start", "start 30", "s", [0.5], "< 0.15 s", 0.15, spec="start-30", limits="x")
    ]
    meta = {"command": "python -m bench", "machine": {}, "runs": 1, "tools": {}}
    report.write_json(tmp_path / "r.json", meta, {"taskmux": figures, "pm2": []})
    assert main(["--report", str(tmp_path / "r.json"), "--markdown", str(tmp_path / "t.md")]) == 0
    table = (tmp_path / "t.md").read_text()
    assert "| start 30 " in table and "**no**" in table and "| pm2 " in table
