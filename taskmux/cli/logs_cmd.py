"""`taskmux logs`: show, follow, grep and clear the persistent task logs."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from taskmux.cli.app import app, emit, load, print_json, warn
from taskmux.operations import OPERATIONS

if TYPE_CHECKING:
    from taskmux.logs import Item, LogLine, Searcher
    from taskmux.service import LogsResult

_PALETTE = (
    "cyan", "magenta", "green", "yellow", "blue", "red",
    "bright_cyan", "bright_magenta", "bright_green", "bright_yellow", "bright_blue", "bright_red",
)  # fmt: skip


@app.command()
def logs(
    task: Annotated[
        str | None, typer.Argument(help="One task (default: every task, merged by time).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Keep printing new lines; Ctrl+C stops.")
    ] = False,
    lines: Annotated[
        int, typer.Option("-n", "--lines", min=0, help="Last N lines (with -g: last N matches).")
    ] = OPERATIONS["logs"].default("lines"),
    grep: Annotated[
        str | None, typer.Option("-g", "--grep", help="Only lines matching this Python regex.")
    ] = None,
    context: Annotated[
        int, typer.Option("-C", "--context", min=0, help="Lines of context around matches.")
    ] = OPERATIONS["logs"].default("context"),
    since: Annotated[
        str | None, typer.Option(help="Only lines since 30s, 5m, 2h, 1d or an ISO-8601 time.")
    ] = None,
    timestamps: Annotated[
        bool, typer.Option("--timestamps", help="Show each line's stored timestamp.")
    ] = False,
    raw: Annotated[
        bool, typer.Option("--raw", help="Keep escape codes and \\r redraws as written.")
    ] = False,
    after: Annotated[
        str | None,
        typer.Option(
            "--after",
            metavar="CURSOR",
            help="Only lines written after CURSOR (a 'cursor' or 'next_cursor' from --json; "
            "'start': all kept, 'end': none yet). -n caps the lines (default 100).",
        ),
    ] = None,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help="One JSON object per line: task, ts, line, cursor (--after: one document).",
        ),
    ] = False,
    clear: Annotated[
        bool, typer.Option("--clear", help="Delete the logs (of TASK, or of every task).")
    ] = False,
) -> None:
    """Show task logs (every line kept, timestamped, across restarts and rotation).

    --json prints one JSON object per log line, not one document (so that -f can stream);
    each carries a `cursor`. --after CURSOR --json prints one document:
    {"ok", "lines", "next_cursor", "more", "lost"}: poll with the next_cursor it gives.
    """
    from taskmux.service import Service

    service = Service.for_project(load(json_out, fallback=True))
    if clear:
        cleared = service.clear_logs(task)
        human = "\n".join([f"cleared {path}" for path in cleared.paths] or ["no log files"])
        emit(json_out, cleared.to_dict(), human)
        return
    tasks = list(service.project.config.tasks)
    if follow:
        result, stream = service.follow_logs(task, lines, grep, context, since, after)
        _warn_lost(result.lost)
        _printer(tasks, task, timestamps, raw, json_out, result.pattern).run(
            stream, flush_each=True
        )
        return
    result = service.logs(task, lines, grep, context, since, after)
    printer = _printer(tasks, task, timestamps, raw, json_out, result.pattern)
    if after is not None:
        _print_page(result, printer, json_out)
        return
    if not json_out and not result.items and not service.has_logs(task):
        typer.echo(f"no logs yet (in {service.project.paths.log_file('x').parent})", err=True)
    printer.run(result.items)


def _print_page(page: LogsResult, printer: _Printer, json_out: bool) -> None:
    """`--after`: one JSON document, or the lines and (on stderr) the cursor to go on with."""
    if json_out:
        records = [printer.record(line) for line in page.items if line is not None]
        print_json(
            {
                "ok": True,
                "lines": records,
                "next_cursor": page.next_cursor,
                "more": page.more,
                "lost": list(page.lost),
            }
        )
        return
    _warn_lost(page.lost)
    printer.run(page.items)
    more = " (more lines are waiting: run again with it)" if page.more else ""
    typer.echo(f"next cursor: {page.next_cursor}{more}", err=True)


def _warn_lost(tasks: tuple[str, ...]) -> None:
    if tasks:
        warn(
            f"{', '.join(tasks)}: the place the cursor named is gone (rotated away or "
            "cleared): showing every line still kept; some in between may be lost",
            "W603",
        )


def _printer(
    tasks: list[str],
    task: str | None,
    timestamps: bool,
    raw: bool,
    json_out: bool,
    pattern: Any,
) -> _Printer:
    return _Printer(
        tasks, prefixed=task is None, timestamps=timestamps, raw=raw, json_out=json_out,
        pattern=pattern,
    )  # fmt: skip


class _Printer:
    """Writes log items to stdout as text, raw bytes or JSON lines; never wraps a line."""

    def __init__(
        self,
        all_tasks: list[str],
        *,
        prefixed: bool,
        timestamps: bool,
        raw: bool,
        json_out: bool,
        pattern: Searcher | None,
    ) -> None:
        self.timestamps, self.raw, self.json_out, self.pattern = timestamps, raw, json_out, pattern
        self.out = sys.stdout.buffer
        self.prefixes: dict[str, bytes] = {}
        if prefixed and not json_out:
            self.prefixes = _prefixes(all_tasks, colour=self.out.isatty())

    def run(self, items: Iterable[Item], flush_each: bool = False) -> None:
        try:
            for item in items:
                self.out.write(self.render(item))
                if flush_each:
                    self.out.flush()
            self.out.flush()
        except KeyboardInterrupt:  # Ctrl+C ends -f: a normal way to stop, exit 0
            self.out.flush()
        except BrokenPipeError:  # `taskmux logs | head`: the reader has all it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    def render(self, item: Item) -> bytes:
        if item is None:
            return b"" if self.json_out else b"--\n"
        if self.json_out:
            return self._json(item)
        head = self.prefixes.get(item.task, b"")
        if self.timestamps:
            head = item.stamp.encode() + b" " + head
        body = item.raw if self.raw else item.text.encode("utf-8", "replace")
        return head + body + b"\n"

    def record(self, line: LogLine) -> dict[str, object]:
        text = line.raw.decode("utf-8", "replace") if self.raw else line.text
        record: dict[str, object] = {"task": line.task, "ts": line.stamp, "line": text}
        if self.pattern is not None:
            record["match"] = self.pattern.search(line.text) is not None
        return record

    def _json(self, line: LogLine) -> bytes:
        from taskmux.logs import line_cursor

        record = self.record(line)
        cursor = line_cursor(line)
        if cursor is not None:
            record["cursor"] = cursor
        return json.dumps(record).encode() + b"\n"


def _prefixes(tasks: list[str], colour: bool) -> dict[str, bytes]:
    """`task │ ` padded to equal width; coloured (a stable colour per task) on a terminal."""
    width = max((len(name) for name in tasks), default=0)
    plain = {name: name.ljust(width) for name in tasks}
    if not colour:
        return {name: f"{padded} │ ".encode() for name, padded in plain.items()}
    from rich.console import Console
    from rich.text import Text

    console = Console(force_terminal=True, highlight=False)
    if console.no_color or console.color_system is None:
        return {name: f"{padded} │ ".encode() for name, padded in plain.items()}
    coloured: dict[str, bytes] = {}
    for index, name in enumerate(tasks):
        with console.capture() as captured:
            console.print(Text(plain[name], style=_PALETTE[index % len(_PALETTE)]), end="")
        coloured[name] = (captured.get() + " │ ").encode()
    return coloured
