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


def test_console_blocks_run_in_one_shell(tmp_path):
    """Console blocks: ``$ `` lines run in order in one bash process and one directory; the
    lines shown after a command appear, in order, in what it printed (normalized)."""
    from tests.test_readme import is_subsequence, normalize, parse_commands

    commands = [c for b in parse_blocks(PAGE.read_text()) if b.lang == "console" and not b.aws
                for c in parse_commands(b)]
    assert any("recovery" in c.text and " gc " in c.text for c in commands)
    out = tmp_path / "out"
    out.mkdir()
    script = []
    for i, command in enumerate(commands):
        script += ["{ " + command.text, f'}} >"{out}/{i}.out" 2>"{out}/{i}.err"',
                   f'echo $? >"{out}/{i}.rc"']
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(["bash", "--noprofile", "--norc", "-c", "\n".join(script)], cwd=work,
                          env=clean_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for i, command in enumerate(commands):
        printed = (out / f"{i}.out").read_text() + (out / f"{i}.err").read_text()
        assert int((out / f"{i}.rc").read_text()) == command.expected_exit, (command.text, printed)
        expected = [normalize(line) for line in command.expected_output if line.strip()]
        assert is_subsequence(expected, [normalize(line) for line in printed.splitlines()]), (
            command.text, printed)
