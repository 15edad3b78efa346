"""Register `taskmux mcp` with an MCP client by editing that client's config file.

Only the `taskmux` entry is written; every other server and key in the file stays as it
was. A file that cannot be parsed is refused and left untouched. Writes are atomic.

| client | file | shape |
|---|---|---|
| claude (Claude Code) | `.mcp.json` (project root) | `{"mcpServers": {"taskmux": {"command", "args"}}}` |
| cursor | `.cursor/mcp.json` | same as claude |
| gemini (Gemini CLI) | `.gemini/settings.json` | same as claude |
| vscode (Copilot agent) | `.vscode/mcp.json` | `{"servers": {"taskmux": {"type": "stdio", ...}}}` |
| opencode | `opencode.json` | `{"mcp": {"taskmux": {"type": "local", "command": [...]}}}` |
| codex | `$CODEX_HOME/config.toml` (default `~/.codex`, user-wide) | `[mcp_servers.taskmux]` |

Codex reads MCP servers from the user's config only; the entry still serves whichever
project Codex runs in, because `taskmux mcp` finds `taskmux.toml` from its working folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskmux.config.project import atomic_write
from taskmux.errors import ClientConfigInvalid, UsageError
from taskmux.statedir.filelock import locked
from taskmux.statedir.paths import state_root

SERVER_NAME = "taskmux"
SERVER_ARGS = ["mcp"]


@dataclass(frozen=True)
class ClientSpec:
    """Where one MCP client keeps its server list, and how an entry looks there."""

    name: str
    title: str
    path: Callable[[Path], Path]  # project root -> config file
    section: str
    entry: Callable[[str], dict[str, Any]]  # command -> the taskmux entry
    toml: bool = False


def _stdio(command: str) -> dict[str, Any]:
    return {"command": command, "args": list(SERVER_ARGS)}


def _codex_home(_root: Path) -> Path:
    return Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex") / "config.toml"


CLIENTS: dict[str, ClientSpec] = {
    spec.name: spec
    for spec in (
        ClientSpec("claude", "Claude Code", lambda r: r / ".mcp.json", "mcpServers", _stdio),
        ClientSpec("cursor", "Cursor", lambda r: r / ".cursor" / "mcp.json", "mcpServers", _stdio),
        ClientSpec(
            "gemini", "Gemini CLI", lambda r: r / ".gemini" / "settings.json", "mcpServers", _stdio
        ),
        ClientSpec(
            "vscode",
            "VS Code",
            lambda r: r / ".vscode" / "mcp.json",
            "servers",
            lambda c: {"type": "stdio", **_stdio(c)},
        ),
        ClientSpec(
            "opencode",
            "opencode",
            lambda r: r / "opencode.json",
            "mcp",
            lambda c: {"type": "local", "command": [c, *SERVER_ARGS], "enabled": True},
        ),
        ClientSpec("codex", "Codex", _codex_home, "mcp_servers", _stdio, toml=True),
    )
}


@dataclass(frozen=True)
class InstallResult:
    client: str
    path: Path
    changed: bool
    entry: dict[str, Any]

    def to_dict(self) -> dict[str, object]:
        return {
            "client": self.client,
            "path": str(self.path),
            "changed": self.changed,
            "entry": self.entry,
        }


def client_spec(name: str) -> ClientSpec:
    try:
        return CLIENTS[name.lower()]
    except KeyError:
        known = ", ".join(CLIENTS)
        raise UsageError(f"unknown MCP client '{name}' (known: {known})") from None


def install(client: str, project_root: Path, command: str = "taskmux") -> InstallResult:
    """Add or update the taskmux entry in the client's config; keep everything else."""
    spec = client_spec(client)
    path = spec.path(project_root)
    entry = spec.entry(command)
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(state_root() / "mcp-install.lock"):  # concurrent installs: one at a time
        text = _read(path)
        new_text = (_merge_toml if spec.toml else _merge_json)(path, text, spec.section, entry)
        changed = new_text != text
        if changed:
            atomic_write(path, new_text)
    return InstallResult(spec.name, path, changed, entry)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ClientConfigInvalid(f"cannot read {path}: {exc}") from None


def _merge_json(path: Path, text: str, section: str, entry: dict[str, Any]) -> str:
    if text.strip():
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise ClientConfigInvalid(
                f"{path} is not valid JSON ({exc}); fix or remove it, it was left untouched"
            ) from None
    else:
        document = {}
    if not isinstance(document, dict):
        raise ClientConfigInvalid(f"{path}: expected a JSON object at the top level")
    servers = document.setdefault(section, {})
    if not isinstance(servers, dict):
        raise ClientConfigInvalid(f"{path}: '{section}' is not a JSON object")
    current = servers.get(SERVER_NAME)
    merged = {**current, **entry} if isinstance(current, dict) else entry
    if current == merged:
        return text
    servers[SERVER_NAME] = merged
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _merge_toml(path: Path, text: str, section: str, entry: dict[str, Any]) -> str:
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        document = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ClientConfigInvalid(
            f"{path} is not valid TOML ({exc}); fix or remove it, it was left untouched"
        ) from None
    servers = document.get(section)
    if servers is None:
        servers = tomlkit.table(is_super_table=True)
        document[section] = servers
    if not isinstance(servers, dict):
        raise ClientConfigInvalid(f"{path}: '{section}' is not a table")
    current = servers.get(SERVER_NAME)
    if isinstance(current, dict) and all(current.get(k) == v for k, v in entry.items()):
        return text
    if isinstance(current, dict):
        for key, value in entry.items():
            current[key] = value
    else:
        table = tomlkit.table()
        table.update(entry)
        servers[SERVER_NAME] = table
    return tomlkit.dumps(document)
