"""How `logs` writes lines: text, raw bytes or JSON lines, without the Typer app.

Shared by the `logs` command and the lean dispatch (`fast.py`), so that both print the
same bytes; rich is imported only to colour the task prefixes on a terminal.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False  # `typing` costs an import on a lean `logs` read; mypy reads this
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from taskmux.logs.lines import Item, LogLine
    from taskmux.logs.search import Searcher

_PALETTE = (
    "cyan", "magenta", "green", "yellow", "blue", "red",
    "bright_cyan", "bright_magenta", "bright_green", "bright_yellow", "bright_blue", "bright_red",
)  # fmt: skip


def make_printer(
    tasks: list[str],
    task: str | None,
    timestamps: bool,
    raw: bool,
    json_out: bool,
    pattern: Any,
) -> Printer:
    return Printer(
        tasks, prefixed=task is None, timestamps=timestamps, raw=raw, json_out=json_out,
        pattern=pattern,
    )  # fmt: skip


class Printer:
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
        """A line for `--json` (`cursors.line_record`), its bytes as printed with `--raw`."""
        from taskmux.logs.cursors import line_record

        text = line.raw.decode("utf-8", "replace") if self.raw else line.text
        return line_record(line, text, self.pattern)

    def page(
        self,
        items: Iterable[Item],
        next_cursor: str | None,
        more: bool = False,
        lost: Iterable[str] = (),
    ) -> dict[str, object]:
        """A bounded read for `--json`: one document, the same with or without `--after`."""
        records = [self.record(item) for item in items if item is not None]
        return {
            "ok": True,
            "lines": records,
            "next_cursor": next_cursor,
            "more": more,
            "lost": list(lost),
        }

    def _json(self, line: LogLine) -> bytes:
        return json.dumps(self.record(line)).encode() + b"\n"


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
