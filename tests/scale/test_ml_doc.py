"""docs/ml-checkpoints.md holds the training loop issue 12 asks for. tests/test_readme.py runs
every ```python block of docs/*.md as written (```py blocks need torch or a cluster and are
not run), so this file only checks that the page keeps its examples."""
from __future__ import annotations

from pathlib import Path

from tests.test_readme import parse_blocks

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "ml-checkpoints.md"
BLOCKS = [b for b in parse_blocks(PAGE.read_text()) if b.lang == "python"]


def test_the_page_has_its_examples() -> None:
    assert len(BLOCKS) >= 5
    assert any("save_items_async" in b.body and "store.wait()" in b.body for b in BLOCKS)
