"""docs/lifecycle.md holds what issue 11 asks for: a training loop with steps and a retention
policy, and `recovery gc`. tests/test_readme.py runs every python and console block of
docs/*.md as written (one shell and one directory per page), so this file only checks that
the page keeps those examples."""
from __future__ import annotations

from pathlib import Path

from tests.test_readme import parse_blocks

PAGE = Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md"
BLOCKS = [b for b in parse_blocks(PAGE.read_text()) if not b.aws]


def test_the_page_has_a_training_loop_example() -> None:
    assert any(b.lang == "python" and "prune" in b.body and "step=" in b.body for b in BLOCKS)


def test_the_page_shows_gc() -> None:
    assert any(b.lang == "console" and "recovery" in b.body and " gc" in b.body for b in BLOCKS)
