"""Render a drill journal as Markdown, a self-contained HTML page and JUnit XML.

All renderers are pure functions of the journal dict; ``write_reports`` puts the files in
the report directory. The HTML page has no external assets: the timeline is inline SVG
(phases as bars against the RTO budget), readable offline and in CI artefacts.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional
from xml.etree import ElementTree as ET

PHASE_COLOURS = {"detection": "#e4572e", "dns": "#f3a712", "compute": "#29335c", "data": "#669bbc"}


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _fmt(seconds: Optional[float]) -> str:
    return "—" if seconds is None else f"{seconds:.1f} s"


def render_markdown(journal: dict[str, Any]) -> str:
    m = journal.get("measurements") or {}
    verdict = (m.get("verdict") or "fail").upper()
    unit = m.get("time_unit", "seconds")
    lines = [
        f"# Drill report: {journal['experiment'].get('title', 'drill')}",
        "",
        f"**Verdict: {verdict}** · status `{journal['status']}` · deviated `{journal['deviated']}`",
        "",
        f"- platform: `{journal.get('platform', {}).get('project')}` / `{journal.get('platform', {}).get('stack')}`"
        f" via the `{journal.get('adapter')}` adapter",
        f"- started {journal['start']}, ended {journal.get('end')}, {journal.get('duration', 0):.1f} s wall time",
        f"- times in {unit} (time scale {m.get('time_scale', 1)})",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| RTO | {_fmt(m.get('rto_seconds'))} | {m.get('targets', {}).get('rto_seconds')} s |",
        f"| RPO | {_fmt(m.get('rpo_seconds'))} | {m.get('targets', {}).get('rpo_seconds')} s |",
        f"| canary checkpoints lost | {(m.get('canary') or {}).get('lost', '—')} | |",
        "",
        f"Phase budgets: the {(m.get('budget') or {}).get('basis', 'best case')} failover.",
        "",
        "| phase | measured | budget | within budget |",
        "|---|---|---|---|",
    ]
    for phase, data in (m.get("phases") or {}).items():
        within = data.get("within_budget")
        lines.append(
            f"| {phase} | {_fmt(data.get('seconds'))} | {_fmt(data.get('budget_seconds'))} | "
            f"{'—' if within is None else ('yes' if within else 'no')} |"
        )
    reasons = m.get("reasons") or []
    if reasons:
        lines += ["", "## Why it failed", ""] + [f"- {r}" for r in reasons]
    lines += ["", "## Steps", "", "| step | status | duration |", "|---|---|---|"]
    for step in journal.get("run", []):
        lines.append(f"| {step['activity']['name']} | {step['status']} | {step.get('duration', 0):.2f} s |")
    lines += ["", "## Rollbacks", ""]
    if journal.get("rollbacks"):
        lines += [f"- {r['activity']['name']}: {r['status']}" for r in journal["rollbacks"]]
    else:
        lines.append("- none needed")
    return "\n".join(lines) + "\n"


def _tick_step(span: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600):
        if span / step <= 8:
            return float(step)
    return 7200.0


def render_timeline_svg(journal: dict[str, Any], width: int = 760) -> str:
    """Phases back to back from the fault, each over its budget, against the RTO target."""
    m = journal.get("measurements") or {}
    phases = m.get("phases") or {}
    rto_target = float((m.get("targets") or {}).get("rto_seconds") or 1)
    rto = m.get("rto_seconds")
    fault_at = m.get("fault_at") or 0.0
    ends = [d.get("ended_at") for d in phases.values() if d.get("ended_at") is not None]
    span = max([rto_target] + [e - fault_at for e in ends]) * 1.08 or 1.0
    left, right, bar_h, gap, top = 90, 20, 26, 10, 24
    scale = (width - left - right) / span
    rows = []
    start = 0.0
    for i, (phase, data) in enumerate(phases.items()):
        y = top + i * (bar_h + gap)
        seconds = data.get("seconds")
        budget = data.get("budget_seconds") or 0.0
        rows.append(f'<text x="4" y="{y + 18}" class="label">{html.escape(phase)}</text>')
        rows.append(
            f'<rect x="{left + start * scale:.1f}" y="{y}" width="{max(budget * scale, 1):.1f}" height="{bar_h}" '
            f'class="budget"><title>{phase} budget {budget:.1f} s</title></rect>'
        )
        if seconds is not None:
            rows.append(
                f'<rect x="{left + start * scale:.1f}" y="{y + 5}" width="{max(seconds * scale, 2):.1f}" '
                f'height="{bar_h - 10}" fill="{PHASE_COLOURS.get(phase, "#555")}" class="phase" data-phase="{phase}">'
                f"<title>{phase}: {seconds:.1f} s</title></rect>"
            )
            start += seconds
    axis_y = top + len(phases) * (bar_h + gap) + 4
    rows.append(f'<line x1="{left}" y1="{axis_y}" x2="{width - right}" y2="{axis_y}" class="axis"/>')
    step = _tick_step(span)
    tick = 0.0
    while tick <= span:
        x = left + tick * scale
        rows.append(f'<line x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{axis_y + 5}" class="axis"/>')
        rows.append(f'<text x="{x:.1f}" y="{axis_y + 18}" class="tick">{tick:g}</text>')
        tick += step
    rows.append(f'<text x="{left}" y="{axis_y + 34}" class="label">seconds since the fault</text>')
    x_target = left + rto_target * scale
    rows.append(f'<line x1="{x_target:.1f}" y1="8" x2="{x_target:.1f}" y2="{axis_y}" class="rto"/>')
    rows.append(f'<text x="{x_target - 4:.1f}" y="16" class="label" text-anchor="end">RTO target {rto_target:.0f} s</text>')
    if rto is not None:
        x_rto = left + rto * scale
        rows.append(f'<line x1="{x_rto:.1f}" y1="8" x2="{x_rto:.1f}" y2="{axis_y}" class="measured" data-rto="{rto}"/>')
        rows.append(f'<text x="{x_rto + 4:.1f}" y="16" class="label">RTO {rto:.1f} s</text>')
    height = axis_y + 44
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="timeline" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Failover phases against the RTO budget">'
        + "".join(rows)
        + "</svg>"
    )


def _html_table(table_id: str, header: list[str], rows: list[list[str]]) -> str:
    """A real HTML table; cells are escaped here."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    thead = f"<thead><tr>{head}</tr></thead>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}">{thead}<tbody>{body}</tbody></table>'


def render_html_tables(journal: dict[str, Any]) -> str:
    """The Markdown report's content as HTML: the facts, measures, phases, steps, rollbacks."""
    m = journal.get("measurements") or {}
    platform = journal.get("platform") or {}
    targets = m.get("targets") or {}
    facts = _html_table("facts", [], [
        ["platform", f"{platform.get('project')} / {platform.get('stack')} ({platform.get('strategy')})"],
        ["adapter", str(journal.get("adapter"))],
        ["status", f"{journal.get('status')} (deviated: {journal.get('deviated')})"],
        ["started", str(journal.get("start"))],
        ["ended", str(journal.get("end"))],
        ["wall time", f"{journal.get('duration') or 0:.1f} s"],
        ["times in", f"{m.get('time_unit', 'seconds')} (time scale {m.get('time_scale', 1)})"],
    ])
    measures = _html_table("measures", ["measure", "value", "target"], [
        ["RTO", _fmt(m.get("rto_seconds")), f"{targets.get('rto_seconds')} s"],
        ["RPO", _fmt(m.get("rpo_seconds")), f"{targets.get('rpo_seconds')} s"],
        ["canary checkpoints lost", str((m.get("canary") or {}).get("lost", "—")), ""],
    ])
    phase_rows = []
    for phase, data in (m.get("phases") or {}).items():
        within = data.get("within_budget")
        phase_rows.append([phase, _fmt(data.get("seconds")), _fmt(data.get("budget_seconds")),
                           "—" if within is None else ("yes" if within else "no")])
    phases = _html_table("phases", ["phase", "measured", "budget", "within budget"], phase_rows)
    basis = html.escape(str((m.get("budget") or {}).get("basis", "best case")))
    phases = f"<p>Phase budgets: the {basis} failover.</p>\n{phases}"
    steps = _html_table("steps", ["step", "status", "duration"], [
        [step["activity"]["name"], step["status"], f"{step.get('duration', 0):.2f} s"] for step in journal.get("run", [])
    ])
    rollbacks = _html_table("rollbacks", ["rollback", "status"], [
        [r["activity"]["name"], r["status"]] for r in journal.get("rollbacks", [])
    ]) if journal.get("rollbacks") else "<p>none needed</p>"
    return (f"{facts}\n<h2>Measures</h2>\n{measures}\n<h2>Phases against their budgets</h2>\n{phases}\n"
            f"<h2>Steps</h2>\n{steps}\n<h2>Rollbacks</h2>\n{rollbacks}")


def render_html(journal: dict[str, Any]) -> str:
    m = journal.get("measurements") or {}
    verdict = (m.get("verdict") or "fail").upper()
    timeline_rows = "".join(
        f"<tr><td>{e.get('t', 0):.1f}</td><td>{html.escape(e.get('event', ''))}</td></tr>"
        for e in journal.get("timeline", [])
    )
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in m.get("reasons") or [])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Drill {verdict}: {html.escape(journal['experiment'].get('title', 'drill'))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
.verdict {{ font-size: 1.6rem; font-weight: bold; color: {'#2a9d8f' if verdict == 'PASS' else '#c1121f'}; }}
.budget {{ fill: #e9ecef; stroke: #adb5bd; }} .rto {{ stroke: #c1121f; stroke-width: 2; stroke-dasharray: 6 4; }}
.label {{ font-size: 12px; fill: #333; }} .tick {{ font-size: 11px; fill: #555; text-anchor: middle; }}
.axis {{ stroke: #555; }} .measured {{ stroke: #222; stroke-width: 2; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: left; }}
th {{ background: #f1f3f5; }} table {{ margin: 0.5rem 0 1.5rem; }}
</style></head>
<body>
<h1>{html.escape(journal['experiment'].get('title', 'drill'))}</h1>
<p class="verdict" id="verdict">{verdict}</p>
<p>RTO <b id="rto">{_fmt(m.get('rto_seconds'))}</b> (target {m.get('targets', {}).get('rto_seconds')} s) ·
RPO <b id="rpo">{_fmt(m.get('rpo_seconds'))}</b> (target {m.get('targets', {}).get('rpo_seconds')} s) ·
times in {html.escape(m.get('time_unit', 'seconds'))}</p>
{f'<ul id="reasons">{reasons}</ul>' if reasons else ''}
<h2>Timeline: phases against the RTO budget</h2>
{render_timeline_svg(journal)}
<h2>Report</h2>
{render_html_tables(journal)}
<h2>Events</h2>
<table id="events"><thead><tr><th>t (s since the drill started)</th><th>event</th></tr></thead>
<tbody>{timeline_rows}</tbody></table>
</body></html>
"""


def render_junit(journal: dict[str, Any]) -> str:
    m = journal.get("measurements") or {}
    suite = ET.Element("testsuite", name=f"drill: {journal['experiment'].get('title', 'drill')}")
    cases = 0
    failures = 0
    for step in journal.get("run", []):
        cases += 1
        case = ET.SubElement(suite, "testcase", classname="drill.step", name=step["activity"]["name"],
                             time=f"{step.get('duration', 0):.3f}")
        if step["status"] != "succeeded":
            failures += 1
            ET.SubElement(case, "failure", message=str(step.get("exception") or step["status"]))
    for name, value, target in (
        ("rto", m.get("rto_seconds"), (m.get("targets") or {}).get("rto_seconds")),
        ("rpo", m.get("rpo_seconds"), (m.get("targets") or {}).get("rpo_seconds")),
    ):
        cases += 1
        case = ET.SubElement(suite, "testcase", classname="drill.target", name=f"{name} within target")
        if value is None or target is None or value > target:
            failures += 1
            ET.SubElement(case, "failure", message=f"{name.upper()} {_fmt(value)} against target {target} s")
    for rollback in journal.get("rollbacks", []):
        cases += 1
        case = ET.SubElement(suite, "testcase", classname="drill.rollback", name=rollback["activity"]["name"])
        if rollback["status"] != "succeeded":
            failures += 1
            ET.SubElement(case, "failure", message=str(rollback.get("exception") or rollback["status"]))
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def write_journal(report_dir: Path, journal: dict[str, Any]) -> Path:
    path = report_dir / "journal.json"
    write_atomic(path, json.dumps(journal, indent=2, sort_keys=False, default=str))
    return path


def write_reports(report_dir: Path, journal: dict[str, Any]) -> dict[str, Path]:
    paths = {
        "journal": write_journal(report_dir, journal),
        "markdown": report_dir / "report.md",
        "html": report_dir / "report.html",
        "junit": report_dir / "junit.xml",
    }
    write_atomic(paths["markdown"], render_markdown(journal))
    write_atomic(paths["html"], render_html(journal))
    write_atomic(paths["junit"], render_junit(journal))
    return paths
