"""`taskmux logs`: show, follow, grep and clear the persistent task logs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from taskmux.cli.app import app, emit, load, print_json, warn
from taskmux.cli.logprint import Printer, make_printer
from taskmux.operations import OPERATIONS

if TYPE_CHECKING:
    from taskmux.service import Service
    from taskmux.service.results import LogsResult


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
    digest: Annotated[
        bool,
        typer.Option(
            "--digest",
            help="What a model should read: errors whole and first, repeats counted, the "
            "newest lines, within --max-tokens (of the last 50,000 lines, or of -n, "
            "--since, --after).",
        ),
    ] = False,
    reveal: Annotated[
        bool,
        typer.Option(
            "--reveal",
            help="Show secret values as written (hidden as [redacted:NAME] otherwise); "
            "only on a terminal.",
        ),
    ] = False,
    max_tokens: Annotated[
        int,
        typer.Option(
            "--max-tokens",
            min=OPERATIONS["logs"].param("max_tokens").minimum,
            max=OPERATIONS["logs"].param("max_tokens").maximum,
            help="The digest's budget (a token counted as 4 characters).",
        ),
    ] = OPERATIONS["logs"].default("max_tokens"),
) -> None:
    """Show task logs (every line kept, timestamped, across restarts and rotation).

    --json prints one document, with or without --after CURSOR:
    {"ok", "lines", "next_cursor", "more", "lost"}, each line with its `cursor`: poll
    with the next_cursor it gives. Only -f --json streams, one JSON object a line.
    --digest --json prints one document: {"ok", "digest", "lines_in", "lines_out",
    "collapsed", "truncated", "next_cursor", ...}.
    """
    from taskmux.service import Service
    from taskmux.service.results import LogsResult

    if digest and follow:
        from taskmux.errors import UsageError

        raise UsageError("--digest reads what is written so far: it cannot --follow")
    service = Service.for_project(load(json_out, fallback=True))
    service.reveal_secrets = _may_reveal(reveal)
    if clear:
        cleared = service.clear_logs(task)
        human = "\n".join([f"cleared {path}" for path in cleared.paths] or ["no log files"])
        emit(json_out, cleared.to_dict(), human)
        return
    tasks = list(service.project.config.tasks)
    if digest:
        _print_digest(service, task, lines, grep, context, since, after, max_tokens, json_out)
        return
    if follow:
        result, stream = service.follow_logs(task, lines, grep, context, since, after)
        _warn_lost(result.lost)
        make_printer(tasks, task, timestamps, raw, json_out, result.pattern).run(
            stream, flush_each=True
        )
        return
    read = service.logs(task, lines, grep, context, since, after)
    assert isinstance(read, LogsResult)  # lines: no digest was asked for
    result = read
    printer = make_printer(tasks, task, timestamps, raw, json_out, result.pattern)
    if after is not None or json_out:
        _print_page(result, printer, json_out)
        return
    if not json_out and not result.items and not service.has_logs(task):
        typer.echo(f"no logs yet (in {service.project.paths.log_file('x').parent})", err=True)
    printer.run(result.items)


def _may_reveal(reveal: bool) -> bool:
    """`--reveal` is for a person at a terminal: never into a pipe, a file or an agent."""
    import sys

    if reveal and not sys.stdout.isatty():
        from taskmux.errors import UsageError

        raise UsageError("--reveal shows secrets on a terminal only (stdout is not one)")
    return reveal


def _print_digest(
    service: Service,
    task: str | None,
    lines: int,
    grep: str | None,
    context: int,
    since: str | None,
    after: str | None,
    max_tokens: int,
    json_out: bool,
) -> None:
    """`--digest`: the digest's text, or (`--json`) one document with its counts."""
    from taskmux.logs.digest import DigestPage

    page = service.logs(task, lines, grep, context, since, after, None, False, True, max_tokens)
    assert isinstance(page, DigestPage)
    _warn_lost(page.lost)
    if json_out:
        print_json({"ok": True, **page.to_dict()})
        return
    if page.digest.lines_in == 0 and not service.has_logs(task):
        typer.echo(f"no logs yet (in {service.project.paths.log_file('x').parent})", err=True)
    typer.echo(page.digest.text())


def _print_page(page: LogsResult, printer: Printer, json_out: bool) -> None:
    """`--after`: one JSON document, or the lines and (on stderr) the cursor to go on with."""
    if json_out:
        print_json(printer.page(page.items, page.next_cursor, page.more, page.lost))
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
