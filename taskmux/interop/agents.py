"""AI coding agents: detect which are installed and keep a taskmux block in their context files.

The block sits between two markers; rewriting replaces it in place and leaves every other
byte of the file as it was.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from taskmux.config.project import Project, atomic_write

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
        "This project's long-running processes run as taskmux tasks, defined in `taskmux.toml`",
        f"(tmux session `{session}`; another worktree of it gets its own: `taskmux status`):",
        *task_lines,
        "",
        "- Before you need the stack: `taskmux ensure --holder NAME` (NAME: who you are, e.g.",
        "  `claude-1`; or set `TASKMUX_HOLDER`) keeps what is current, (re)starts the rest and",
        "  waits until all are ready (exit 1 names each that is not). What you hold, another's",
        "  stop/restart/kill refuses with E307, and theirs you: `--force` only when asked.",
        "- Never start a server, worker or watcher yourself (no `&`, `nohup`, or a command",
        "  that blocks): `taskmux restart TASK --holder NAME` after changing its code or",
        '  config; a new one: `taskmux add NAME "COMMAND"`. Never sleep: `taskmux wait TASK`.',
        "- State: `taskmux status --json`; one task in depth: `taskmux inspect TASK`.",
        "- What went wrong: `taskmux logs TASK --digest` (errors first, repeats counted, short).",
        "- Ports and URLs, never hard-coded: `taskmux env` prints `TASKMUX_<TASK>_PORT=...` and",
        "  `TASKMUX_URL_<TASK>` (`http://TASK.SESSION.localhost:28780/`, per worktree); one-off",
        '  commands as a task runs them: `eval "$(taskmux env TASK)" && COMMAND`.',
        "- New output only: `taskmux logs TASK --after CURSOR --json` (first `--after end`)",
        "  returns the lines since and a `next_cursor` to poll with (`more`: call again).",
        "- When the taskmux MCP tools are loaded (ensure, status, logs, ...), use them instead.",
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
    atomic_write(path, new_text)  # a temp name of its own: parallel `add`s refresh it too
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


def refresh_for(project: Project) -> None:
    """Rewrite the blocks after `add`/`remove` changed the project's tasks."""
    tasks = [(name, t.command) for name, t in project.config.tasks.items()]
    refresh_existing(project.root, project.session, tasks)
