"""`python -m bench`: run the scenarios, print the table, write the figures as JSON.

    python -m bench                     # every scenario, 5 runs each
    python -m bench --quick             # each once, smaller sizes (a smoke test)
    python -m bench --only cli,start    # selected scenarios
    python -m bench --only reads        # the read commands ÷ a bare interpreter, quickly
    python -m bench --against /tmp/upstream-venv/bin/taskmux   # side by side
    python -m bench --quiet-wait 120    # on a shared machine: start scenarios when idle
    python -m bench --peer supervisord=/opt/sv/bin/supervisord --peer pm2=/opt/pm2/bin/pm2
    python -m bench --no-peers          # taskmux alone (peers on PATH are found otherwise)

Exit status: 0 when every scenario of this repo's taskmux produced its figures (missed
goals included), 1 when one failed to measure, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import report
from bench.core import BenchError, Context, Figure, Tool, Unsupported, become_subreaper
from bench.drivers import PEERS, Driver, TaskmuxDriver, find_peers, peer_driver
from bench.scenarios import SCENARIOS, load

DEFAULT_JSON = Path(__file__).with_name("results.json")


def _default_tool() -> str | None:
    beside = Path(sys.executable).parent / "taskmux"
    return str(beside) if beside.is_file() else shutil.which("taskmux")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure taskmux's speed figures (SPEC §7) on private tmux servers.",
    )
    parser.add_argument("--runs", type=int, help="runs per figure (default 5; 1 with --quick)")
    parser.add_argument(
        "--quick", action="store_true", help="each scenario once, with smaller sizes"
    )
    parser.add_argument(
        "--json", dest="json_path", type=Path, default=DEFAULT_JSON, help="where to write figures"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME[,NAME]",
        help="run only these scenarios: " + ", ".join(SCENARIOS),
    )
    parser.add_argument(
        "--against", metavar="PATH", help="also run another taskmux-compatible executable"
    )
    parser.add_argument("--tool", metavar="PATH", help="the taskmux to measure (default: ours)")
    parser.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="run the same workloads under a peer: supervisord=PATH (supervisorctl is "
        "looked up beside it) or pm2=PATH; by default each found on PATH is used",
    )
    parser.add_argument(
        "--no-peers", action="store_true", help="do not look for supervisord and pm2 on PATH"
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="PATH",
        help="also write the SPEC §7 table (ours beside the peers) as Markdown to PATH",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="on a shared machine: before each scenario, wait up to this long for a moment "
        "when the CPUs are mostly idle (default 0: do not wait)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="JSON",
        help="measure nothing: print (and with --markdown write) the tables of an earlier "
        "run's figures file",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="progress details")
    args = parser.parse_args(argv)
    selected = [name for item in args.only for name in item.split(",") if name]
    unknown = [name for name in selected if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)} (see --list)")
    args.selected = selected or list(SCENARIOS)
    args.peers = {}
    for item in args.peer:
        name, sep, path = item.partition("=")
        if not sep or name not in PEERS or not path:
            parser.error(f"--peer takes NAME=PATH with NAME one of {', '.join(PEERS)}")
        if not os.access(path, os.X_OK):
            parser.error(f"--peer {name}: {path} is not an executable")
        args.peers[name] = path
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    args.runs = args.runs or (1 if args.quick else 5)
    return args


def run_scenario(name: str, ctx: Context) -> list[Figure]:
    """Every figure of one scenario; a scenario that breaks becomes one failed row."""
    try:
        return load(name)(ctx)
    except Unsupported as exc:
        return [Figure(name, SCENARIOS[name][2], "", status="unsupported", reason=str(exc))]
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - one broken scenario must not stop the suite
        if ctx.verbose:
            traceback.print_exc()
        reason = f"{type(exc).__name__}: {exc}".strip()
        return [Figure(name, SCENARIOS[name][2], "", status="failed", reason=reason)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for name, (_module, _function, what, peered) in SCENARIOS.items():
            report.out(f"{name:<12} {what}{'' if peered else ' (taskmux only)'}")
        return 0
    if args.report:
        return _report_only(args.report, args.markdown)
    path = args.tool or _default_tool()
    if not path or not os.access(path, os.X_OK):
        sys.stderr.write("error: no taskmux executable found (pass --tool PATH)\n")
        return 2
    drivers: list[Driver] = [TaskmuxDriver(Tool(path, "taskmux", trusted=args.tool is None))]
    if args.against:
        if not os.access(args.against, os.X_OK):
            sys.stderr.write(f"error: {args.against} is not an executable\n")
            return 2
        drivers.append(TaskmuxDriver(Tool(args.against, "other")))
    for name, peer_path in find_peers(args.peers, auto=not args.no_peers).items():
        if args.no_peers and name not in args.peers:
            continue
        try:
            drivers.append(peer_driver(name, peer_path))
        except BenchError as exc:
            sys.stderr.write(f"warning: peer {name} left out: {exc}\n")
    become_subreaper()
    info = report.machine()
    meta: dict[str, Any] = {
        "machine": info,
        "runs": args.runs,
        "quick": args.quick,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_before": os.getloadavg(),
        "tools": {d.label: {"path": d.tool.path, "version": d.version()} for d in drivers},
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    results: dict[str, list[Figure]] = {d.label: [] for d in drivers}
    loads: dict[str, float] = {}
    busy: dict[str, float] = {}
    meta["load_by_scenario"] = loads
    meta["cpu_busy_percent_by_scenario"] = busy  # all processes, the bench's own included
    began = time.monotonic()
    for index, name in enumerate(args.selected, start=1):
        taking_part = [d for d in drivers if d.kind == "taskmux" or SCENARIOS[name][3]]
        shift = (index - 1) % len(taking_part)  # alternate who goes first
        for driver in taking_part[shift:] + taking_part[:shift]:
            tool = driver.tool
            sys.stderr.write(f"[{index}/{len(args.selected)}] {name} ({tool.label}: {tool.path})\n")
            sys.stderr.flush()
            if args.quiet_wait > 0:
                waited = _wait_quiet(args.quiet_wait)
                if waited > 2.5:  # one 2 s sample is the minimum
                    sys.stderr.write(f"    waited {waited:.0f} s for a quiet machine\n")
            started = time.monotonic()
            loads[f"{name} ({tool.label})"] = round(os.getloadavg()[0], 2)
            ctx = Context(tool, args.runs, args.quick, args.verbose, driver=driver)
            cpu_before = _cpu_times()
            figures = run_scenario(name, ctx)
            busy[f"{name} ({tool.label})"] = _busy(cpu_before, _cpu_times())
            results[tool.label].extend(figures)
            for figure in figures:
                if figure.status == "failed":
                    sys.stderr.write(f"    failed: {figure.name}: {figure.reason}\n")
            sys.stderr.write(f"    {time.monotonic() - started:.1f} s\n")
    meta["seconds"] = round(time.monotonic() - began, 1)
    meta["load_after"] = os.getloadavg()
    _print(drivers, results, meta)
    report.write_json(args.json_path, meta, results)
    report.out(f"\nfigures written to {args.json_path}")
    if args.markdown:
        peers = [d.label for d in drivers if d.kind != "taskmux"]
        args.markdown.write_text(report.spec_markdown(results, peers, meta) + "\n")
        report.out(f"SPEC §7 table written to {args.markdown}")
    return 1 if any(f.status == "failed" for f in results["taskmux"]) else 0


def _report_only(source: Path, markdown: Path | None) -> int:
    """The tables of a figures file written by an earlier run."""
    try:
        data = json.loads(source.read_text())
        meta = data["meta"]
        results = {
            label: [Figure.from_dict(item) for item in figures]
            for label, figures in data["results"].items()
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        sys.stderr.write(f"error: cannot read figures from {source}: {exc}\n")
        return 2
    peers = [label for label in results if label not in ("taskmux", "other")]
    report.out(report.spec_markdown(results, peers, meta))
    if markdown:
        markdown.write_text(report.spec_markdown(results, peers, meta) + "\n")
    return 0


def _print(drivers: list[Driver], results: dict[str, list[Figure]], meta: dict[str, Any]) -> None:
    versions = meta["tools"]
    report.out()
    for driver in drivers:
        report.out(f"{driver.label}: {driver.tool.path} ({versions[driver.label]['version']})")
    report.out(f"machine: {report.describe_machine(meta['machine'])}")
    report.out(
        f"runs per figure: {meta['runs']}{' (quick)' if meta['quick'] else ''}; "
        f"load average before/after: {_load(meta['load_before'])} / {_load(meta['load_after'])}; "
        f"{meta['seconds']:.0f} s in all"
    )
    loads = list(meta["load_by_scenario"].values())
    if loads:
        report.out(f"1-minute load at each scenario's start: {min(loads):.1f} to {max(loads):.1f}")
    busy = meta["cpu_busy_percent_by_scenario"]
    if busy:
        report.out(
            "machine CPU busy during each scenario (all processes, the bench's included): "
            + ", ".join(f"{name} {value:.0f} %" for name, value in busy.items())
        )
    peers = [d.label for d in drivers if d.kind != "taskmux"]
    report.out(
        "\nSPEC §7 figures (median; a peer's ratio is its figure ÷ ours: > 1, ours is better)\n"
    )
    report.out(report.spec_table(results, peers))
    report.out("\nEvery taskmux figure\n")
    report.out(report.figures_table(results["taskmux"]))
    notes = report.footnotes(results["taskmux"])
    if notes:
        report.out("\n" + notes)
    if "other" in results:
        report.out(f"\nagainst: {versions['other']['path']} ({versions['other']['version']})\n")
        report.out(
            report.comparison_table(results["taskmux"], results["other"], "taskmux", "other")
        )
        notes = report.footnotes(results["other"])
        if notes:
            report.out("\nother:\n" + notes)
    for label in peers:
        notes = report.footnotes(results[label])
        if notes:
            report.out(f"\n{label}:\n" + notes)


def _cpu_times() -> tuple[float, float]:
    """(idle, total) CPU seconds of the whole machine, from /proc/stat."""
    try:
        with open("/proc/stat") as handle:
            fields = [float(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    return fields[3] + fields[4], sum(fields[:8])


QUIET_BUSY_PERCENT = 30.0


def _wait_quiet(limit: float) -> float:
    """Wait (at most `limit` s) until a 2 s window shows the CPUs mostly idle."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        before = _cpu_times()
        time.sleep(2.0)
        if _busy(before, _cpu_times()) < QUIET_BUSY_PERCENT:
            break
    return time.monotonic() - began


def _busy(before: tuple[float, float], after: tuple[float, float]) -> float:
    total = after[1] - before[1]
    return round(100 * (1 - (after[0] - before[0]) / total), 1) if total > 0 else 0.0


def _load(values: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.1f}" for v in values)
