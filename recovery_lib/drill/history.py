"""Every drill under a directory, over time: ``recovery drill history DIR``.

Finds each ``journal.json`` under DIR (one per drill report folder), and writes
``DIR/history.html`` and ``DIR/history.md``: per drill its verdict, RTO and RPO against
their targets, the phase breakdown and a link to its report; the HTML page adds inline
SVG charts of RTO and RPO over time against the targets and of the phases per drill. No
JavaScript and no external assets: the page renders offline and in CI artefacts.

Rendering is pure (``render_markdown`` / ``render_html`` over ``DrillSummary`` rows);
``collect`` reads the journals and ``write_history`` writes the two files atomically.
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from recovery_lib.drill.measure import PHASES
from recovery_lib.drill.report import PHASE_COLOURS, write_atomic
from recovery_lib.errors import ConfigError

logger = logging.getLogger(__name__)

HISTORY_HTML = "history.html"
HISTORY_MD = "history.md"


@dataclass(frozen=True)
class DrillSummary:
    """One drill, as the history shows it (times in the drill's own unit)."""

    path: str  # the report folder, relative to the history's directory
    start: str
    title: str
    stack: Optional[str]
    adapter: Optional[str]
    status: str
    verdict: str
    rto: Optional[float]
    rto_target: Optional[float]
    rpo: Optional[float]
    rpo_target: Optional[float]
    phases: dict[str, Optional[float]] = field(default_factory=dict)
    time_unit: str = "seconds"
    reasons: tuple[str, ...] = ()
    has_html: bool = False

    @property
    def link(self) -> str:
        return f"{self.path}/report.html" if self.has_html else f"{self.path}/journal.json"


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


def _short_time(value: Any) -> str:
    """``2026-12-03T10:29:45.484185+00:00`` -> ``2026-12-03 10:29:45Z`` (sortable, narrow)."""
    text = str(value or "")
    return f"{text[:10]} {text[11:19]}Z" if len(text) >= 19 and text[10] == "T" else text


def summarize(journal: dict[str, Any], folder: str, *, has_html: bool) -> DrillSummary:
    m = journal.get("measurements") or {}
    targets = m.get("targets") or {}
    phases = m.get("phases") or {}
    return DrillSummary(
        path=folder,
        start=_short_time(journal.get("start")),
        title=str((journal.get("experiment") or {}).get("title") or "drill"),
        stack=(journal.get("platform") or {}).get("stack"),
        adapter=journal.get("adapter"),
        status=str(journal.get("status")),
        verdict=str(m.get("verdict") or "fail"),
        rto=m.get("rto_seconds"),
        rto_target=targets.get("rto_seconds"),
        rpo=m.get("rpo_seconds"),
        rpo_target=targets.get("rpo_seconds"),
        phases={p: (phases.get(p) or {}).get("seconds") for p in PHASES},
        time_unit=str(m.get("time_unit") or "seconds"),
        reasons=tuple(m.get("reasons") or ()),
        has_html=has_html,
    )


def collect(directory: Path) -> tuple[list[DrillSummary], list[Skipped]]:
    """Every drill journal under ``directory``, oldest first, and what could not be read.

    Raises ConfigError when ``directory`` is not a directory or holds no drill journal."""
    directory = Path(directory)
    if not directory.is_dir():
        what = "does not exist" if not directory.exists() else "is not a directory"
        raise ConfigError(f"drill history: {str(directory)!r} {what}; give the directory that holds the drill "
                          "report folders (each with a journal.json)")
    drills: list[DrillSummary] = []
    skipped: list[Skipped] = []
    for path in sorted(directory.rglob("journal.json")):
        folder = path.parent.relative_to(directory).as_posix() or "."
        try:
            journal = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            skipped.append(Skipped(folder, f"unreadable: {exc}"))
            continue
        if not isinstance(journal, dict) or "injections" not in journal or "experiment" not in journal:
            skipped.append(Skipped(folder, "not a drill journal"))
            continue
        if not journal.get("measurements"):
            skipped.append(Skipped(folder, f"no measurements (status {journal.get('status')!r}, dry run or killed)"))
            continue
        drills.append(summarize(journal, folder, has_html=(path.parent / "report.html").is_file()))
    for skip in skipped:
        logger.warning("drill history: skipped %s: %s", skip.path, skip.reason)
    if not drills:
        raise ConfigError(f"drill history: no drill journal with measurements under {str(directory)!r} "
                          f"(looked for */journal.json; {len(skipped)} skipped)")
    drills.sort(key=lambda d: (d.start, d.path))
    return drills, skipped


def _fmt(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.1f}"


def _verdict_counts(drills: list[DrillSummary]) -> str:
    passed = sum(1 for d in drills if d.verdict == "pass")
    noun = "drill" if len(drills) == 1 else "drills"
    return f"{len(drills)} {noun}: {passed} passed, {len(drills) - passed} failed"


def render_markdown(drills: list[DrillSummary], skipped: Sequence[Skipped] = ()) -> str:
    lines = ["# Drill history", "", _verdict_counts(drills), "",
             "| # | started | drill | stack | verdict | RTO (target) | RPO (target) | "
             + " | ".join(PHASES) + " | report |",
             "|" + "---|" * (8 + len(PHASES))]
    for i, d in enumerate(drills, 1):
        phases = " | ".join(_fmt(d.phases.get(p)) for p in PHASES)
        lines.append(
            f"| {i} | {d.start} | {d.title} | {d.stack or '—'} | **{d.verdict.upper()}** | "
            f"{_fmt(d.rto)} ({_fmt(d.rto_target)}) | {_fmt(d.rpo)} ({_fmt(d.rpo_target)}) | {phases} | "
            f"[{d.path}]({d.link}) |")
    lines += ["", "Times in each drill's unit (emulated seconds in the sandbox, seconds on AWS)."]
    failed = [(i, d) for i, d in enumerate(drills, 1) if d.reasons]
    if failed:
        lines += ["", "## Why drills failed", ""]
        lines += [f"- #{i} {d.path}: {'; '.join(d.reasons)}" for i, d in failed]
    if skipped:
        lines += ["", "## Skipped", ""] + [f"- {s.path}: {s.reason}" for s in skipped]
    return "\n".join(lines) + "\n"


# -- SVG -----------------------------------------------------------------------------------------

WIDTH = 760
PASS_COLOUR, FAIL_COLOUR = "#2a9d8f", "#c1121f"


def _nice_max(value: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 86400):
        if value <= step * 5:
            return float(step * 5)
    return float(value)


def _series_svg(drills: list[DrillSummary], measure: str, label: str) -> str:
    """One measure (``rto`` or ``rpo``) per drill, in order, with its target as a step line."""
    values = [getattr(d, measure) for d in drills]
    targets = [getattr(d, f"{measure}_target") for d in drills]
    top_value = max([v for v in values + targets if v is not None] + [1.0])
    y_max = _nice_max(top_value * 1.1)
    left, right, top, height = 60, 20, 20, 180
    plot_h = height - top - 40
    n = len(drills)
    step = (WIDTH - left - right) / max(n, 1)

    def x(i: int) -> float:
        return left + step * (i + 0.5)

    def y(v: float) -> float:
        return top + plot_h * (1 - min(v, y_max) / y_max)

    parts = [f'<line x1="{left}" y1="{top + plot_h}" x2="{WIDTH - right}" y2="{top + plot_h}" class="axis"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" class="axis"/>']
    for k in range(6):
        v = y_max * k / 5
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" class="tick" text-anchor="end">{v:g}</text>')
    # the target, drill by drill (it may change between drills)
    for i, target in enumerate(targets):
        if target is not None:
            parts.append(f'<line x1="{x(i) - step / 2:.1f}" y1="{y(target):.1f}" x2="{x(i) + step / 2:.1f}" '
                         f'y2="{y(target):.1f}" class="target" data-target="{target}"/>')
    points = [(x(i), y(v)) for i, v in enumerate(values) if v is not None]
    if len(points) > 1:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(f'<polyline points="{path}" class="series"/>')
    for i, (d, v) in enumerate(zip(drills, values)):
        colour = PASS_COLOUR if d.verdict == "pass" else FAIL_COLOUR
        parts.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 16}" class="tick">#{i + 1}</text>')
        if v is None:
            parts.append(f'<text x="{x(i):.1f}" y="{top + plot_h - 4}" class="tick" fill="{colour}" '
                         f'data-drill="{i + 1}" data-missing="true">none</text>')
            continue
        over = getattr(d, f"{measure}_target") is not None and v > getattr(d, f"{measure}_target")
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="5" fill="{colour}" class="point" '
                     f'data-drill="{i + 1}" data-value="{v}" data-over-target="{str(over).lower()}">'
                     f'<title>#{i + 1} {html.escape(d.path)}: {label} {v:.1f} s ({d.verdict})</title></circle>')
    parts.append(f'<text x="{left}" y="{height - 4}" class="label">drill (oldest first); dashed: target</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" id="chart-{measure}" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{label} per drill against its target">'
            + "".join(parts) + "</svg>")


def _phases_svg(drills: list[DrillSummary]) -> str:
    """The phases of each drill, stacked, one bar per drill."""
    totals = [sum(v for v in d.phases.values() if v is not None) for d in drills]
    y_max = _nice_max(max(totals + [t for d in drills for t in [d.rto_target] if t is not None] + [1.0]) * 1.05)
    left, right, top, height = 60, 20, 20, 200
    plot_h = height - top - 50
    n = len(drills)
    step = (WIDTH - left - right) / max(n, 1)
    bar_w = min(40.0, step * 0.6)
    parts = [f'<line x1="{left}" y1="{top + plot_h}" x2="{WIDTH - right}" y2="{top + plot_h}" class="axis"/>']
    for k in range(6):
        v = y_max * k / 5
        y = top + plot_h * (1 - v / y_max)
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{v:g}</text>')
    for i, d in enumerate(drills):
        cx = left + step * (i + 0.5)
        base = 0.0
        for phase in PHASES:
            seconds = d.phases.get(phase)
            if not seconds:
                continue
            y_top = top + plot_h * (1 - (base + seconds) / y_max)
            h = plot_h * seconds / y_max
            parts.append(f'<rect x="{cx - bar_w / 2:.1f}" y="{y_top:.1f}" width="{bar_w:.1f}" height="{max(h, 0.5):.1f}" '
                         f'fill="{PHASE_COLOURS.get(phase, "#555")}" data-drill="{i + 1}" data-phase="{phase}">'
                         f'<title>#{i + 1} {phase}: {seconds:.1f} s</title></rect>')
            base += seconds
        parts.append(f'<text x="{cx:.1f}" y="{top + plot_h + 16}" class="tick">#{i + 1}</text>')
    x_legend = left
    for phase in PHASES:
        parts.append(f'<rect x="{x_legend}" y="{height - 22}" width="12" height="12" fill="{PHASE_COLOURS.get(phase, "#555")}"/>'
                     f'<text x="{x_legend + 16}" y="{height - 12}" class="label">{phase}</text>')
        x_legend += 110
    return (f'<svg xmlns="http://www.w3.org/2000/svg" id="chart-phases" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="Phases per drill">' + "".join(parts) + "</svg>")


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
th { background: #f1f3f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.pass { color: #2a9d8f; font-weight: bold; } .fail { color: #c1121f; font-weight: bold; }
.axis { stroke: #555; } .tick { font-size: 11px; fill: #555; text-anchor: middle; }
.label { font-size: 12px; fill: #333; } .target { stroke: #c1121f; stroke-width: 2; stroke-dasharray: 6 4; }
.series { fill: none; stroke: #888; stroke-width: 1.5; }
"""


def render_html(drills: list[DrillSummary], skipped: Sequence[Skipped] = ()) -> str:
    e = html.escape
    rows = []
    for i, d in enumerate(drills, 1):
        phases = "".join(f'<td class="num" data-phase="{p}">{_fmt(d.phases.get(p))}</td>' for p in PHASES)
        rows.append(
            f'<tr class="drill" data-verdict="{e(d.verdict)}"><td class="num">{i}</td><td>{e(d.start)}</td>'
            f'<td>{e(d.title)}</td><td>{e(d.stack or "—")}</td>'
            f'<td class="{ "pass" if d.verdict == "pass" else "fail"}">{e(d.verdict.upper())}</td>'
            f'<td class="num">{_fmt(d.rto)}</td><td class="num">{_fmt(d.rto_target)}</td>'
            f'<td class="num">{_fmt(d.rpo)}</td><td class="num">{_fmt(d.rpo_target)}</td>{phases}'
            f'<td><a href="{e(d.link)}">{e(d.path)}</a></td></tr>')
    head = "".join(f"<th>{p}</th>" for p in PHASES)
    reasons = "".join(f"<li>#{i} {e(d.path)}: {e('; '.join(d.reasons))}</li>"
                      for i, d in enumerate(drills, 1) if d.reasons)
    skipped_html = "".join(f"<li>{e(s.path)}: {e(s.reason)}</li>" for s in skipped)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Drill history ({len(drills)} drills)</title>
<style>{STYLE}</style></head>
<body>
<h1>Drill history</h1>
<p id="summary">{e(_verdict_counts(drills))}; times in each drill's unit (emulated seconds in the sandbox,
seconds on AWS).</p>
<h2>RTO per drill against its target</h2>
{_series_svg(drills, "rto", "RTO")}
<h2>RPO per drill against its target</h2>
{_series_svg(drills, "rpo", "RPO")}
<h2>Phases per drill</h2>
{_phases_svg(drills)}
<h2>Drills</h2>
<table id="drills">
<thead><tr><th>#</th><th>started</th><th>drill</th><th>stack</th><th>verdict</th><th>RTO</th><th>RTO target</th>
<th>RPO</th><th>RPO target</th>{head}<th>report</th></tr></thead>
<tbody>
{''.join(rows)}
</tbody></table>
{f'<h2>Why drills failed</h2><ul id="reasons">{reasons}</ul>' if reasons else ''}
{f'<h2>Skipped</h2><ul id="skipped">{skipped_html}</ul>' if skipped else ''}
</body></html>
"""


def write_history(directory: Path) -> dict[str, Any]:
    """Collect the drills under ``directory`` and write history.html and history.md there."""
    directory = Path(directory)
    drills, skipped = collect(directory)
    html_path, md_path = directory / HISTORY_HTML, directory / HISTORY_MD
    write_atomic(md_path, render_markdown(drills, skipped))
    write_atomic(html_path, render_html(drills, skipped))
    return {"html": html_path, "markdown": md_path, "drills": drills, "skipped": skipped}
