"""Moving in and out (SPEC §12): the file I/O around the pure `importers` and `exporters`.

`import_file` reads a Procfile or a process-compose.yaml and writes a fresh
`taskmux.toml` next to it, validated first and never over an existing one unless forced.
`export_systemd` and `export_compose` write what the exporters made; a file in their way
is overwritten only when taskmux wrote it (it starts with `exporters.MARK`) or when
forced. Each returns a small frozen result for the faces to render.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskmux.config.project import CONFIG_NAME, atomic_write
from taskmux.errors import (
    ConfigExists,
    ExportRefused,
    FileInTheWay,
    ImportFailed,
    ImportIncomplete,
    ImportInvalid,
    Problem,
    UsageError,
)

if TYPE_CHECKING:
    from taskmux.config.project import Project
    from taskmux.interop.exporters import Export
    from taskmux.interop.importers import ImportPlan

TOOL = "taskmux import"


@dataclass(frozen=True)
class ImportResult:
    """A written `taskmux.toml`, where it came from, and every source key's fate."""

    config: Path
    source: Path
    source_format: str
    session: str
    tasks: tuple[str, ...]
    mapped: tuple[dict[str, Any], ...]
    unmapped: tuple[dict[str, Any], ...]
    warnings: tuple[Problem, ...] = ()
    errors: tuple[Problem, ...] = ()  # what `taskmux check` rejects in the written file
    private: tuple[Path, ...] = ()  # env files written 0600 (values that look secret)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": str(self.config),
            "source": str(self.source),
            "format": self.source_format,
            "session": self.session,
            "tasks": list(self.tasks),
            "mapped": list(self.mapped),
            "unmapped": list(self.unmapped),
            "warnings": [p.to_dict() for p in self.warnings],
            "errors": [p.to_dict() for p in self.errors],
            "private": [str(path) for path in self.private],
        }


@dataclass(frozen=True)
class ExportResult:
    """The files an export wrote, and what their target cannot carry."""

    target: str  # "systemd" or "compose"
    files: tuple[Path, ...]
    notes: tuple[str, ...]
    private: tuple[Path, ...] = field(default=())  # written 0600: they carry env values

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "files": [str(path) for path in self.files],
            "private": [str(path) for path in self.private],
            "notes": list(self.notes),
        }


# Import --------------------------------------------------------------------------------


def detect_format(path: Path, text: str) -> str:
    """ "process-compose" for a YAML file (by name, or a top-level `processes:`), else a
    Procfile (a Procfile's `name: command` lines would parse as YAML too)."""
    if path.suffix.lower() in (".yaml", ".yml"):
        return "process-compose"
    if not path.name.lower().startswith("procfile") and any(
        line.rstrip() == "processes:" for line in text.splitlines()
    ):
        return "process-compose"
    return "procfile"


def plan_import(source: Path, session: str) -> ImportPlan:
    """Read and map the source (no file is written)."""
    from taskmux.interop import importers

    text = _read_source(source)
    if detect_format(source, text) == "procfile":
        entries, strange = importers.parse_procfile(text)
        return importers.from_procfile(entries, strange, session, source.name)
    data = _yaml(source, text)
    data, extended = _follow_extends(source, data)
    return importers.from_process_compose(data, session, source.name, extended)


def _read_source(source: Path) -> str:
    try:
        return source.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ImportFailed(f"{source} does not exist") from None
    except IsADirectoryError:
        raise ImportFailed(f"{source} is a folder: name the Procfile or YAML file") from None
    except UnicodeDecodeError:
        raise ImportFailed(f"{source} is not UTF-8 text") from None
    except OSError as exc:
        raise ImportFailed(f"cannot read {source}: {exc.strerror}") from None


def _yaml(source: Path, text: str) -> Any:
    """YAML as process-compose's Go decoder reads it: only `true`/`false` are booleans
    (PyYAML's YAML 1.1 would make `restart: no` false, `off` too)."""
    import yaml

    try:
        return yaml.load(text, Loader=_yaml12_loader())  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ImportFailed(f"{source}{where}: {problem}") from None


def _yaml12_loader() -> type[Any]:
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    bool_tag = "tag:yaml.org,2002:bool"
    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != bool_tag]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        bool_tag, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return Loader


_MAX_EXTENDS = 10


def _follow_extends(source: Path, data: Any) -> tuple[Any, tuple[str, ...]]:
    """process-compose's `extends: FILE`: that file (relative to this one, followed in
    turn) merged under this one, this one's values winning."""
    from taskmux.config.composition import merge

    chain: list[Path] = [source.resolve()]
    layers = [data]
    while isinstance(layers[-1], dict) and isinstance(layers[-1].get("extends"), str):
        base = (chain[-1].parent / layers[-1]["extends"]).resolve()
        if base in chain or len(chain) > _MAX_EXTENDS:
            raise ImportFailed(f"{source}: extends goes round in a circle at {base.name}")
        if not base.is_file():
            raise ImportFailed(f"{chain[-1].name}: extends {base}, which does not exist")
        chain.append(base)
        layers.append(_yaml(base, _read_source(base)))
    merged: Any = layers[-1]
    for layer in reversed(layers[:-1]):
        if isinstance(merged, dict) and isinstance(layer, dict):
            merged = merge(merged, layer)
    if isinstance(merged, dict) and len(chain) > 1:
        merged = {**merged, "extends": data.get("extends")}
    return merged, tuple(str(path.name) for path in chain[1:])


def import_file(source: str | Path, force: bool = False) -> ImportResult:
    """Write `taskmux.toml` next to `source` (relative paths in it stay right: the
    source's folder is the project's root), validated before it is written; the result
    carries what `taskmux check` still rejects (the CLI then exits non-zero, E904)."""
    import os

    from taskmux.config.checking import check_project
    from taskmux.config.create import session_name_for
    from taskmux.config.models import validate_config
    from taskmux.interop.importers import render

    path = Path(source).expanduser().resolve()
    target = path.parent / CONFIG_NAME
    if target.exists() and not force:
        raise ConfigExists(f"{target} already exists (use --force to overwrite it)")
    session = session_name_for(path.parent)
    plan = plan_import(path, session)
    private = {path.parent / name: values for name, values in plan.private_files.items()}
    for file in private:
        if file.exists() and not force:
            raise ConfigExists(f"{file} already exists (use --force to overwrite it)")
    text = render(plan, TOOL)
    config, problems = validate_config(tomllib.loads(text))
    if config is None:  # a mapping taskmux does not accept: say so, write nothing
        first = next(p for p in problems if p.severity == "error")
        raise ImportInvalid(
            f"{path.name} cannot be imported (nothing was written): the mapping of "
            f"{_where(first)} is not valid: {first.message}"
        )
    for file, values in private.items():
        atomic_write(file, dotenv_text(values), 0o600)
    atomic_write(target, text)
    # What `taskmux check` says now, located in the file as written.
    _config, problems = check_project(target, os.environ)
    return ImportResult(
        config=target,
        source=path,
        source_format=plan.source_format,
        session=session,
        tasks=tuple(plan.tasks),
        mapped=tuple(n.to_dict() for n in plan.notes if n.mapped),
        unmapped=tuple(n.to_dict() for n in plan.notes if not n.mapped),
        warnings=tuple(p for p in problems if p.severity == "warning"),
        errors=tuple(p for p in problems if p.severity == "error"),
        private=tuple(private),
    )


def _where(problem: Problem) -> str:
    parts = [f"task '{problem.task}'" if problem.task else "the top level"]
    if problem.key:
        parts.append(f"key '{problem.key}'")
    return " ".join(parts)


def dotenv_text(values: dict[str, str]) -> str:
    """`NAME=value` lines taskmux's env file reader gives back exactly: single quotes
    (taken literally) where they can, else double quotes with escapes."""
    lines = []
    for name, value in values.items():
        if "'" not in value and "\n" not in value:
            lines.append(f"{name}='{value}'")
        else:
            escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            lines.append(f'{name}="{escaped}"')
    return "\n".join(lines) + "\n"


def import_incomplete(result: ImportResult) -> ImportIncomplete:
    """The error for an import whose file `taskmux check` rejects: what is left to fix."""
    first = result.errors[0]
    more = f" (and {len(result.errors) - 1} more: taskmux check)" if len(result.errors) > 1 else ""
    return ImportIncomplete(
        f"wrote {result.config}, but taskmux check rejects it: {first.render()}{more}"
    )


# Export --------------------------------------------------------------------------------


def _write(folder: Path, export: Export, force: bool, target: str) -> ExportResult:
    """Write every file, after checking that none of them is someone else's."""
    from taskmux.interop.exporters import MARK

    paths = {name: folder / name for name in export.files}
    for path in paths.values():
        if path.is_dir():
            raise FileInTheWay(f"{path} is a folder")
        if path.exists() and not force and not _ours(path, MARK):
            raise FileInTheWay(
                f"{path} exists and was not written by taskmux (use --force to overwrite it)"
            )
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)  # a drop-in's folder
        atomic_write(path, export.files[name], 0o600 if name in export.private else 0o644)
    return ExportResult(
        target,
        tuple(paths.values()),
        tuple(export.notes),
        tuple(paths[name] for name in sorted(export.private)),
    )


def _ours(path: Path, mark: str) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return handle.readline().startswith(mark)
    except OSError:
        return False


def refuse_invalid(project: Project) -> None:
    """An export carries a config `taskmux check` accepts, or nothing: ExportRefused
    (E906) names what check rejects. Every export target calls this first."""
    import os

    from taskmux.config.checking import check_project

    _config, problems = check_project(project.path, os.environ)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        shown = "; ".join(f"[{p.code}] {p.render()}" for p in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ExportRefused(f"nothing exported: taskmux check rejects the config: {shown}{more}")


def default_systemd_dir(system: bool = False) -> Path:
    """Where systemd looks for a user's own units (or, for system units, the admin's)."""
    import os

    if system:
        return Path("/etc/systemd/system")
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def export_systemd(
    project: Project,
    directory: str | Path | None,
    force: bool = False,
    system: bool = False,
    user: str | None = None,
) -> ExportResult:
    """Write the project's units: user units (default: ~/.config/systemd/user), or with
    `system` system units that run as `user` (default folder: /etc/systemd/system)."""
    import getpass
    import os

    from taskmux.interop.exporters import SystemdTarget, systemd_units

    if user is not None and not system:
        raise UsageError("--user NAME is for system units: add --system")
    if system and not (user or "").strip():
        raise UsageError("--system needs --user NAME: the account the tasks run as")
    refuse_invalid(project)
    folder = Path(directory).expanduser().absolute() if directory else default_systemd_dir(system)
    target = SystemdTarget(
        user=user.strip() if system and user else None,
        path=os.environ.get("PATH", ""),
        exporter=getpass.getuser(),
    )
    export = systemd_units(project.config, project.root, project.path, target)
    return _write(folder, export, force, "systemd")


def export_compose(
    project: Project, image: str, file: str | Path | None, force: bool = False
) -> ExportResult:
    """Write the project's compose file (default: compose.yaml beside taskmux.toml)."""
    from taskmux.interop.exporters import compose_file

    if not image.strip():
        raise UsageError("--image must name an image (e.g. python:3.12-slim)")
    refuse_invalid(project)
    path = Path(file).expanduser().absolute() if file else project.root / "compose.yaml"
    export = compose_file(project.config, project.root, path, image.strip(), project.path)
    return _write(path.parent, export, force, "compose")
