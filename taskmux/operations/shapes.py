"""The two shapes of the operations table: a `Param` and an `Operation` (plain classes:
the lean CLI imports them on every call, so no dataclasses and no `typing`)."""

from __future__ import annotations

TYPE_CHECKING = False  # the lean CLI parses with this table: no `typing`, no dataclasses
if TYPE_CHECKING:
    from typing import Any, Literal

    Kind = Literal["str", "int", "float", "bool", "names"]
    Face = Literal["cli", "api", "mcp"]

FACES: tuple[Face, ...] = ("cli", "api", "mcp")


class Param:
    """One parameter: JSON kind, default, bounds; `required` ones have no default.

    On the command line it is an option `--name` (with `short`, e.g. `-n`, too), or with
    `argument` a positional argument: the lean CLI parses with exactly these spellings.
    A plain class, not a dataclass: the lean CLI imports this module on every call.
    """

    __slots__ = (
        "argument",
        "choices",
        "default",
        "faces",
        "help",
        "kind",
        "maximum",
        "minimum",
        "name",
        "required",
        "short",
    )

    def __init__(
        self,
        name: str,
        kind: Kind,
        help: str,
        default: Any = None,
        required: bool = False,
        minimum: float | None = None,
        maximum: float | None = None,
        choices: tuple[str, ...] = (),
        short: str = "",
        argument: bool = False,
        faces: tuple[Face, ...] = FACES,  # where it is offered (the service takes it anyway)
    ) -> None:
        self.name = name
        self.kind = kind
        self.help = help
        self.default = default
        self.required = required
        self.minimum = minimum
        self.maximum = maximum
        self.choices = choices
        self.short = short
        self.argument = argument
        self.faces = faces

    def __repr__(self) -> str:
        return f"Param({self.name!r}, {self.kind!r})"

    @property
    def flags(self) -> tuple[str, ...]:
        """Its option spellings on the command line (none: a positional argument)."""
        if self.argument:
            return ()
        long = "--" + self.name.replace("_", "-")
        return (self.short, long) if self.short else (long,)

    def check(self, value: Any) -> str | None:
        """Why `value` is not acceptable (None when it is)."""
        if self.kind == "bool":
            ok = isinstance(value, bool)
        elif self.kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif self.kind == "float":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif self.kind == "names":
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            ok = isinstance(value, str)
        if not ok:
            return f"must be {self.describe()}"
        if self.choices and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}"
        if self.minimum is not None and value < self.minimum:
            return f"must be at least {self.minimum:g}"
        if self.maximum is not None and value > self.maximum:
            return f"must be at most {self.maximum:g}"
        return None

    def describe(self) -> str:
        return {
            "bool": "true or false",
            "int": "an integer",
            "float": "a number",
            "names": "a list of task names",
            "str": "a string",
        }[self.kind]


class Operation:
    """One operation of the service, and where it is offered."""

    __slots__ = (
        "destructive",
        "faces",
        "fallback",
        "name",
        "not_offered",
        "params",
        "read_only",
        "summary",
    )

    def __init__(
        self,
        name: str,
        summary: str,
        params: tuple[Param, ...] = (),
        read_only: bool = True,
        destructive: bool = False,
        faces: tuple[Face, ...] = FACES,
        not_offered: str = "",  # why a face is missing, when one is
        # Works from the last valid config while taskmux.toml is invalid: looking and
        # stopping must never be locked out by a typo.
        fallback: bool = False,
    ) -> None:
        self.name = name
        self.summary = summary
        self.params = params
        self.read_only = read_only
        self.destructive = destructive
        self.faces = faces
        self.not_offered = not_offered
        self.fallback = fallback

    def __repr__(self) -> str:
        return f"Operation({self.name!r})"

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise KeyError(f"{self.name} has no param {name!r}")

    def default(self, name: str) -> Any:
        return self.param(name).default

    def params_on(self, face: Face) -> tuple[Param, ...]:
        """The params a face offers (a face may have its own switch for one the others
        share: MCP's `raw` for the `digest` that the CLI and the API take)."""
        return tuple(param for param in self.params if face in param.faces)

    def bind(self, given: dict[str, Any]) -> dict[str, Any]:
        """Every param with the given value or its default; raise ValueError naming a bad one."""
        known = {p.name for p in self.params}
        unknown = sorted(set(given) - known)
        if unknown:
            raise ValueError(f"{self.name}: unknown param(s) {', '.join(unknown)}")
        bound: dict[str, Any] = {}
        for param in self.params:
            if param.name not in given or given[param.name] is None:
                if param.required:
                    raise ValueError(
                        f"{self.name}: missing param '{param.name}' ({param.describe()})"
                    )
                bound[param.name] = param.default
                continue
            problem = param.check(given[param.name])
            if problem:
                raise ValueError(f"{self.name}: param '{param.name}' {problem}")
            bound[param.name] = given[param.name]
        return bound
