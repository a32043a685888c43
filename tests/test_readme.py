"""The README's examples run as written.

Conventions (also stated at the end of the README's CLI section):

- Every ```` ```python ```` block is a complete program: it runs in a fresh, empty
  directory with this interpreter and must exit 0.
- Every ```` ```console ```` block is a shell session: its ``$ `` lines run in README order
  in ONE bash process and ONE directory shared by all console blocks, with ``DR_PLATFORM``
  unset. A command must exit 0 unless its line ends with ``# exit N``. The lines shown
  after a command (up to the next ``$ `` line) must appear, in order, in what it printed
  (stdout, then stderr), after normalizing version ids, timestamps, ``lag_seconds`` and
  runs of spaces.
- A block whose info string carries the tag ``aws`` (```` ```python aws ````,
  ```` ```console aws ````) needs a deployed stack (on AWS, or the offline sandbox running)
  and is not run here. It must say so in its first line (``# Needs AWS`` or ``# Needs the
  sandbox``), and there are at most ``MAX_AWS_BLOCKS`` of them. What the sandbox blocks
  show is exercised by tests/sandbox/.
- Blocks in any other language (the infra ``bash`` blocks) are not run, so they must not
  hold ``recovery`` commands: CLI examples belong in console blocks.
"""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import recovery_lib
from recovery_lib.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
AWS_TAG = "aws"
AWS_FIRST_LINES = ("# Needs AWS", "# Needs the sandbox")
MAX_AWS_BLOCKS = 5
#: Commands documented in their own README section, not (yet) by a console example here.
DOCUMENTED_ELSEWHERE = {"drill"}
TIMEOUT = 60

_FENCE_OPEN = re.compile(r"^(`{3,})([^`]*)$")
_EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")
_NORMALIZE = [
    (re.compile(r"\b(?:c\d{12}-)?\d{19}-[0-9a-f]{8}(?:-rollback)?(?:-deleted)?\b"), "<version>"),
    (re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?\+00:00\b"), "<time>"),
    (re.compile(r'("lag_seconds": )[0-9.e+-]+'), r"\1<seconds>"),
]


@dataclasses.dataclass(frozen=True)
class Block:
    lang: str
    tags: tuple[str, ...]
    body: str
    line: int  # 1-based line of the opening fence

    @property
    def aws(self) -> bool:
        return AWS_TAG in self.tags

    @property
    def id(self) -> str:
        return f"{self.lang}-L{self.line}"


@dataclasses.dataclass(frozen=True)
class Command:
    text: str
    expected_exit: int
    expected_output: tuple[str, ...]
    line: int


def parse_blocks(text: str) -> list[Block]:
    """Fenced code blocks (CommonMark backtick fences: an info string holds no backtick)."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE_OPEN.match(lines[i])
        if not match:
            i += 1
            continue
        fence, info = match.group(1), match.group(2).split()
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not (lines[i].startswith(fence) and lines[i].strip("`") == ""):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        lang = info[0] if info else ""
        blocks.append(Block(lang, tuple(info[1:]), "\n".join(body) + "\n", start + 1))
    return blocks


def parse_commands(block: Block) -> list[Command]:
    """The ``$ `` lines of a console block, each with the output lines shown after it."""
    found: list[tuple[str, int, list[str]]] = []
    for offset, line in enumerate(block.body.splitlines(), start=1):
        if line.startswith("$ "):
            found.append((line[2:], block.line + offset, []))
        elif found:
            found[-1][2].append(line)
        else:
            assert line.startswith(AWS_FIRST_LINES) or not line.strip(), (
                f"README line {block.line + offset}: console output before any '$ ' command")
    commands = []
    for text, line, output in found:
        match = _EXIT.search(text)
        commands.append(Command(text, int(match.group(1)) if match else 0, tuple(output), line))
    return commands


def normalize(line: str) -> str:
    for pattern, replacement in _NORMALIZE:
        line = pattern.sub(replacement, line)
    return " ".join(line.split())


def is_subsequence(expected: list[str], actual: list[str]) -> bool:
    remaining = iter(actual)
    return all(any(line == got for got in remaining) for line in expected)


def clean_env(tmp: Path) -> dict[str, str]:
    """No platform, no real AWS: fake credentials, no config files."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k not in ("DR_PLATFORM", "PYTHONSTARTUP")}
    env.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
        "HOME": str(tmp),
    })
    return env


BLOCKS = parse_blocks(README.read_text(encoding="utf-8"))
PYTHON_BLOCKS = [b for b in BLOCKS if b.lang == "python" and not b.aws]
CONSOLE_BLOCKS = [b for b in BLOCKS if b.lang == "console" and not b.aws]
AWS_BLOCKS = [b for b in BLOCKS if b.aws]


def test_readme_blocks_follow_the_conventions() -> None:
    assert len(PYTHON_BLOCKS) >= 10, f"only {len(PYTHON_BLOCKS)} runnable python blocks found"
    assert len(CONSOLE_BLOCKS) >= 2, f"only {len(CONSOLE_BLOCKS)} runnable console blocks found"
    assert len(AWS_BLOCKS) <= MAX_AWS_BLOCKS, (
        f"{len(AWS_BLOCKS)} blocks are tagged '{AWS_TAG}' (not run); at most {MAX_AWS_BLOCKS} "
        f"may be: {[b.id for b in AWS_BLOCKS]}")
    for block in AWS_BLOCKS:
        assert block.lang in ("python", "console"), f"{block.id}: only python/console blocks take '{AWS_TAG}'"
        assert block.body.startswith(AWS_FIRST_LINES), (
            f"{block.id} is not run, so its first line must say one of {AWS_FIRST_LINES!r}")
    for block in BLOCKS:
        if block.lang in ("python", "console"):
            assert set(block.tags) <= {AWS_TAG}, f"{block.id}: unknown tags {block.tags}"
            continue
        for line in block.body.splitlines():
            stripped = line.removeprefix("$ ").lstrip()
            assert not re.match(r"recovery\s", stripped), (
                f"{block.id}: '{line}' is a CLI example in a {block.lang or 'plain'} block, "
                "which is never run; put it in a ```console block")


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.id for b in PYTHON_BLOCKS])
def test_python_block_runs(block: Block) -> None:
    with tempfile.TemporaryDirectory(prefix="readme-") as tmp:
        script = Path(tmp) / "example.py"
        script.write_text(block.body, encoding="utf-8")
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        result = subprocess.run([sys.executable, str(script)], cwd=workdir, env=clean_env(Path(tmp)),
                                capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, (
        f"README python block at line {block.line} failed (exit {result.returncode}):\n"
        f"{result.stderr[-3000:]}")


def test_console_examples_run_in_order() -> None:
    commands = [c for b in CONSOLE_BLOCKS for c in parse_commands(b)]
    recovery_commands = [c for c in commands if re.match(r"(\w+=\S+\s+)*recovery\s", c.text)]
    assert len(recovery_commands) >= 15, f"only {len(recovery_commands)} recovery commands found"
    for command in recovery_commands:
        assert "--store file://" in command.text or command.expected_exit != 0, (
            f"README line {command.line}: a successful CLI example must use a file:// store "
            f"(the platform needs AWS; tag such a block '{AWS_TAG}'): {command.text}")
    for command in commands:
        assert not command.text.rstrip().endswith("\\"), (
            f"README line {command.line}: continuation lines are not supported")
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "recovery").exists(), f"no 'recovery' script beside {sys.executable}"

    with tempfile.TemporaryDirectory(prefix="readme-cli-") as tmp:
        out, work = Path(tmp) / "out", Path(tmp) / "work"
        out.mkdir()
        work.mkdir()
        script = ["__rc=0"]
        for i, command in enumerate(commands):
            script += [
                "( exit $__rc )",  # so that `echo $?` in an example sees the previous command
                "{ " + command.text,
                f'}} >"{out}/{i}.out" 2>"{out}/{i}.err"',
                f'__rc=$?; echo $__rc >"{out}/{i}.rc"',
            ]
        result = subprocess.run(["bash", "--noprofile", "--norc", "-c", "\n".join(script)], cwd=work,
                                env=clean_env(Path(tmp)), capture_output=True, text=True,
                                timeout=TIMEOUT)
        assert result.returncode == 0, f"the console session itself failed: {result.stderr}"
        failures = []
        for i, command in enumerate(commands):
            code = int((out / f"{i}.rc").read_text())
            stdout = (out / f"{i}.out").read_text(errors="replace")
            stderr = (out / f"{i}.err").read_text(errors="replace")
            if code != command.expected_exit:
                failures.append(f"line {command.line}: `{command.text}` exited {code}, README "
                                f"implies {command.expected_exit}\n{stderr}")
                continue
            expected = [normalize(line) for line in command.expected_output if line.strip()]
            actual = [normalize(line) for line in (stdout + stderr).splitlines()]
            if not is_subsequence(expected, actual):
                failures.append(f"line {command.line}: `{command.text}` printed\n{stdout}{stderr}"
                                "which does not show, in order:\n" + "\n".join(command.expected_output))
    assert failures == [], "\n\n".join(failures)


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def _readme_and_docs() -> str:
    """The README and the docs pages: a subject's reference may live in its own page."""
    pages = [README, *sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(page.read_text(encoding="utf-8") for page in pages)


def test_every_public_name_is_in_the_api_table() -> None:
    rows = _table_rows(_readme_and_docs())
    first_cells = [row.split("|")[1] for row in rows]
    missing = [name for name in recovery_lib.__all__
               if not any(f"`{name}`" in cell for cell in first_cells)]
    assert missing == [], f"public names without a README table row: {missing}"


def test_every_cli_command_is_documented() -> None:
    text = _readme_and_docs()
    rows = _table_rows(text)
    names = [command.name for command in COMMANDS]
    no_row = [name for name in names
              if not any(re.match(rf"\|\s*`{re.escape(name)}[ `]", row) for row in rows)]
    assert no_row == [], f"CLI commands without a row in the README's command table: {no_row}"
    example_lines = [line for b in parse_blocks(text) if b.lang == "console"
                     for line in b.body.splitlines() if line.startswith("$ ")]
    no_example = [name for name in names if name not in DOCUMENTED_ELSEWHERE
                  and not any(re.search(rf"\brecovery\b.*\s{re.escape(name)}(\s|$)", line)
                              for line in example_lines)]
    assert no_example == [], f"CLI commands without a console example: {no_example}"
