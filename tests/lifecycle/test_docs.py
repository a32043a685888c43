"""docs/lifecycle.md's examples run as written (the README's conventions, tests/test_readme.py:
a python block is a complete program run in a fresh, empty directory and must exit 0)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_readme import clean_env, parse_blocks

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "lifecycle.md"
PYTHON = [b for b in parse_blocks(PAGE.read_text()) if b.lang == "python" and not b.aws]


def test_the_page_has_a_training_loop_example():
    assert any("prune" in b.body and "step=" in b.body for b in PYTHON)


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.id)
def test_python_block_runs(block, tmp_path):
    done = subprocess.run([sys.executable, "-c", block.body], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env=clean_env(tmp_path))
    assert done.returncode == 0, done.stderr
