"""Moving in and out (SPEC §12): the file I/O around the pure `importers` and `exporters`.

`import_file` reads a Procfile or a process-compose.yaml and writes a fresh
`taskmux.toml` next to it, validated first and never over an existing one unless forced.
`export_systemd` and `export_compose` write what the exporters made; a file in their way
is overwritten only when taskmux wrote it (it starts with `exporters.MARK`) or when
forced. Each returns a small frozen result for the faces to render.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskmux.config.project import CONFIG_NAME, atomic_write
from taskmux.errors import (
    ConfigError,
    ConfigExists,
    FileInTheWay,
    ImportFailed,
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

    try:
        text = source.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ImportFailed(f"{source} does not exist") from None
    except IsADirectoryError:
        raise ImportFailed(f"{source} is a folder: name the Procfile or YAML file") from None
    except UnicodeDecodeError:
        raise ImportFailed(f"{source} is not UTF-8 text") from None
    except OSError as exc:
        raise ImportFailed(f"cannot read {source}: {exc.strerror}") from None
    if detect_format(source, text) == "procfile":
        entries, strange = importers.parse_procfile(text)
        return importers.from_procfile(entries, strange, session, source.name)
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ImportFailed(f"{source}{where}: {problem}") from None
    return importers.from_process_compose(data, session, source.name)


def import_file(source: str | Path, force: bool = False) -> ImportResult:
    """Write `taskmux.toml` next to `source` (relative paths in it stay right: the
    source's folder is the project's root), validated before it is written."""
    from taskmux.config.create import session_name_for
    from taskmux.config.environment_check import environment_problems
    from taskmux.config.models import validate_config
    from taskmux.config.project import check_file
    from taskmux.interop.importers import render

    path = Path(source).expanduser().resolve()
    target = path.parent / CONFIG_NAME
    if target.exists() and not force:
        raise ConfigExists(f"{target} already exists (use --force to overwrite it)")
    session = session_name_for(path.parent)
    plan = plan_import(path, session)
    text = render(plan, TOOL)
    config, problems = validate_config(tomllib.loads(text))
    problems = [replace(p, path=str(target)) for p in problems]
    if config is None:  # a mapping taskmux does not accept: say so, write nothing
        raise ConfigError.from_problems(problems)
    atomic_write(target, text)
    # What `taskmux check` would say now, located in the file as written.
    config, problems = check_file(target)
    if config is not None:
        problems += environment_problems(path.parent, config)
    return ImportResult(
        config=target,
        source=path,
        source_format=plan.source_format,
        session=session,
        tasks=tuple(plan.tasks),
        mapped=tuple(n.to_dict() for n in plan.notes if n.mapped),
        unmapped=tuple(n.to_dict() for n in plan.notes if not n.mapped),
        warnings=tuple(p for p in problems if p.severity == "warning"),
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


def default_systemd_dir() -> Path:
    """Where systemd looks for a user's own units."""
    import os

    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def export_systemd(
    project: Project, directory: str | Path | None, force: bool = False
) -> ExportResult:
    """Write the project's user units (default: ~/.config/systemd/user)."""
    from taskmux.interop.exporters import systemd_units

    folder = Path(directory).expanduser().absolute() if directory else default_systemd_dir()
    export = systemd_units(project.config, project.root, project.path)
    return _write(folder, export, force, "systemd")


def export_compose(
    project: Project, image: str, file: str | Path | None, force: bool = False
) -> ExportResult:
    """Write the project's compose file (default: compose.yaml beside taskmux.toml)."""
    from taskmux.interop.exporters import compose_file

    if not image.strip():
        raise UsageError("--image must name an image (e.g. python:3.12-slim)")
    path = Path(file).expanduser().absolute() if file else project.root / "compose.yaml"
    export = compose_file(project.config, project.root, path, image.strip(), project.path)
    return _write(path.parent, export, force, "compose")
