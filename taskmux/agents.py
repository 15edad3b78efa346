"""AI coding agents: detect which are installed and keep a taskmux block in their context files.

The block sits between two markers; rewriting replaces it in place and leaves every other
byte of the file as it was.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

BEGIN = "<!-- taskmux:begin (managed by taskmux; edits inside are replaced) -->"
END = "<!-- taskmux:end -->"
_BLOCK_RE = re.compile(r"<!-- taskmux:begin[^\n]*-->.*?<!-- taskmux:end -->", re.DOTALL)


@dataclass(frozen=True)
class Agent:
    """An AI coding agent and the context file taskmux writes for it."""

    name: str
    context_file: str
    commands: tuple[str, ...]
    home_dirs: tuple[str, ...]
    project_markers: tuple[str, ...]


AGENTS = (
    Agent(
        "claude", ".claude/rules/taskmux.md", ("claude",), (".claude",), (".claude", "CLAUDE.md")
    ),
    Agent("codex", "AGENTS.md", ("codex",), (".codex",), ()),
    Agent("opencode", "AGENTS.md", ("opencode",), (".config/opencode",), ("opencode.json",)),
    Agent(
        "cursor",
        ".cursor/rules/taskmux.mdc",
        ("cursor", "cursor-agent"),
        (".cursor",),
        (".cursor",),
    ),
    Agent("gemini", "GEMINI.md", ("gemini",), (".gemini",), ("GEMINI.md",)),
)


def detect(project_root: Path) -> list[Agent]:
    """Agents installed for this user (on PATH or with a home folder) or used in the project."""
    home = Path.home()
    found = []
    for agent in AGENTS:
        if (
            any(shutil.which(cmd) for cmd in agent.commands)
            or any((home / d).is_dir() for d in agent.home_dirs)
            or any((project_root / m).exists() for m in agent.project_markers)
        ):
            found.append(agent)
    return found


def render_block(session: str, tasks: Iterable[tuple[str, str]]) -> str:
    """The instructions an agent needs to work in a taskmux project, with its task list."""
    task_lines = [f"- `{name}`: {_code(command)}" for name, command in tasks] or ["- (none yet)"]
    body = [
        BEGIN,
        "## Dev processes: use taskmux",
        "",
        f"This project's long-running processes run as taskmux tasks (tmux session `{session}`,",
        "defined in `taskmux.toml`):",
        *task_lines,
        "",
        "- Never start a server, worker or watcher yourself (no `&`, `nohup`, or a command",
        "  that blocks): `taskmux start TASK`; `taskmux restart TASK` after changing its code",
        '  or config; a new one: `taskmux add NAME "COMMAND"`.',
        "- State: `taskmux status --json`; one task in depth: `taskmux inspect TASK`.",
        "- Wait for readiness, never sleep: `taskmux wait TASK` (on failure it shows the exit",
        "  code, the health check output and the last log lines).",
        "- Bring tasks up and wait in one call: `taskmux start --wait` (some tasks and what",
        "  they need: `taskmux start TASK --with-deps --wait`); it exits 1 naming each task",
        "  that is not ready and why.",
        "- Errors: `taskmux logs TASK -g error -n 50` (add `--since 5m` for recent ones).",
        "- When the taskmux MCP tools are loaded (status, start, restart, logs, wait, ...),",
        "  use them instead of the shell commands.",
        "- Every command takes `--json`; exit code 0 ok, 1 failed, 2 usage or config mistake.",
        END,
    ]
    return "\n".join(body) + "\n"


def _code(command: str, limit: int = 120) -> str:
    """A command as inline code: shortened if long, fenced so its own backticks survive."""
    text = " ".join(command.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if "`" not in text:
        return f"`{text}`"
    return f"`` {text} ``"


_MDC_HEADER = (
    "---\n"
    "description: How to run, watch and debug this project's dev processes (taskmux)\n"
    "alwaysApply: true\n"
    "---\n\n"
)


def has_block(path: Path) -> bool:
    """Whether the file exists and holds a taskmux block."""
    try:
        return _BLOCK_RE.search(path.read_text(encoding="utf-8")) is not None
    except (OSError, UnicodeDecodeError):
        return False


def write_block(path: Path, block: str, create: bool = True) -> bool:
    """Put `block` into `path`, replacing an existing block; return whether the file changed."""
    if path.exists():
        with path.open(encoding="utf-8", newline="") as handle:  # keep CRLF bytes as they are
            text = handle.read()
    elif create:
        text = ""
        if path.suffix == ".mdc":  # a Cursor rule applies only with its front matter
            block = _MDC_HEADER + block
    else:
        return False
    if _BLOCK_RE.search(text):
        new_text = _BLOCK_RE.sub(lambda _m: block.rstrip("\n"), text, count=1)
    elif text:
        new_text = text + ("\n" if text.endswith("\n") else "\n\n") + block
    else:
        new_text = block
    if new_text == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temp name of its own: parallel `add`s refresh the same file at the same time.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".taskmux-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(new_text)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def context_files(agents: Iterable[Agent]) -> list[str]:
    """The distinct context files for these agents, in a stable order."""
    files: list[str] = []
    for agent in agents:
        if agent.context_file not in files:
            files.append(agent.context_file)
    return files


def refresh_existing(
    project_root: Path, session: str, tasks: Iterable[tuple[str, str]]
) -> list[str]:
    """Rewrite the block in every context file that already has one (after add/remove)."""
    block = render_block(session, list(tasks))
    changed = []
    for rel in context_files(AGENTS):
        path = project_root / rel
        if has_block(path) and write_block(path, block, create=False):
            changed.append(rel)
    return changed
