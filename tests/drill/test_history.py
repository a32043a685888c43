"""``recovery drill history DIR``: every drill under DIR on one page, and the single-drill
report's tables as HTML. Drills come from the simulated platform (a pass, an RPO failure,
an RTO failure); the pages are rendered in headless Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from recovery_lib import cli
from recovery_lib.drill.history import collect
from recovery_lib.drill.plan import parse_plan
from recovery_lib.drill.runner import Drill
from tests.support import chromium

from .fake_world import FakeAdapter, World

TIMEOUTS = {"detection_seconds": 200, "dns_seconds": 200, "compute_seconds": 600,
            "data_seconds": 100, "drain_seconds": 600}


def drill_into(report_dir: Path, world: World, plan: dict | None = None) -> dict:
    drill = Drill(world.descriptor, parse_plan({"timeouts": TIMEOUTS, **(plan or {})}), FakeAdapter(world),
                  store_factory=world.store, report_dir=report_dir, poll_seconds=1.0)
    return drill.run()


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reports")
    drill_into(root / "drill-20260101T000000Z", World())
    drill_into(root / "drill-20260102T000000Z", World(replication_lag=120), {"targets": {"rpo_seconds": 60}})
    drill_into(root / "nested" / "drill-20260103T000000Z", World(scale_delay=400))
    (root / "broken").mkdir()
    (root / "broken" / "journal.json").write_text("{not json")
    return root


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_collect_orders_the_drills_and_skips_what_is_not_a_drill(reports):
    drills, skipped = collect(reports)
    assert [d.verdict for d in drills] == ["pass", "fail", "fail"]
    assert [d.path for d in drills] == ["drill-20260101T000000Z", "drill-20260102T000000Z",
                                        "nested/drill-20260103T000000Z"]
    assert drills[1].rpo > drills[1].rpo_target == 60
    assert drills[2].rto > drills[2].rto_target == 300
    assert all(d.link.endswith("/report.html") for d in drills)
    assert [s.path for s in skipped] == ["broken"]


def test_history_writes_markdown_and_html_with_every_drill(reports, capsys):
    code, out, err = run(capsys, "drill", "history", str(reports))
    assert code == 0, err
    assert "3 drills (1 passed, 2 failed); 1 skipped" in out
    md = (reports / "history.md").read_text()
    assert md.count("| **PASS** |") == 1 and md.count("| **FAIL** |") == 2
    assert "[nested/drill-20260103T000000Z](nested/drill-20260103T000000Z/report.html)" in md
    assert "RPO " in md and "exceeds the target of 60 s" in md
    assert "broken: unreadable" in md
    code, out, _ = run(capsys, "drill", "history", str(reports), "--json")
    assert code == 0
    assert [d["verdict"] for d in json.loads(out)["drills"]] == ["pass", "fail", "fail"]


@pytest.mark.parametrize("bad", ["missing", "a-file", "empty"])
def test_a_bad_directory_exits_2_and_writes_nothing(tmp_path, capsys, bad):
    target = tmp_path / bad
    if bad == "a-file":
        target.write_text("x")
    elif bad == "empty":
        target.mkdir()
    code, out, err = run(capsys, "drill", "history", str(target))
    assert code == 2
    assert err.startswith("ConfigError: drill history:") and str(target) in err
    assert not list(tmp_path.rglob("history.*"))


@pytest.mark.slow
def test_the_history_page_renders_in_chromium_with_every_drill(reports, tmp_path, capsys):
    assert run(capsys, "drill", "history", str(reports))[0] == 0
    page = reports / "history.html"
    dom = chromium.dump_dom(page, tmp_path / "profile")
    rows = re.findall(r'<tr class="drill" data-verdict="(\w+)">', dom)
    assert rows == ["pass", "fail", "fail"]
    for measure in ("rto", "rpo"):
        svg = re.search(rf'<svg[^>]*id="chart-{measure}".*?</svg>', dom, re.S).group(0)
        over = re.findall(r'<circle[^>]*data-drill="(\d)"[^>]*data-over-target="(\w+)"', svg)
        expected = {"rto": "3", "rpo": "2"}[measure]  # the drill that missed this target
        assert [d for d, o in over if o == "true"] == [expected], over
        assert len(over) == 3 and len(re.findall(r'class="target"', svg)) == 3
    phases = re.findall(r'<rect[^>]*data-drill="(\d)" data-phase="(\w+)"', dom)
    # the data phase takes no emulated time on the fake platform, so it has no bar
    assert {d for d, _ in phases} == {"1", "2", "3"} and {p for _, p in phases} == {"detection", "dns", "compute"}
    links = re.findall(r'<a href="([^"]+)">', dom)
    assert len(links) == 3 and all((reports / link).is_file() for link in links)
    assert "<script" not in page.read_text()
    shot = chromium.screenshot(page, tmp_path / "history.png", tmp_path / "profile2", size="900,1400")
    assert shot.stat().st_size > 20_000


@pytest.mark.slow
def test_the_single_drill_page_renders_its_tables_as_html(reports, tmp_path):
    page = reports / "drill-20260102T000000Z" / "report.html"
    dom = chromium.dump_dom(page, tmp_path / "profile")
    assert "<pre>" not in dom
    for table in ("facts", "measures", "phases", "steps", "rollbacks", "events"):
        assert f'<table id="{table}">' in dom
    phases = re.search(r'<table id="phases">.*?</table>', dom, re.S).group(0)
    assert re.findall(r"<tr><td>(\w+)</td>", phases) == ["detection", "dns", "compute", "data"]
    measures = re.search(r'<table id="measures">.*?</table>', dom, re.S).group(0)
    assert "<td>RPO</td>" in measures and "<td>60 s</td>" in measures
    assert 'id="verdict">FAIL<' in dom
