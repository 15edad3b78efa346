"""Render figures as Markdown tables (for the terminal and the README) and as JSON."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.core import Figure
from bench.spec import FIGURES, PEER_NOT_APPLICABLE


def number(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in {"calls", "lines"}:
        return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
    if unit == "ms":
        return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "%":
        return f"{value:.3f} %" if value < 0.1 else f"{value:.2f} %"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "cores":
        return f"{value:.2f} cores"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:g} {unit}"


def _met(figure: Figure) -> str:
    met = figure.met
    return "—" if met is None else ("yes" if met else "**no**")


def _median_cell(figure: Figure) -> str:
    if figure.status == "unsupported":
        return "not supported"
    if figure.status == "failed":
        return "FAILED"
    return number(figure.median, figure.unit)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def figures_table(figures: list[Figure]) -> str:
    header = ["scenario", "figure", "median", "min", "max", "goal", "met?"]
    rows = []
    for f in figures:
        spread = f.status == "ok" and f.values
        rows.append(
            [
                f.scenario,
                f.name,
                _median_cell(f),
                number(min(f.values), f.unit) if spread else "—",
                number(max(f.values), f.unit) if spread else "—",
                f.goal,
                _met(f),
            ]
        )
    return _table(header, rows)


def footnotes(figures: list[Figure]) -> str:
    """Why a figure is missing, and what else was seen, one line each."""
    lines = []
    for f in figures:
        if f.status != "ok":
            lines.append(f"- {f.scenario} / {f.name}: {f.status}: {f.reason}")
        elif f.note:
            lines.append(f"- {f.scenario} / {f.name}: {f.note}")
    return "\n".join(lines)


def comparison_table(ours: list[Figure], other: list[Figure], ours_label: str, label: str) -> str:
    """Side by side, with other/ours for each figure both measured (> 1: ours is better)."""
    theirs = {(f.scenario, f.name): f for f in other}
    header = ["scenario", "figure", ours_label, label, f"{label} / {ours_label}"]
    rows = []
    for f in ours:
        g = theirs.get((f.scenario, f.name))
        ratio = "—"
        if g is not None and f.status == g.status == "ok" and f.median and g.median is not None:
            ratio = f"{g.median / f.median:.1f}x"
        rows.append(
            [f.scenario, f.name, _median_cell(f), _median_cell(g) if g else "not run", ratio]
        )
    return _table(header, rows)


def _ratio(ours: Figure | None, theirs: Figure | None) -> str:
    """Their median ÷ ours (> 1: ours is better), when both were measured."""
    if ours is None or theirs is None or ours.status != "ok" or theirs.status != "ok":
        return "—"
    if ours.median is None or theirs.median is None:
        return "—"
    if ours.median == 0:
        return "=" if theirs.median == 0 else "∞"
    ratio = theirs.median / ours.median
    return f"{ratio:.2f}x" if ratio < 0.1 else f"{ratio:.1f}x"


def _spec_cell(figure: Figure | None) -> str:
    if figure is None:
        return "not run"
    return _median_cell(figure)


def spec_rows(
    results: dict[str, list[Figure]], peers: list[str]
) -> tuple[list[str], list[list[str]]]:
    """One row per SPEC §7 figure: goal, ours, met?, then each peer and its ratio to ours."""
    by_label = {label: {f.spec: f for f in figures if f.spec} for label, figures in results.items()}
    header = ["figure", "goal", "taskmux", "met?"]
    for peer in peers:
        header += [peer, f"{peer} ÷ ours"]
    header.append("what limits ours")
    rows = []
    for spec, (title, goal) in FIGURES.items():
        ours = by_label.get("taskmux", {}).get(spec)
        row = [ours.name if ours else title, ours.goal if ours else goal, _spec_cell(ours)]
        row.append(_met(ours) if ours else "—")
        for peer in peers:
            theirs = by_label.get(peer, {}).get(spec)
            cell = "n/a" if theirs is None and spec in PEER_NOT_APPLICABLE else _spec_cell(theirs)
            row += [cell, _ratio(ours, theirs)]
        row.append(ours.limits if ours and ours.limits else "")
        rows.append(row)
    return header, rows


def spec_table(results: dict[str, list[Figure]], peers: list[str]) -> str:
    header, rows = spec_rows(results, peers)
    return _table(header, rows)


def spec_markdown(results: dict[str, list[Figure]], peers: list[str], meta: dict[str, Any]) -> str:
    """The README's table: the §7 figures with the run's context and every peer's notes."""
    versions = meta.get("tools", {})
    lines = [
        f"Run: `{meta.get('command', 'python -m bench')}`, {meta.get('started', '')}, "
        f"{describe_machine(meta.get('machine', {}))}, {meta.get('runs')} runs per figure"
        f"{' (quick)' if meta.get('quick') else ''}.",
        "Tools: "
        + ", ".join(f"{label} ({info.get('version', '?')})" for label, info in versions.items())
        + f"; load average before/after: {_loads(meta.get('load_before'))} / "
        + f"{_loads(meta.get('load_after'))}; {meta.get('seconds', '?')} s in all.",
        "",
        spec_table(results, peers),
    ]
    if peers:
        lines += [
            "",
            "n/a: "
            + "; ".join(f"{FIGURES[key][0]}: {why}" for key, why in PEER_NOT_APPLICABLE.items())
            + ".",
        ]
    for label in ["taskmux", *peers]:
        notes = footnotes([f for f in results.get(label, []) if f.spec])
        if notes:
            lines += ["", f"{label}:", notes]
    return "\n".join(lines)


def _loads(values: Any) -> str:
    try:
        return "/".join(f"{float(v):.1f}" for v in values)
    except (TypeError, ValueError):
        return "?"


def machine() -> dict[str, Any]:
    """What the figures depend on: cores, memory, Python, tmux, load."""
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        meminfo = Path("/proc/meminfo").read_text()
        kib = int(
            next(line for line in meminfo.splitlines() if line.startswith("MemTotal")).split()[1]
        )
        info["memory_gib"] = round(kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = next((line for line in cpuinfo.splitlines() if line.startswith("model name")), "")
        info["cpu"] = model.partition(":")[2].strip()
    except OSError:
        pass
    try:
        info["tmux"] = subprocess.run(
            ["tmux", "-V"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        info["tmux"] = "?"
    return info


def describe_machine(info: dict[str, Any]) -> str:
    return (
        f"{info.get('cores')} cores ({info.get('cpu') or 'unknown CPU'}), "
        f"{info.get('memory_gib', '?')} GiB RAM, Python {info.get('python')}, "
        f"{info.get('tmux')}, {info.get('platform')}"
    )


def write_json(path: Path, meta: dict[str, Any], results: dict[str, list[Figure]]) -> None:
    data = {
        "meta": meta,
        "results": {label: [f.to_dict() for f in figures] for label, figures in results.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
