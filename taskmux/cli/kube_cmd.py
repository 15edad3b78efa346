"""`export kubernetes` (SPEC §16): a command of the `export` group, kept in its own module
beside the other exports' (`move_cmds.py`). One call into the service, then render."""

from __future__ import annotations

from typing import Annotated

import typer

from taskmux.cli.app import JsonOpt, emit, load
from taskmux.cli.move_cmds import ForceOpt, _print_export, export_app


@export_app.command("kubernetes")
def export_kubernetes_cmd(
    image: Annotated[
        str,
        typer.Option("--image", help="The image every pod runs: it holds the project at /app."),
    ],
    directory: Annotated[
        str | None,
        typer.Option("--dir", help="Folder for the manifests (default: kubernetes/ beside it)."),
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", help="The namespace of every resource.")
    ] = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Write Kubernetes manifests: Deployments, Services, Jobs, CronJobs, a kustomization."""
    from taskmux.service import Service

    service = Service.for_project(load(json_out))
    result = service.export_kubernetes(image, directory, namespace, force)
    folder = result.files[0].parent if result.files else "kubernetes"
    follow = [f"kubectl apply -k {folder}"]
    emit(json_out, result.to_dict(), lambda: _print_export(result, follow))
