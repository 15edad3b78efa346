"""How taskmux asks tmux about every pane in one `list-panes` call, and reads the answer.

Standard library only (no dataclasses, no typing): the tmux seam (`tmux_manager.py`) and
the lean read path (`lifecycle/readmodel.py`) both read with it, so there is one reading
of a pane: its facts (named as `state.TaskState`'s fields), the stored health verdict,
and the words `status` uses for them (`StateWords`, which `TaskState` inherits). An
empty or odd number field is None, never an error.
"""

from __future__ import annotations

TYPE_CHECKING = False  # `typing` costs an import on the hottest path; mypy reads this
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

SEP = "\x1f"
FIELDS = (
    "pid",  # the tmux server's: tells a server that died from a session that was ended
    "session_name",
    "@taskmux_project",  # a session option: the project that created the session
    "window_id",
    "pane_id",
    "pane_pid",
    "pane_dead",
    "pane_dead_status",
    "pane_dead_signal",
    "pane_dead_time",
    "pane_current_command",
    "pane_current_path",
    "pane_pipe",
    "@taskmux_task",
    "@taskmux_stopped",
    "@taskmux_restarts",
    "@taskmux_started",
    "@taskmux_boot",  # "WALL BOOT": the launch on the boot clock (`runtime/bootclock.py`)
    "@taskmux_gave_up",
    "@taskmux_next_restart",
    "@taskmux_health",
    "@taskmux_seen",
    "@taskmux_ready",
    "@taskmux_ports",  # the other tasks' ports its environment was built from
    "@taskmux_holder",  # who holds the task (`--holder`), since when, until when
    "@taskmux_held_since",
    "@taskmux_held_until",
)
FORMAT = "pane" + SEP + SEP.join(f"#{{{f}}}" for f in FIELDS)
MAX_REASON = 200  # characters of a check's reason kept on the task's window


def as_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _boot_stamp(text: str, started: str) -> float | None:
    """The launch's boot-clock stamp ("WALL BOOT"), if it belongs to this run's wall
    stamp `started`: a relaunch by a taskmux that does not stamp it leaves the earlier
    run's in place."""
    wall, _, boot = text.partition(" ")
    return as_float(boot) if wall == started and wall else None


def list_panes(sessions: Sequence[str], owner: str = "") -> list[str]:
    """The one tmux command that reads every pane of these sessions, and (`owner`) of
    any session tagged as that project's, whatever its name (one renamed by hand)."""
    condition = f"#{{==:#{{session_name}},{sessions[0]}}}"
    for name in sessions[1:]:
        condition = f"#{{||:{condition},#{{==:#{{session_name}},{name}}}}}"
    if owner:  # a state folder's name: letters, digits, `_.-` only (statedir/paths.py)
        condition = f"#{{||:{condition},#{{==:#{{@taskmux_project}},{owner}}}}}"
    return ["list-panes", "-a", "-f", condition, "-F", FORMAT]


def read_listing(
    lines: Iterable[str], offset: float
) -> tuple[int | None, dict[str, tuple[str, dict[str, dict[str, object]]]]]:
    """`list_panes`'s answer: the server's pid, and per session found its owner and its
    task panes' facts (the first pane of a task wins; a window without a task mark is a
    person's and is left out)."""
    found: dict[str, tuple[str, dict[str, dict[str, object]]]] = {}
    server_pid = None
    for line in lines:
        if not line.startswith("pane" + SEP):
            continue
        values = line.split(SEP)[1:]
        if len(values) != len(FIELDS):
            continue
        server_pid = as_int(values[0]) or server_pid  # "pid" comes first
        _owner, tasks = found.setdefault(values[1], (values[2], {}))
        facts = pane_facts(dict(zip(FIELDS, values, strict=True)), offset)
        if facts is not None and facts["task"] not in tasks:
            tasks[str(facts["task"])] = facts
    return server_pid, found


def pane_facts(row: dict[str, str], offset: float) -> dict[str, object] | None:
    """One pane's facts by `TaskState`'s field names (None: not a task window);
    `offset`: `bootclock.wall_minus_boot()` at the read, which makes `up_since`."""
    task = row["@taskmux_task"]
    if not task:
        return None
    dead = row["pane_dead"] == "1"
    signal_number = as_int(row["pane_dead_signal"]) if dead else None
    status = None if signal_number else (as_int(row["pane_dead_status"]) if dead else None)
    started = as_float(row["@taskmux_started"])
    booted = _boot_stamp(row["@taskmux_boot"], row["@taskmux_started"])
    return {
        "task": task,
        "window_id": row["window_id"],
        "pane_id": row["pane_id"],
        "pid": as_int(row["pane_pid"]),
        "dead": dead,
        "exit_status": status,
        "exit_signal": signal_number or None,
        "dead_time": as_float(row["pane_dead_time"]),
        "current_command": row["pane_current_command"],
        "current_path": row["pane_current_path"],
        "piped": row["pane_pipe"] == "1",
        "manually_stopped": row["@taskmux_stopped"] == "1",
        "restarts": as_int(row["@taskmux_restarts"]) or 0,
        "started_at": started,
        "up_since": None if booted is None else booted + offset,
        "gave_up": row["@taskmux_gave_up"] == "1",
        "next_restart_at": as_float(row["@taskmux_next_restart"]),
        "health": Health.decode(row["@taskmux_health"], started),
        "seen_exit": row["@taskmux_seen"],
        "ready_run": as_float(row["@taskmux_ready"]),
        "built_from": decode_ports(row["@taskmux_ports"]),
        "holder": row["@taskmux_holder"],
        "held_since": as_float(row["@taskmux_held_since"]),
        "held_until": as_float(row["@taskmux_held_until"]),
    }


def encode_ports(ports: Iterable[tuple[str, int]]) -> str:
    """`api=5432,db=6379`: task names hold neither `=` nor `,` (config validation)."""
    return ",".join(f"{task}={port}" for task, port in ports)


def decode_ports(text: str) -> tuple[tuple[str, int], ...]:
    """`encode_ports`' text read back; an odd part is left out, never an error."""
    found = []
    for part in text.split(","):
        task, _, number = part.partition("=")
        port = as_int(number)
        if task and port is not None:
            found.append((task, port))
    return tuple(found)


def signal_name(number: int) -> str:
    """`config.signals.signal_name`, imported when a pane died by a signal: the `signal`
    module (and its enums) is not worth its import to a read of live tasks."""
    from taskmux.config.signals import signal_name as name

    return name(number)


def same_run(a: float | None, b: float | None) -> bool:
    """Whether two start times (stored with millisecond precision) name the same run."""
    return a is None or b is None or abs(a - b) <= 0.0005


class Health:
    """The last health verdict stored on the task's window, shared by every process.

    `healthy` is the last check's result, whoever ran it. `failures` is the streak of
    consecutive failed checks that count (the supervisor's, on the task's own interval);
    the task is unhealthy once that streak reaches `retries` (its `health_retries` when
    the verdict was written), not at the first failed check. A value: compared, hashed
    and never changed (a plain class: a dataclass costs the lean path its import).
    """

    __slots__ = ("checked_at", "failures", "healthy", "reason", "retries", "run")

    healthy: bool
    checked_at: float
    failures: int
    run: float | None  # started_at of the run that was checked
    retries: int  # 0: unknown (a verdict written before the streak was recorded)
    reason: str  # the last check's one-line reason ("status 500", "connection refused")

    def __init__(
        self,
        healthy: bool,
        checked_at: float,
        failures: int,
        run: float | None = None,
        retries: int = 0,
        reason: str = "",
    ) -> None:
        for name, value in zip(
            self.__slots__,
            (checked_at, failures, healthy, reason, retries, run),
            strict=True,
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Health is immutable (cannot set {name})")

    def _key(self) -> tuple[object, ...]:
        return (self.healthy, self.checked_at, self.failures, self.run, self.retries, self.reason)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Health) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Health(healthy={self.healthy!r}, checked_at={self.checked_at!r}, "
            f"failures={self.failures!r}, run={self.run!r}, retries={self.retries!r}, "
            f"reason={self.reason!r})"
        )

    @property
    def unhealthy(self) -> bool:
        return self.retries > 0 and self.failures >= self.retries

    def encode(self) -> str:
        run = f"{self.run:.3f}" if self.run is not None else "-"
        verdict = "ok" if self.healthy else "fail"
        text = f"{verdict} {self.checked_at:.3f} {self.failures} {run} {self.retries}"
        reason = " ".join(self.reason.split())[:MAX_REASON]  # one line, bounded
        return f"{text} {reason}" if reason else text

    @classmethod
    def decode(cls, text: str, current_run: float | None = None) -> Health | None:
        """The stored verdict, or None if it belongs to an earlier run of the task."""
        parts = text.split(maxsplit=5)
        if len(parts) < 4:
            return None
        try:
            run = None if parts[3] == "-" else float(parts[3])
            retries = int(parts[4]) if len(parts) >= 5 else 0
            reason = parts[5] if len(parts) == 6 else ""
            health = cls(parts[0] == "ok", float(parts[1]), int(parts[2]), run, retries, reason)
        except ValueError:
            return None
        if not same_run(run, current_run):
            return None  # a slow check of the previous run finished after a restart
        return health


class StateWords:
    """What a task's pane facts mean, in the words `status` uses: shared by `TaskState`
    (the supervisor's and the service's) and `Pane` (the lean read path's)."""

    __slots__ = ()

    task: str
    window_id: str
    pane_id: str
    pid: int | None
    dead: bool
    exit_status: int | None
    exit_signal: int | None
    dead_time: float | None
    current_command: str
    current_path: str
    piped: bool
    manually_stopped: bool
    restarts: int
    started_at: float | None
    up_since: float | None  # the launch on this reader's wall clock (`running_since`)
    gave_up: bool
    next_restart_at: float | None
    health: Health | None
    seen_exit: str  # identity of the death a supervisor already reported
    ready_run: float | None  # started_at of the run whose ready line was seen
    built_from: tuple[tuple[str, int], ...]  # other tasks' ports in its env, at its launch
    holder: str  # who holds it (`--holder`), "" for nobody
    held_since: float | None
    held_until: float | None  # when the claim lapses

    def live_holder(self, now: float) -> str | None:
        """Who holds the task at `now`: a claim past its `held_until` has lapsed."""
        until = self.held_until
        return self.holder if self.holder and until is not None and now < until else None

    @property
    def ready_seen(self) -> bool:
        """Whether this run printed its `ready_log` line (as far as a check has looked)."""
        return (
            self.ready_run is not None
            and self.started_at is not None
            and same_run(self.ready_run, self.started_at)
        )

    @property
    def running_since(self) -> float | None:
        """When this run began, for measuring how long it has run (`now - running_since`):
        its boot-clock stamp seen on this reader's wall clock, so a step of the wall clock
        since the launch is not counted as uptime; `started_at` for a window launched
        without one. `started_at` itself stays the run's name (`same_run`)."""
        return self.up_since if self.up_since is not None else self.started_at

    @property
    def death_id(self) -> str:
        """Identifies this particular death, so each is reported once across processes."""
        return f"{self.pid}:{self.dead_time}" if self.dead else ""

    @property
    def is_alive(self) -> bool:
        return not self.dead

    @property
    def exit_pending(self) -> bool:
        """tmux 3.3a: the pane is dead but its status is not known yet."""
        return self.dead and self.exit_status is None and self.exit_signal is None

    def describe(self) -> str:
        """The state word(s) a person reads in `status`."""
        if self.is_alive:
            if self.health is not None and self.health.unhealthy:
                return "unhealthy"
            return "running"
        if self.gave_up:
            return f"gave up ({self.exit_text()})"
        if self.manually_stopped:
            return "stopped"
        if self.next_restart_at is not None:
            return f"restarting ({self.exit_text()})"
        return self.exit_text()

    def health_verdict(self) -> bool | None:
        """False once unhealthy (the failure streak reached its limit), True if the last
        check passed, None when not known yet (no check, or failing below the limit)."""
        if self.health is None:
            return None
        if self.health.unhealthy:
            return False
        return True if self.health.healthy else None

    def exit_text(self) -> str:
        if self.exit_signal is not None:
            return f"killed by {signal_name(self.exit_signal)}"
        if self.exit_status is not None:
            return "completed" if self.exit_status == 0 else f"exited {self.exit_status}"
        return "exited (status unknown)"

    def to_dict(self) -> dict[str, object]:
        return {
            "state": self.describe(),
            "running": self.is_alive,
            "pid": self.pid if self.is_alive else None,
            "exit_code": self.exit_status if self.dead and self.exit_signal is None else None,
            "signal": signal_name(self.exit_signal) if self.exit_signal is not None else None,
            "window_id": self.window_id,
            "pane_id": self.pane_id,
            "pane_current_command": self.current_command,
            "pane_current_path": self.current_path,
            "manually_stopped": self.manually_stopped,
            "restart_count": self.restarts,
            "gave_up": self.gave_up,
            "started_at": self.started_at,
            "exited_at": self.dead_time if self.dead else None,
            "next_restart_at": self.next_restart_at,
            "healthy": self.health_verdict(),
            "health_failures": self.health.failures if self.health else 0,
            "health_checked_at": None if self.health is None else self.health.checked_at,
            "probe_reason": self.health.reason or None if self.health else None,
        }


class Pane(StateWords):
    """One task pane read on the lean path: `TaskState`'s facts and words, built from
    `pane_facts` without a dataclass."""

    __slots__ = (
        "built_from",
        "current_command",
        "current_path",
        "dead",
        "dead_time",
        "exit_signal",
        "exit_status",
        "gave_up",
        "health",
        "held_since",
        "held_until",
        "holder",
        "manually_stopped",
        "next_restart_at",
        "pane_id",
        "pid",
        "piped",
        "ready_run",
        "restarts",
        "seen_exit",
        "started_at",
        "task",
        "up_since",
        "window_id",
    )

    def __init__(self, facts: dict[str, object]) -> None:
        for name, value in facts.items():
            setattr(self, name, value)
