"""Moving out to Kubernetes (SPEC §16): Deployments, Services, ConfigMaps, Secret
references, probes, Jobs for one-shot dependencies, CronJobs, a kustomization.yaml.

`kubernetes_manifests` is pure: the validated config in, the files' text and the notes on
what Kubernetes cannot carry out. `export_kubernetes` writes them through the other
exports' writer (`moving.py`), so a file taskmux did not write is refused with E902.

One declared task is one workload, whatever its `replicas` (config.instances maps it to
its TASK-1..N instances): a Deployment with that many replicas. A task another waits to
finish (`completed`/`completed_successfully`) is a Job, a scheduled one a CronJob; a
dependency becomes an init container that waits with `kubectl wait` (so the pods get a
ServiceAccount allowed to read Jobs and Deployments). Values under a secret-looking name
(the redaction rule of SPEC §13) are never written: the pod reads them from a Secret the
user creates, by name.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from taskmux.errors import KubernetesRefused, UsageError
from taskmux.interop.exporters.shared import (
    HOOKS,
    MARK,
    Export,
    Notes,
    probe_command,
    resolve_ports,
    signal_name,
    task_env,
    with_ports,
)
from taskmux.interop.exporters.systemd import one_shots

if TYPE_CHECKING:
    from taskmux.config.project import Project
    from taskmux.config.schema import ProjectConfig, TaskConfig
    from taskmux.interop.moving import ExportResult

KUBECTL_IMAGE = "registry.k8s.io/kubectl:v1.34.1"  # the init containers' `kubectl wait`
WORKDIR = "/app"  # where the image holds the project (docs/deploying.md's Dockerfile)
REPLICA_VAR = "TASKMUX_REPLICA"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "")
_MAX_NAME = 52  # a CronJob's name: its Jobs' names add 11 characters to it


@dataclass(frozen=True)
class Workload:
    """One declared task as Kubernetes runs it."""

    task: str  # the declared name (`worker`, not `worker-1`)
    config_name: str  # the task in config.tasks whose settings it takes (the first instance)
    name: str  # its Kubernetes name
    kind: str  # "Deployment", "Job" or "CronJob"
    replicas: int


def kube_name(text: str) -> str:
    """A DNS-1123 label from a task or project name (lower case, `-` for the rest)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:_MAX_NAME].rstrip("-") or "task"


def workloads(config: ProjectConfig) -> list[Workload]:
    """Every declared task, once, with its kind and replicas, in the file's order."""
    first_of = {names[0]: declared for declared, names in config.instances.items()}
    other = {n for names in config.instances.values() for n in names[1:]}
    shots = {_declared(config, name) for name in one_shots(config)}
    found: list[Workload] = []
    seen: dict[str, str] = {}
    for name, task in config.tasks.items():
        if name in other:
            continue
        declared = first_of.get(name, name)
        kind = "CronJob" if task.is_scheduled else "Job" if declared in shots else "Deployment"
        replicas = len(config.instances.get(declared, [name]))
        workload = Workload(declared, name, kube_name(declared), kind, replicas)
        if workload.name in seen:
            raise KubernetesRefused(
                f"tasks '{seen[workload.name]}' and '{declared}' are both '{workload.name}' "
                "in Kubernetes (names are lower case letters, digits and '-'): rename one",
                code="E911",
            )
        seen[workload.name] = declared
        found.append(workload)
    return found


def _declared(config: ProjectConfig, name: str) -> str:
    """The declared task an instance belongs to (a task that is no instance: itself)."""
    for declared, names in config.instances.items():
        if name in names:
            return declared
    return name


def escape_expansion(text: str) -> str:
    """Kubernetes expands `$(NAME)` in a container's command and env values and reads
    `$$` as `$`: doubling every `$` passes the text to the shell unchanged."""
    return text.replace("$", "$$")


def _seconds(value: float) -> int:
    return max(1, math.ceil(value))


@dataclass
class _Build:
    """What every manifest of one export shares."""

    config: ProjectConfig
    root: Path
    image: str
    namespace: str | None
    ports: dict[str, int]
    by_task: dict[str, Workload]
    notes: Notes
    prefix: str
    waits: bool = False  # some pod waits for another workload: RBAC is written

    def metadata(self, name: str, workload: Workload | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name}
        if self.namespace:
            meta["namespace"] = self.namespace
        meta["labels"] = self.labels(workload)
        return meta

    def labels(self, workload: Workload | None) -> dict[str, str]:
        labels = {"app.kubernetes.io/part-of": self.prefix}
        if workload is not None:
            labels["app.kubernetes.io/name"] = workload.name
        return labels

    @property
    def secret_name(self) -> str:
        return f"{self.prefix}-secrets"

    @property
    def account(self) -> str:
        return f"{self.prefix}-wait"


def kubernetes_manifests(
    config: ProjectConfig, root: Path, image: str, namespace: str | None, source: Path
) -> Export:
    """The manifests of every task and a kustomization.yaml listing them."""
    if namespace is not None and not _DNS_LABEL.match(namespace):
        raise KubernetesRefused(
            f"namespace '{namespace}' is not a Kubernetes name (lower case letters, digits "
            "and '-', at most 63)"
        )
    found = workloads(config)
    build = _Build(
        config,
        root,
        image,
        namespace,
        resolve_ports(config),
        {w.task: w for w in found},
        Notes(),
        kube_name(config.name),
    )
    if any(getattr(config.hooks, hook) for hook in HOOKS):
        build.notes.add(None, "[hooks] (global): not exported; Kubernetes runs no project hooks")
    documents: dict[str, list[dict[str, Any]]] = {}
    for workload in found:
        documents[f"{workload.name}.yaml"] = _task_documents(build, workload)
    if build.waits:
        documents["rbac.yaml"] = _rbac(build)
    return _files(build, documents, source)


def _files(build: _Build, documents: dict[str, list[dict[str, Any]]], source: Path) -> Export:

    header = f"{MARK} kubernetes from {source}: edit that file and export again."
    files: dict[str, str] = {}
    for name, docs in documents.items():
        body = "---\n".join(_dump(doc) for doc in docs)
        task = docs[0]["metadata"]["labels"].get("app.kubernetes.io/name")
        workload = next((w for w in build.by_task.values() if w.name == task), None)
        notes = build.notes.for_task(workload.task) if workload is not None else []
        files[name] = "\n".join([header, *(f"# note: {n}" for n in notes), body])
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
    }
    if build.namespace:
        kustomization["namespace"] = build.namespace
    kustomization["resources"] = list(documents)
    lines = [header, *(f"# note: {line}" for line in build.notes.lines())]
    text = _dump(kustomization)
    files["kustomization.yaml"] = "\n".join([*lines, text])
    # The ConfigMaps hold env values: readable by the owner only, as the compose file.
    private = frozenset(name for name, docs in documents.items() if _has_config_map(docs))
    return Export(files, build.notes.lines(), private)


def _dump(document: dict[str, Any]) -> str:
    """YAML without anchors (`&id001`): each manifest reads whole, as people write them."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    return yaml.dump(document, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=1000)


def _has_config_map(docs: list[dict[str, Any]]) -> bool:
    return any(doc["kind"] == "ConfigMap" and doc.get("data") for doc in docs)


def _task_documents(build: _Build, workload: Workload) -> list[dict[str, Any]]:
    task = build.config.tasks[workload.config_name]
    docs: list[dict[str, Any]] = []
    pod, config_map = _pod(build, workload, task)
    if config_map is not None:
        docs.append(config_map)
    meta = build.metadata(workload.name, workload)
    if workload.kind == "Deployment":
        docs.append(_deployment(build, workload, task, meta, pod))
    elif workload.kind == "Job":
        docs.append({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, **_job(task, pod)})
    else:
        docs.append(_cron_job(build, workload, task, meta, pod))
    port = build.ports.get(workload.config_name)
    if port is not None and workload.kind == "Deployment":
        docs.append(_service(build, workload, port))
    return docs


def _deployment(
    build: _Build, workload: Workload, task: TaskConfig, meta: dict[str, Any], pod: dict[str, Any]
) -> dict[str, Any]:
    replicas = workload.replicas
    if not task.auto_start:
        replicas = 0
        build.notes.add(workload.task, "auto_start = false: replicas 0 (scale it up to start it)")
    if task.restart_policy != "always":
        build.notes.add(
            workload.task,
            f"restart_policy = {task.restart_policy}: a Deployment's pods are always restarted",
        )
    selector = build.labels(workload)
    template = {"metadata": {"labels": selector}, "spec": {**pod, "restartPolicy": "Always"}}
    spec = {"replicas": replicas, "selector": {"matchLabels": selector}, "template": template}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def _job(task: TaskConfig, pod: dict[str, Any]) -> dict[str, Any]:
    """A Job's body: its pod restarted on failure up to `max_restarts` times."""
    again = task.restart_policy != "no"
    spec: dict[str, Any] = {"backoffLimit": task.max_restarts if again else 0}
    if not task.auto_start:
        spec["suspend"] = True
    restart = "OnFailure" if again else "Never"
    spec["template"] = {"spec": {**pod, "restartPolicy": restart}}
    return {"spec": spec}


def _cron_job(
    build: _Build, workload: Workload, task: TaskConfig, meta: dict[str, Any], pod: dict[str, Any]
) -> dict[str, Any]:
    schedule = task.schedule or _every_as_cron(build.notes, workload.task, task.every or "")
    if task.schedule:
        build.notes.add(
            workload.task,
            "schedule: in the cluster's time zone (taskmux uses local time); set "
            "spec.timeZone to pin it",
        )
    job = _job(task, pod)
    job["spec"].pop("suspend", None)
    spec = {
        "schedule": schedule,
        "concurrencyPolicy": "Forbid",  # as taskmux: a run is skipped while one still runs
        "jobTemplate": job,
    }
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta, "spec": spec}


def _every_as_cron(notes: Notes, name: str, every: str) -> str:
    """`every` as the nearest cron schedule (cron counts from the hour, not from a start)."""
    from taskmux.config.schedules import every_seconds

    seconds = every_seconds(every) or 60.0
    minutes = max(1, round(seconds / 60))
    if minutes < 60 and 60 % minutes == 0 and seconds == minutes * 60:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    hours = round(seconds / 3600)
    if hours and hours < 24 and 24 % hours == 0 and seconds == hours * 3600:
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    if seconds == 86400:
        return "0 0 * * *"
    notes.add(
        name,
        f"every = {every!r}: cron cannot run every {every}; it runs every minute "
        "(set spec.schedule)",
    )
    return "* * * * *"


def _service(build: _Build, workload: Workload, port: int) -> dict[str, Any]:
    spec = {
        "selector": build.labels(workload),
        "ports": [{"name": "main", "port": port, "targetPort": port, "protocol": "TCP"}],
    }
    meta = build.metadata(workload.name, workload)
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def _pod(
    build: _Build, workload: Workload, task: TaskConfig
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The pod spec of a task, and the ConfigMap with its environment (None: no values)."""
    container, data = _container(build, workload, task)
    pod: dict[str, Any] = {}
    waits = _init_containers(build, workload, task)
    if waits:
        build.waits = True
        pod["serviceAccountName"] = build.account
        pod["initContainers"] = waits
    pod["containers"] = [container]
    pod["terminationGracePeriodSeconds"] = math.ceil(task.stop_grace_period)
    config_map = None
    if data:
        meta = build.metadata(f"{workload.name}-env", workload)
        config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}
    return pod, config_map


def _container(
    build: _Build, workload: Workload, task: TaskConfig
) -> tuple[dict[str, Any], dict[str, str]]:
    """The task's container, and the non-secret environment for its ConfigMap."""
    name, notes = workload.task, build.notes
    command = with_ports(task.command, build.ports)
    container: dict[str, Any] = {
        "name": workload.name,
        "image": build.image,
        "command": ["/bin/sh", "-c", escape_expansion(command)],
        "workingDir": _working_dir(notes, name, task),
    }
    data, secret_env = _environment(build, workload, task)
    if data:
        container["envFrom"] = [{"configMapRef": {"name": f"{workload.name}-env"}}]
    if secret_env:
        container["env"] = secret_env
    port = build.ports.get(workload.config_name)
    if port is not None:
        container["ports"] = [{"containerPort": port, "protocol": "TCP"}]
    container.update(_probes(build, workload, task, port))
    lifecycle = _hooks(build, name, task)
    if lifecycle:
        container["lifecycle"] = lifecycle
    if signal_name(task.stop_signal) != "SIGTERM":
        notes.add(
            name,
            f"stop_signal = {task.stop_signal}: Kubernetes stops with SIGTERM, then SIGKILL "
            "after terminationGracePeriodSeconds",
        )
    return container, data


def _working_dir(notes: Notes, name: str, task: TaskConfig) -> str:
    import posixpath

    if not task.cwd:
        return WORKDIR
    path = posixpath.normpath(posixpath.join(WORKDIR, Path(task.cwd).as_posix()))
    if not path.startswith(WORKDIR) or Path(task.cwd).is_absolute():
        notes.add(name, f"cwd outside the project: not in the image; workingDir {WORKDIR}")
        return WORKDIR
    return path


def _environment(
    build: _Build, workload: Workload, task: TaskConfig
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The ConfigMap's data, and the env entries that read secrets from the Secret."""
    from taskmux.logs.redact import looks_secret

    name, notes = workload.task, build.notes
    env = task_env(build.config, workload.config_name, build.root, build.ports, build.config.name)
    if task.ready_log is not None:
        notes.add(name, "ready_log: Kubernetes cannot wait for a line of output (use a probe)")
    if env.unresolved:
        names = ", ".join(f"${{{var}}}" for var in env.unresolved)
        notes.add(
            name, f"env: {names} (from an env file or taskmux's environment) is written as is"
        )
    if env.files:
        listed = ", ".join(
            str(path.relative_to(build.root)) if path.is_relative_to(build.root) else str(path)
            for path, _ in env.files
        )
        notes.add(
            name,
            f"env_file ({listed}): not read by the export; make a ConfigMap or Secret of it "
            "(kubectl create secret generic NAME --from-env-file=FILE) and add it to envFrom",
        )
    listed_secrets = {*build.config.secrets, *task.secrets}
    data: dict[str, str] = {}
    secret_env: list[dict[str, Any]] = []
    hidden: list[str] = []
    for key, value in env.values.items():
        if workload.replicas > 1 and key in (REPLICA_VAR, "TASKMUX_TASK"):
            value = workload.task  # TASKMUX_TASK: the declared name, as one pod of many
            if key == REPLICA_VAR:
                continue
        if key in listed_secrets or looks_secret(key, value):
            hidden.append(key)
            reference = {"name": build.secret_name, "key": key}
            secret_env.append({"name": key, "valueFrom": {"secretKeyRef": reference}})
            continue
        data[key] = value
    if workload.replicas > 1:
        notes.add(
            name,
            f"{REPLICA_VAR}: not set (the pods of a Deployment are alike; each has its own "
            "host name)",
        )
    if hidden:
        notes.add(
            name,
            f"env: {', '.join(hidden)} look secret: read from Secret '{build.secret_name}' "
            f"(create it: kubectl create secret generic {build.secret_name} "
            f"--from-literal={hidden[0]}=...)",
        )
    return data, secret_env


def _probes(
    build: _Build, workload: Workload, task: TaskConfig, port: int | None
) -> dict[str, Any]:
    """Readiness and liveness from the task's probe; its start period as a startup probe."""
    handler = _probe_handler(build, workload.task, task, port)
    if handler is None:
        return {}
    period = _seconds(task.health_interval)
    timing = {
        "periodSeconds": period,
        "timeoutSeconds": _seconds(task.health_timeout),
        "failureThreshold": task.health_retries,
    }
    probes: dict[str, Any] = {"readinessProbe": {**handler, **timing}}
    if task.restart_policy != "no":  # taskmux restarts an unhealthy task only then
        probes["livenessProbe"] = {**handler, **timing}
    if task.health_start_period > 0:
        # Failures in the start period do not count; after it, `health_retries` more may.
        tries = math.ceil(task.health_start_period / period) + task.health_retries
        probes["startupProbe"] = {**handler, **timing, "failureThreshold": tries}
    return probes


def _probe_handler(
    build: _Build, name: str, task: TaskConfig, port: int | None
) -> dict[str, Any] | None:
    if task.health_url is not None and task.health_check is None:
        url = urlsplit(with_ports(task.health_url, build.ports))
        plain = task.health_expect_status is None and task.health_expect_body is None
        if plain and (url.hostname or "") in _LOCAL_HOSTS and url.scheme in ("http", "https"):
            path = (url.path or "/") + (f"?{url.query}" if url.query else "")
            target = url.port or (443 if url.scheme == "https" else 80)
            return {"httpGet": {"path": path, "port": target, "scheme": url.scheme.upper()}}
    tcp = port if task.health_tcp is True else task.health_tcp
    plain_tcp = task.health_check is None and task.health_url is None
    if plain_tcp and isinstance(tcp, int) and not isinstance(tcp, bool):
        return {"tcpSocket": {"port": tcp}}
    command = probe_command(task, port, build.ports)
    if command is None:
        return None
    if task.health_check is None:
        build.notes.add(
            name, "health_url: checked by python3 in the pod (the image must have python3)"
        )
    return {"exec": {"command": ["/bin/sh", "-c", command]}}


def _hooks(build: _Build, name: str, task: TaskConfig) -> dict[str, Any]:
    found: dict[str, Any] = {}
    hooks = task.hooks
    for hook, key in (("after_start", "postStart"), ("before_stop", "preStop")):
        text = getattr(hooks, hook)
        if text:
            command = ["/bin/sh", "-c", with_ports(text, build.ports)]
            found[key] = {"exec": {"command": command}}
    for hook in ("before_start", "after_stop"):
        if getattr(hooks, hook):
            build.notes.add(name, f"hooks.{hook}: Kubernetes has no such hook")
    return found


def _init_containers(build: _Build, workload: Workload, task: TaskConfig) -> list[dict[str, Any]]:
    """One `kubectl wait` per workload this one depends on, in the file's order."""
    waits: list[dict[str, Any]] = []
    done: set[str] = set()
    for dep in task.depends_on:
        other = build.by_task[_declared(build.config, dep.task)]
        if other.name in done:
            continue  # the instances of one replicated task: one wait for its Deployment
        done.add(other.name)
        what = _wait_for(build.notes, workload.task, other, dep.condition)
        if what is None:
            continue
        args = ["wait", f"--for=condition={what[0]}", f"{what[1]}/{other.name}", "--timeout=-1s"]
        waits.append({"name": f"wait-for-{other.name}"[:63], "image": KUBECTL_IMAGE, "args": args})
    return waits


def _wait_for(notes: Notes, name: str, other: Workload, condition: str) -> tuple[str, str] | None:
    """(kubectl wait's condition, resource kind) for one dependency; None: none possible."""
    if other.kind == "Job" and condition in ("completed", "completed_successfully"):
        if condition == "completed":
            notes.add(name, f"depends on {other.task} completed (any exit): waits for a success")
        return "complete", "job"
    if other.kind == "Deployment":
        if condition == "started":
            notes.add(name, f"depends on {other.task} started: waits for it to be available")
        return "available", "deployment"
    notes.add(name, f"depends on {other.task} ({condition}): Kubernetes cannot wait for that")
    return None


def _rbac(build: _Build) -> list[dict[str, Any]]:
    """What the init containers need: a ServiceAccount that may read Jobs and Deployments."""
    name = build.account
    rules = [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]},
    ]
    subject: dict[str, Any] = {"kind": "ServiceAccount", "name": name}
    if build.namespace:
        subject["namespace"] = build.namespace
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": build.metadata(name)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": build.metadata(name),
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": build.metadata(name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [subject],
        },
    ]


def export_kubernetes(
    project: Project,
    image: str,
    directory: str | Path | None,
    namespace: str | None = None,
    force: bool = False,
) -> ExportResult:
    """Write the manifests (default: a `kubernetes` folder beside taskmux.toml)."""
    from taskmux.interop.moving import _write

    if not image.strip():
        raise UsageError("--image must name an image that holds the project at /app")
    folder = Path(directory).expanduser().absolute() if directory else project.root / "kubernetes"
    export = kubernetes_manifests(
        project.config, project.root, image.strip(), namespace or None, project.path
    )
    return _write(folder, export, force, "kubernetes")
