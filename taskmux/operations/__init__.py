"""Every operation taskmux offers, declared once: name, parameters, defaults, effects.

The faces are built from this table: the daemon API checks a request's params against
it, the MCP server makes one tool per operation from it (schema, defaults, read-only or
destructive hints), and the CLI takes its option defaults from it. A parity test holds
the faces to it, so a default or an operation cannot differ between them. Pure data:
nothing here imports another taskmux module.
"""

from __future__ import annotations

from taskmux.operations.shapes import FACES as FACES
from taskmux.operations.shapes import Operation as Operation
from taskmux.operations.shapes import Param as Param

TYPE_CHECKING = False  # the lean CLI parses with this table: no `typing`
if TYPE_CHECKING:
    from taskmux.operations.shapes import Face

MAX_LINES = 10_000  # log lines or events returned by one request
MAX_WAIT = 600.0  # seconds a single wait may block
DIGEST_LINES = 50_000  # lines a log digest reads when `lines` is left at its default
DIGEST_TOKENS = 2000
MAX_DIGEST_TOKENS = 100_000


_TASKS = Param(
    "tasks",
    "names",
    "Task names, @GROUP for a [groups] entry's tasks (a replicated task's name: all its "
    "instances); none for all (start: every auto_start task).",
    argument=True,
)
_TASK = Param("task", "str", "Task name.", required=True, argument=True)
_SINCE = Param("since", "str", "Only what is newer: 30s, 5m, 2h, 1d, or an ISO-8601 time.")
_KILL_PORT = Param(
    "kill_port",
    "bool",
    "Free a task's port even when a process that is not this project's holds it.",
    default=False,
)
_HOLDER = Param(
    "holder",
    "str",
    "Act as this holder (an agent's name; the CLI also reads TASKMUX_HOLDER): claims what "
    "it starts, restarts or ensures for hold_ttl seconds, and may stop it.",
)
_FORCE = Param(
    "force", "bool", "Act even on a task another holder holds (instead of E307).", default=False
)

_VIEWS: tuple[Face, ...] = ("api", "mcp")  # what the dashboard shows beside `status`
_USAGE = "CPU (% of a core, since the last look) and memory of each running task's processes."
_POLLED = "a rate needs a caller that looks again (the dashboard, an agent)"
_CONFIG = "The effective config (local overrides merged), secret variables' values redacted."
_HAS_FILE = "the CLI has the file itself"
OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "status",
            "Session and every task (or the ones named): state, pid, port, health, restarts.",
            (_TASKS,),
            fallback=True,
        ),
        Operation("inspect", "Everything taskmux knows about one task.", (_TASK,), fallback=True),
        Operation("health", "Run every task's health check now, concurrently."),
        Operation("usage", _USAGE, faces=_VIEWS, not_offered=_POLLED),
        Operation("config_view", _CONFIG, faces=_VIEWS, not_offered=_HAS_FILE, fallback=True),
        Operation(
            "graph",
            "The dependency graph (each task's dependencies and conditions), its critical "
            "chain, and how long each task took to become ready at its last start.",
            fallback=True,
        ),
        Operation(
            "logs",
            "A task's log lines (all tasks merged by time when none is named).",
            (
                Param(
                    "task",
                    "str",
                    "One task (or @GROUP, or a replicated task: merged); none for all, "
                    "merged by time.",
                    argument=True,
                ),
                Param(
                    "lines",
                    "int",
                    "The last N lines (with grep: N matches).",
                    100,
                    False,
                    0,
                    MAX_LINES,
                    short="-n",
                ),
                Param("grep", "str", "Regex filter (Python syntax), e.g. 'error'.", short="-g"),
                Param(
                    "context",
                    "int",
                    "Lines of context around each match.",
                    3,
                    False,
                    0,
                    1000,
                    short="-C",
                ),
                _SINCE,
                Param(
                    "after",
                    "str",
                    "Only lines written after this cursor (a line's `cursor`, a `next_cursor`, "
                    "`start` or `end`); the reply has the next_cursor to poll with.",
                ),
                Param(
                    "ansi",
                    "bool",
                    "Keep the colour codes (SGR: ESC[...m) in each line; other escapes go.",
                    default=False,
                ),
                Param(
                    "digest",
                    "bool",
                    "What a model should read instead of every line: errors whole and first, "
                    "repeats counted, the newest lines, within max_tokens (of the last 50,000 "
                    "lines, or -n/since/after).",
                    default=False,
                    faces=("cli", "api"),
                ),
                Param(
                    "max_tokens",
                    "int",
                    "The digest's budget in tokens (a token counted as 4 characters).",
                    DIGEST_TOKENS,
                    False,
                    100,
                    MAX_DIGEST_TOKENS,
                ),
                Param(
                    "raw",
                    "bool",
                    "Plain lines instead of the digest (the digest: errors whole and first, "
                    "repeats counted, the newest lines, within max_tokens).",
                    default=False,
                    faces=("mcp",),
                ),
            ),
            fallback=True,
        ),
        Operation(
            "events",
            "Lifecycle history: starts, exits, restarts, health changes, stops.",
            (
                Param("task", "str", "Only this task's events.", short="-t"),
                _SINCE,
                Param("lines", "int", "The last N events.", 50, False, 0, MAX_LINES, short="-n"),
            ),
            fallback=True,
        ),
        Operation(
            "follow_logs",
            "The logs, then every new line as it is written, until stopped.",
            (
                Param("task", "str", "One task; none for all, merged by time."),
                Param("lines", "int", "Start with the last N lines.", 100, False, 0),
                Param("grep", "str", "Regex filter (Python syntax)."),
                Param("context", "int", "Lines of context around each match.", 3, False, 0, 1000),
            ),
            faces=("cli",),
            not_offered="a stream: the API pushes it to subscribers; MCP polls `logs` (`since`)",
            fallback=True,
        ),
        Operation(
            "env",
            "Every task's port, and with a task its whole environment, as `export` lines.",
            (Param("task", "str", "Also this task's environment (values of env files too)."),),
            faces=("cli",),
            not_offered="prints the values of env files (secrets): kept to the CLI, whose "
            "output `eval` consumes, out of logs, sockets and agents' context windows",
        ),
        Operation(
            "clear_logs",
            "Delete the logs of one task, or of every task.",
            (Param("task", "str", "One task; none for all."),),
            read_only=False,
            destructive=True,
            faces=("cli",),
            not_offered="deletes what agents and dashboards read: kept to a person at the CLI",
            fallback=True,
        ),
        Operation(
            "follow_events",
            "Every new lifecycle event as it happens, until stopped (API: `subscribe`).",
            (Param("task", "str", "Only this task's events."),),
            faces=("cli", "api"),
            not_offered="a stream: an MCP tool returns one reply (poll `events` with `since`)",
            fallback=True,
        ),
        Operation(
            "wait",
            "Block until the tasks meet a condition; on failure say why, per task.",
            (
                Param(
                    "tasks",
                    "names",
                    "Tasks (or @GROUP) that must all meet the condition; none for every "
                    "auto_start task.",
                ),
                Param(
                    "condition",
                    "str",
                    "healthy (check passes, or alive without one; a one-shot: completed "
                    "successfully), running, or exited.",
                    "healthy",
                    choices=("healthy", "running", "exited"),
                ),
                Param("timeout", "float", "Seconds before giving up.", 60.0, False, 0, MAX_WAIT),
            ),
        ),
        Operation(
            "start",
            "Start tasks in dependency order; a running task is left as it is.",
            (
                _TASKS,
                _KILL_PORT,
                Param(
                    "with_deps",
                    "bool",
                    "Also start what the named tasks depend on, transitively, in order.",
                    default=False,
                ),
                Param(
                    "wait",
                    "bool",
                    "Return once every task started is ready (healthy; a one-shot: completed "
                    "successfully), or fail saying why for each one that is not.",
                    default=False,
                ),
                Param(
                    "timeout",
                    "float",
                    "With wait: give up after S seconds.",
                    60.0,
                    False,
                    0,
                    MAX_WAIT,
                ),
                _HOLDER,
            ),
            read_only=False,
        ),
        Operation(
            "ensure",
            "Make the stack ready: keep what runs and is current, start what is not running, "
            "restart what is unhealthy or stale (definition, watched file or a port it uses "
            "changed), then wait until every task is ready.",
            (
                Param(
                    "tasks",
                    "names",
                    "Tasks (or @GROUP) to ensure, with what they depend on; none for every "
                    "auto_start task.",
                    argument=True,
                ),
                Param(
                    "timeout",
                    "float",
                    "Give up waiting for readiness after S seconds.",
                    60.0,
                    False,
                    0,
                    MAX_WAIT,
                    short="-t",
                ),
                _HOLDER,
            ),
            read_only=False,
        ),
        Operation(
            "stop",
            "Stop tasks gracefully and mark them stopped (none named: all, then the session).",
            (_TASKS, _HOLDER, _FORCE),
            read_only=False,
            destructive=True,
            fallback=True,
        ),
        Operation(
            "restart",
            "Stop, free ports and start again; clears manual-stop marks.",
            (
                _TASKS,
                _KILL_PORT,
                _HOLDER,
                _FORCE,
                Param(
                    "cascade",
                    "bool",
                    "Then, once they are ready again, restart the tasks that depend on them "
                    "(condition healthy or started), in dependency order.",
                    default=False,
                ),
            ),
            read_only=False,
            destructive=True,
        ),
        Operation(
            "kill",
            "SIGKILL a task's whole process tree and close its window.",
            (
                Param(
                    "task",
                    "str",
                    "Task name (or @GROUP, or a replicated task: each of its tasks).",
                    required=True,
                    argument=True,
                ),
                _HOLDER,
                _FORCE,
            ),
            read_only=False,
            destructive=True,
            fallback=True,
        ),
        Operation(
            "scale",
            "Set a task's replicas in taskmux.toml (comments kept) and apply it: stop the "
            "instances it drops; start the new ones when one of the task's instances runs.",
            (
                Param("task", "str", "The task, as declared.", required=True, argument=True),
                Param(
                    "replicas",
                    "int",
                    "Instances wanted (TASK-1...TASK-N).",
                    required=True,
                    minimum=1,
                    maximum=32,
                    argument=True,
                ),
            ),
            read_only=False,
            destructive=True,
        ),
        Operation(
            "ui_login",
            "A one-time login URL for the dashboard (random, single use, expires in 60 s).",
            read_only=False,
            faces=("api",),
            not_offered="only the daemon serving the dashboard mints its logins and keeps their "
            "sessions (`taskmux ui` asks it over the API); an MCP agent has no browser",
        ),
        Operation(
            "add",
            "Add a task to taskmux.toml (validated before it is written).",
            (
                Param("task", "str", "New task name.", required=True),
                Param("command", "str", "Shell command line.", required=True),
                Param("cwd", "str", "Working directory, relative to the config's folder."),
                Param("port", "str", 'TCP port the task listens on (1-65535), or "auto".'),
                Param("health_check", "str", "Shell command; exit 0 means healthy."),
                Param("depends_on", "names", "Tasks that must be healthy first."),
                Param(
                    "restart_policy",
                    "str",
                    "When to restart it.",
                    choices=("no", "on-failure", "always"),
                ),
                Param("auto_start", "bool", "Start it with a bare `start`.", True),
                Param("env", "names", "KEY=VALUE pairs set in the task's environment."),
                Param("env_file", "names", "Dotenv files for the task ('?path': optional)."),
                Param("force", "bool", "Replace a task of that name.", False),
            ),
            read_only=False,
            faces=("cli",),
            not_offered="edits the user's file: kept to the CLI, where a person or agent runs it",
        ),
        Operation(
            "remove",
            "Remove a task from taskmux.toml; kill it first if it runs.",
            (_TASK,),
            read_only=False,
            destructive=True,
            faces=("cli",),
            not_offered="edits the user's file: kept to the CLI",
        ),
        Operation(
            "import_file",
            "Write taskmux.toml next to a Procfile or process-compose.yaml, mapped from it.",
            (
                Param("file", "str", "The Procfile or process-compose.yaml.", required=True),
                Param("force", "bool", "Overwrite an existing taskmux.toml.", False),
            ),
            read_only=False,
            faces=("cli",),
            not_offered="writes a new config into a project folder: kept to the CLI",
        ),
        Operation(
            "export_systemd",
            "Write systemd user units: one per task, and a target that starts them.",
            (
                Param("dir", "str", "Folder for the units (default: ~/.config/systemd/user)."),
                Param("force", "bool", "Overwrite a file that taskmux did not write.", False),
                Param("system", "bool", "System units (needs user).", False),
                Param("user", "str", "The account system units run as."),
            ),
            read_only=False,
            faces=("cli",),
            not_offered="writes files into the user's systemd folder: kept to the CLI",
        ),
        Operation(
            "export_compose",
            "Write a compose file: one service per task, the project mounted at /app.",
            (
                Param("image", "str", "The image every service runs in.", required=True),
                Param("file", "str", "The compose file (default: compose.yaml at the root)."),
                Param("force", "bool", "Overwrite a file that taskmux did not write.", False),
            ),
            read_only=False,
            faces=("cli",),
            not_offered="writes a file into the project: kept to the CLI",
        ),
        Operation(
            "export_kubernetes",
            "Write Kubernetes manifests: Deployments, Services, Jobs, CronJobs, a kustomization.",
            (
                Param("image", "str", "The image that holds the project at /app.", required=True),
                Param("dir", "str", "The folder (default: kubernetes/ beside taskmux.toml)."),
                Param("namespace", "str", "The namespace of every resource."),
                Param("force", "bool", "Overwrite a file that taskmux did not write.", False),
            ),
            False,  # not read-only: it writes files; below, why only the CLI has it
            faces=("cli",),
            not_offered="writes files into the project: kept to the CLI",
        ),
    )
}


def operation(name: str) -> Operation:
    return OPERATIONS[name]


def offered(face: Face) -> list[Operation]:
    """The operations a face must offer, in declaration order."""
    return [op for op in OPERATIONS.values() if face in op.faces]
