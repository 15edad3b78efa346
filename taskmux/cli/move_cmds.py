"""Moving in and out: `import FILE`, `export systemd`, `export compose` (SPEC §12).

Kept to the CLI (no API or MCP face; `operations/` says why): they write files in the
project and in the user's systemd folder. Each makes one call into the service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from taskmux.cli.app import JsonOpt, app, console, emit, fail, load, warn

if TYPE_CHECKING:
    from taskmux.interop.moving import ExportResult, ImportResult

export_app = typer.Typer(
    name="export",
    no_args_is_help=True,
    help="Write the project for another engine: systemd user units, or a compose file.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(export_app, name="export")

ForceOpt = Annotated[
    bool, typer.Option("--force", help="Overwrite a file that taskmux did not write.")
]


@app.command("import")
def import_cmd(
    file: Annotated[str, typer.Argument(help="A Procfile or a process-compose.yaml.")],
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing taskmux.toml.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Write taskmux.toml next to FILE from a Procfile or a process-compose.yaml."""
    from taskmux.service import Service

    result = Service.import_file(file, force)
    for problem in result.warnings:
        warn(problem.render(), problem.code)
    if result.errors:  # written, but check rejects it: say what is left, exit non-zero
        from taskmux.interop.moving import import_incomplete

        fail(json_out, result.to_dict(), import_incomplete(result), lambda: _print_import(result))
    emit(json_out, result.to_dict(), lambda: _print_import(result))


def _print_import(result: ImportResult) -> None:
    out = console()
    out.print(
        f"wrote {result.config} from {result.source.name} ({result.source_format}): "
        f"session '{result.session}', {len(result.tasks)} task(s)"
    )
    out.print("mapped:", style="bold")
    for note in result.mapped:
        target = note["target"] if note["target"] != "-" else "(nothing needed)"
        out.print(f"  {note['source']} → {target}: {note['detail']}", markup=False)
    if result.unmapped:
        out.print("no equivalent (kept as comments in the file):", style="bold")
        for note in result.unmapped:
            out.print(f"  {note['source']}: {note['detail']}", markup=False)
    for path in result.private:
        out.print(f"wrote {path} (0600: values that look secret; add it to .gitignore)")
    if result.errors:
        out.print("left to fix (taskmux check rejects the file until then):", style="bold")
        for problem in result.errors:
            out.print(f"  error[{problem.code}]: {problem.render()}", markup=False)
        return
    out.print("next: taskmux check, then taskmux start")


@export_app.command("systemd")
def export_systemd_cmd(
    directory: Annotated[
        str | None,
        typer.Option("--dir", help="Folder for the units (default: ~/.config/systemd/user)."),
    ] = None,
    force: ForceOpt = False,
    system: Annotated[
        bool,
        typer.Option(
            "--system", help="System units (default folder /etc/systemd/system); needs --user."
        ),
    ] = False,
    user: Annotated[
        str | None, typer.Option("--user", help="The account system units run as (User=).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Write systemd units (user units, or --system --user NAME): one per task, and a
    target that starts them all."""
    from taskmux.interop.exporters import target_name
    from taskmux.service import Service

    project = load(json_out)
    result = Service.for_project(project).export_systemd(directory, force, system, user)
    target = target_name(project.session)
    ctl = "sudo systemctl" if system else "systemctl --user"
    follow = [
        f"{ctl} daemon-reload",
        f"{ctl} start {target}",
        f"{ctl} enable {target}   # start at {'boot' if system else 'login'}",
    ]
    emit(json_out, result.to_dict(), lambda: _print_export(result, follow))


@export_app.command("compose")
def export_compose_cmd(
    image: Annotated[
        str,
        typer.Option("--image", help="The image every service runs in (has your toolchain)."),
    ],
    file: Annotated[
        str | None,
        typer.Option(
            "--file", help="The compose file (default: compose.yaml beside taskmux.toml)."
        ),
    ] = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Write a compose file: one service per task, the project mounted at /app."""
    from taskmux.service import Service

    result = Service.for_project(load(json_out)).export_compose(image, file, force)
    follow = [f"docker compose -f {result.files[0]} up"]
    emit(json_out, result.to_dict(), lambda: _print_export(result, follow))


def _print_export(result: ExportResult, follow: list[str]) -> None:
    out = console()
    for path in result.files:
        private = " (0600: it holds env values)" if path in result.private else ""
        out.print(f"wrote {path}{private}", markup=False)
    if result.notes:
        out.print(f"{result.target} cannot carry (noted in the files too):", style="bold")
        for note in result.notes:
            out.print(f"  {note}", markup=False)
    out.print("next:", style="bold")
    for line in follow:
        out.print(f"  {line}", markup=False)
