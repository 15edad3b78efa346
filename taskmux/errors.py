"""The one exception tree of taskmux, each error with a stable code and an exit code.

Exit codes: 1 means the operation failed, 2 means a usage or configuration mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class TaskmuxError(Exception):
    """Root of every error a user can act on; the CLI renders it as one line."""

    code = "E001"
    exit_code = 1

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message}


class UsageError(TaskmuxError):
    """The command line itself is wrong."""

    code = "E100"
    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One finding about a config file: an error or a warning, located as well as we can."""

    code: str
    message: str
    severity: str = "error"
    task: str | None = None
    key: str | None = None
    line: int | None = None
    path: str | None = field(default=None, compare=False)

    def render(self) -> str:
        where = self.path or "taskmux.toml"
        if self.line is not None:
            where = f"{where}:{self.line}"
        parts = [where]
        if self.task is not None:
            parts.append(f"task '{self.task}'")
        if self.key is not None:
            parts.append(f"key '{self.key}'")
        return f"{': '.join(parts)}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "task": self.task,
            "key": self.key,
            "line": self.line,
            "path": self.path,
        }


class ConfigError(TaskmuxError):
    """The config file is missing, unreadable or invalid; carries every problem found."""

    code = "E103"
    exit_code = 2

    def __init__(self, message: str, *, code: str | None = None, problems: list[Problem]) -> None:
        super().__init__(message, code=code)
        self.problems = problems

    @classmethod
    def from_problems(cls, problems: list[Problem]) -> ConfigError:
        errors = [p for p in problems if p.severity == "error"]
        first = errors[0]
        more = (
            f" (and {len(errors) - 1} more problem(s); run 'taskmux check')"
            if len(errors) > 1
            else ""
        )
        return cls(first.render() + more, code=first.code, problems=problems)

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "problems": [p.to_dict() for p in self.problems]}


class ConfigExists(TaskmuxError):
    code = "E104"
    exit_code = 2


class ConfigNotFound(TaskmuxError):
    code = "E101"
    exit_code = 2


class TaskNotFound(TaskmuxError):
    code = "E201"
    exit_code = 2


class GroupNotFound(TaskmuxError):
    """`@NAME` names no group of `[groups]`."""

    code = "E118"
    exit_code = 2


class TaskExists(TaskmuxError):
    code = "E202"
    exit_code = 2


class TaskHasDependents(TaskmuxError):
    code = "E203"
    exit_code = 2


class TmuxError(TaskmuxError):
    """tmux is missing, or a tmux command failed."""

    code = "E301"


class TmuxTooOld(TaskmuxError):
    """The tmux found is older than the one taskmux needs (3.2)."""

    code = "E302"


class SessionConflict(TaskmuxError):
    """The tmux session of this name was created by another project."""

    code = "E305"
    exit_code = 2


class CwdMissing(TaskmuxError):
    code = "E303"


class PortBusy(TaskmuxError):
    """A listener on a task's port could not be removed."""

    code = "E304"


class StopFailed(TaskmuxError):
    """A task's process (or one it left running) survived the stop escalation."""

    code = "E306"


class HeldByOther(TaskmuxError):
    """Another holder's live claim (`--holder`) covers a task to stop, restart or kill."""

    code = "E307"


class WorktreeFailed(TaskmuxError):
    """A `taskmux worktree` step failed (SPEC §14): git's refusal, or no git or repository
    (E134), an `init` step (E135), a `teardown` step (E136), a path that is not a removable
    checkout of this repository (E137), uncommitted changes without `--force` (E138).
    E139 is the URL proxy's: it cannot serve its port."""

    code = "E134"


class HookFailed(TaskmuxError):
    code = "E401"


class StartFailed(TaskmuxError):
    """Some tasks did not start (an unhealthy dependency, a failed hook, a quick death)."""

    code = "E402"


class WaitFailed(TaskmuxError):
    code = "E403"


class HealthFailed(TaskmuxError):
    """`health`: a task that should be running is down or fails its check."""

    code = "E404"


class SupervisorRunning(TaskmuxError):
    code = "E501"


class DaemonNotRunning(TaskmuxError):
    code = "E502"


class InvalidPattern(TaskmuxError):
    code = "E601"
    exit_code = 2


class PatternTooSlow(TaskmuxError):
    """A `-g` regex ran out of its time budget: it backtracks too much to finish."""

    code = "E602"
    exit_code = 2


class InvalidCursor(TaskmuxError):
    """`logs --after`: the cursor is not one `logs --json` gave (nor `start` / `end`)."""

    code = "E603"
    exit_code = 2


class UnsafeStateFolder(TaskmuxError):
    """The state folder (or a file in it) is not ours alone: another user could plant or
    forge what taskmux would then follow or trust, so it is refused, as ssh refuses ~/.ssh."""

    code = "E801"
    exit_code = 2


class PartialFailure(TaskmuxError):
    """An operation that partly failed: the error that sums it up, and the result that
    explains it (what started and what did not, each task of a wait, a health report).

    Every face says "partly failed" through this one class: the CLI prints the result and
    the error line, the API and MCP send the error with the result as `details`.
    """

    def __init__(self, error: TaskmuxError, result: Any) -> None:
        super().__init__(error.message, code=error.code)
        self.exit_code = error.exit_code
        self.error = error
        self.result = result

    @property
    def details(self) -> dict[str, Any]:
        data = self.result.to_dict() if hasattr(self.result, "to_dict") else self.result
        return dict(data)

    def to_dict(self) -> dict[str, object]:
        return {**self.error.to_dict(), "details": self.details}


class BadRequest(TaskmuxError):
    """Daemon API: the message is not JSON, or not a JSON object with a string `command`."""

    code = "E503"


class UnknownCommand(TaskmuxError):
    """Daemon API: no such command."""

    code = "E504"


class BadParams(TaskmuxError):
    """A param is missing, unknown, of the wrong type or out of range."""

    code = "E505"


class NotOffered(TaskmuxError):
    """Daemon API: a command this connection does not offer (the dashboard's, whose
    browser session is a weaker credential than the token)."""

    code = "E506"


class SessionEnded(TaskmuxError):
    """The dashboard: the page's session expired or was logged out (or ended to make room
    for a newer one); `taskmux ui` gives a new login link."""

    code = "E508"


class ClientConfigInvalid(TaskmuxError):
    """An MCP client's existing config file cannot be read as what it should be."""

    code = "E701"
    exit_code = 2


class ImportFailed(TaskmuxError):
    """`import`: the source file cannot be read, or is neither a Procfile nor a
    process-compose file taskmux understands."""

    code = "E901"
    exit_code = 2


class FileInTheWay(TaskmuxError):
    """`export`: a file taskmux would write exists and was not written by taskmux."""

    code = "E902"
    exit_code = 2


# E903 is a config problem (config/models.py): two tasks with one fixed port.


class ImportIncomplete(TaskmuxError):
    """`import` wrote `taskmux.toml`, but `taskmux check` rejects it as it stands: the
    message names what is left to fix (an env file to write, a variable to define)."""

    code = "E904"
    exit_code = 1


class ImportInvalid(TaskmuxError):
    """`import` mapped the source to a config taskmux does not accept; nothing was written."""

    code = "E905"
    exit_code = 2


class ExportRefused(TaskmuxError):
    """`export`: the config has problems `taskmux check` rejects; nothing was written."""

    code = "E906"
    exit_code = 2


class KubernetesRefused(TaskmuxError):
    """`export kubernetes`: the project cannot be written as manifests: a namespace
    Kubernetes does not accept (E910), two tasks with one Kubernetes name (E911)."""

    code = "E910"
    exit_code = 2


class StackFailed(TaskmuxError):
    """`up`: a task failed (gave up, or exited with an error and is not restarted), or a
    stop was not clean; the process exits with that task's own exit code."""

    code = "E520"

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
