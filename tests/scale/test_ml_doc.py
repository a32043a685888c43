"""docs/ml-checkpoints.md: every ```python block runs as written (a complete program in a
fresh, empty directory, the README's convention; ```py blocks need torch or a cluster and
are not run)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_readme import parse_blocks

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "ml-checkpoints.md"
BLOCKS = [b for b in parse_blocks(PAGE.read_text()) if b.lang == "python"]


def test_the_page_has_its_examples() -> None:
    assert len(BLOCKS) >= 5
    assert any("save_items_async" in b.body and "store.wait()" in b.body for b in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"line{b.line}" for b in BLOCKS])
def test_python_block_runs(block, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = subprocess.run([sys.executable, "-c", block.body], cwd=tmp_path, text=True,
                            capture_output=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, (f"docs/ml-checkpoints.md python block at line {block.line} "
                                    f"failed:\n{result.stdout}\n{result.stderr}")
