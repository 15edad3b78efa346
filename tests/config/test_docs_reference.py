"""The configuration reference is rendered from the schema: every key documented, none missed."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from taskmux.config import schema

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "docs" / "hooks" / "config_reference.py"
PAGE = ROOT / "docs" / "reference" / "configuration.md"


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("config_reference_hook", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _schema_classes() -> list[type[Any]]:
    return [
        schema.ProjectConfig,
        schema.TaskConfig,
        schema.Hooks,
        schema.WorktreeSettings,
        schema.Dependency,
        schema.Notify,
    ]


def test_every_schema_field_has_a_meaning() -> None:
    undocumented = [
        f"{cls.__name__}.{spec.name}"
        for cls in _schema_classes()
        for spec in dataclasses.fields(cls)
        if not str(spec.metadata.get("doc", "")).strip() and not spec.metadata.get("internal")
    ]
    assert undocumented == []


def test_every_schema_field_is_in_the_rendered_reference() -> None:
    hook = _hook()
    assert [section[0] for section in hook.SECTIONS] == _schema_classes()
    for cls in _schema_classes():
        table = hook.render_section(cls)
        for spec in dataclasses.fields(cls):
            if spec.metadata.get("internal"):
                continue  # filled in by the loader, not a key of the file
            row = next(line for line in table.splitlines() if line.startswith(f"| `{spec.name}` |"))
            assert hook._cell(str(spec.metadata["doc"])) in row
    rendered = hook.render()
    for _, heading, anchor, _ in hook.SECTIONS:
        assert f"## {heading} {{#{anchor}}}" in rendered


def test_defaults_and_types_come_from_the_dataclasses() -> None:
    table = _hook().render_section(schema.TaskConfig)
    assert "| `command` | string, not empty | required |" in table
    assert '| `restart_policy` | `"no"`, `"on-failure"`, `"always"` | `"on-failure"` |' in table
    assert '| `port` | int 1\N{EN DASH}65535, or `"auto"` | none |' in table
    assert "| `health_expect_status` | list of ints 100\N{EN DASH}599 | 200-399 |" in table


def test_the_reference_page_has_the_marker_the_hook_fills() -> None:
    hook = _hook()
    page = PAGE.read_text(encoding="utf-8")
    assert hook.MARKER in page
    assert hook.MARKER not in hook.on_page_markdown(page, None, None, None)
