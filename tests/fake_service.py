"""A stand-in for `taskmux.service.Service` under a face (process-compose's mockProject):
no tmux, no files. It records every call, answers from a script of canned frozen results
or errors, and checks params against `operations.py` as `Service.call` does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from taskmux.errors import BadParams, TaskNotFound
from taskmux.operations import OPERATIONS


@dataclass(frozen=True)
class Canned:
    """A frozen result with nothing but its `to_dict()`."""

    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


@dataclass(frozen=True)
class Call:
    """One call as the face made it: the params as given, and the per-call extras."""

    name: str
    params: dict[str, Any]
    extra: dict[str, Any]

    @property
    def bound(self) -> dict[str, Any]:
        """The params with the declared defaults, as the service's method receives them."""
        return OPERATIONS[self.name].bind(self.params)


class FakeProject:
    """Just enough of a Project for a face: looking a task up by name."""

    def __init__(self, tasks: tuple[str, ...]) -> None:
        self.tasks = tasks

    def task(self, name: str) -> None:
        if name not in self.tasks:
            raise TaskNotFound(f"task '{name}' not found in taskmux.toml")


Answer = Any  # a result, an exception to raise, or a function of (params, extra)


@dataclass
class FakeService:
    """Records `call(name, params, **extra)`; answers with `answers[name]` (default: a
    `Canned` naming the operation)."""

    answers: dict[str, Answer] = field(default_factory=dict)
    tasks: tuple[str, ...] = ("web", "worker")
    calls: list[Call] = field(default_factory=list)

    @property
    def project(self) -> FakeProject:
        return FakeProject(self.tasks)

    def call(self, name: str, params: dict[str, Any], **extra: Any) -> Any:
        self.calls.append(Call(name, dict(params), dict(extra)))
        try:
            OPERATIONS[name].bind(params)
        except ValueError as exc:  # as Service.call: the declaration is checked once more
            raise BadParams(str(exc)) from None
        answer = self.answers.get(name, Canned({"operation": name}))
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            return answer(params, extra)
        return answer

    def only_call(self) -> Call:
        assert len(self.calls) == 1, self.calls
        return self.calls[0]
