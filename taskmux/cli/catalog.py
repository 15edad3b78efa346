"""Every command's one-line summary, declared once: `taskmux --help` is written from it
without importing the Typer app (`help_text`), and the Typer app lists its commands
with these same lines (`commands.py` sets each command's `short_help` from here and
refuses to start without one). Standard library only.
"""

from __future__ import annotations

DESCRIPTION = "Run a project's development processes as supervised tasks in one tmux session."
CONFIG_HELP = "Path to taskmux.toml (default: nearest upwards)."
VERSION_HELP = "Show version."
HELP_HELP = "Show this message and exit."

# In the order `taskmux --help` lists them (hidden aliases are not listed).
COMMANDS = {
    "wait": "Block until every task meets the condition; exit 1 saying why if one cannot.",
    "inject": "Write or refresh the taskmux instructions in AI agents' context files.",
    "add": "Add a task to taskmux.toml (validated before the file is written).",
    "remove": "Remove a task from taskmux.toml, killing it first if it runs.",
    "scale": "Set a task's replicas in taskmux.toml and apply it (start or stop the difference).",
    "init": "Create taskmux.toml here and write taskmux instructions for detected AI agents.",
    "check": "Validate taskmux.toml and report every problem (errors exit 2, warnings exit 0).",
    "ui": "Print (and on a desktop, open) a one-time login link to the daemon's dashboard.",
    "watch": "Apply edits of taskmux.toml to the running tasks until Ctrl+C (not a supervisor).",
    "env": "Print `export NAME=VALUE` lines: every task's port, and with TASK its environment.",
    "ensure": "Make the tasks ready: keep what runs and is current, start or restart the rest, "
    "then wait (exit 1 saying why if one is not ready).",
    "start": "Start tasks (@GROUP: a [groups] entry's) in dependency order (no names: every "
    "auto_start task).",
    "stop": "Stop tasks gracefully and mark them stopped (no names: all, then end the session).",
    "restart": "Stop, free ports, start again in place; clears manual-stop marks.",
    "kill": "SIGKILL a task's whole process tree and close its window.",
    "status": "Show the session and every task: state, pid, port, uptime, notes.",
    "health": "Check every running task concurrently; exit 1 if one that should run is down "
    "or unhealthy (tasks never started, or stopped by hand, show as not running).",
    "inspect": "Everything taskmux knows about one task, as JSON.",
    "graph": "The dependency graph, its critical chain and the last start's times to ready.",
    "logs": "Show task logs (every line kept, timestamped, across restarts and rotation).",
    "import": "Write taskmux.toml next to FILE from a Procfile or a process-compose.yaml.",
    "events": "The lifecycle event history: starts, exits, restarts, health changes, stops.",
    "mcp": "Serve taskmux to AI agents over MCP (stdio); 'mcp install' registers it.",
    "daemon": "Supervise tasks, apply config edits, serve a WebSocket API and a web dashboard "
    "(127.0.0.1 only).",
    "export": "Write the project for another engine: systemd user units, a compose file, "
    "or Kubernetes manifests.",
    "up": "Run the stack in the foreground as a container's main process: start, supervise, "
    "stop everything on SIGTERM, exit with the tasks' code.",
    "worktree": "Git worktrees of this project: add one ready to start, list, remove, prune.",
    "proxy": "Serve the named URLs http://TASK.SESSION.localhost:PORT/ until Ctrl+C.",
}
ALIASES = {"list": "Alias of status.", "ls": "Alias of status."}


def help_text(width: int) -> str:
    """`taskmux --help`, wrapped to `width` columns."""
    options = [
        ("-c, --config <str>", CONFIG_HELP),
        ("--version", VERSION_HELP),
        ("-h, --help", HELP_HELP),
    ]
    lines = ["Usage: taskmux [OPTIONS] COMMAND [ARGS]...", ""]
    lines += _wrapped("  ", DESCRIPTION, width)
    lines += ["", "Options:"]
    lines += _table(options, width)
    lines += ["", "Commands:"]
    lines += _table(list(COMMANDS.items()), width)
    return "\n".join(lines) + "\n"


def _table(rows: list[tuple[str, str]], width: int) -> list[str]:
    first = max(len(name) for name, _ in rows)
    lines = []
    for name, text in rows:
        wrapped = _wrapped(" " * (first + 4), text, width)
        lines.append(f"  {name.ljust(first)}  {wrapped[0].lstrip()}")
        lines += wrapped[1:]
    return lines


def _wrapped(indent: str, text: str, width: int) -> list[str]:
    """`text` word-wrapped to `width` columns, every line starting with `indent`."""
    room = max(20, width - len(indent))
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > room:
            lines.append(indent + current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    lines.append(indent + current)
    return lines
