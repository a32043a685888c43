"""The examples in README.md and in every docs/*.md run as written.

Conventions (stated for readers in docs/testing.md, "How the examples are tested"):

- The files: README.md and every ``docs/*.md`` (a glob: a new page is picked up as it lands).
- Every ```` ```python ```` block is a complete program: it runs in a fresh, empty
  directory with this interpreter (the repository on ``PYTHONPATH``) and must exit 0.
- Every ```` ```console ```` block is a shell session: the ``$ `` lines of ONE FILE run in
  file order in ONE bash process and ONE directory shared by that file's console blocks
  (each file gets its own), with ``DR_PLATFORM`` unset. A command must exit 0 unless its
  line ends with ``# exit N``. The lines shown after a command (up to the next ``$ `` line)
  must appear, in order, in what it printed (stdout, then stderr), after normalizing
  version ids, timestamps, ``lag_seconds`` and runs of spaces. A successful ``recovery``
  command uses a ``file://`` store or ``--dry-run`` (the platform needs AWS).
- A block whose info string carries the tag ``aws`` (```` ```python aws ````,
  ```` ```console aws ````) needs a deployed stack (on AWS, or the offline sandbox running)
  and is not run here. It must say so in its first line (``# Needs AWS`` or ``# Needs the
  sandbox``), and a file holds at most ``MAX_AWS_BLOCKS_PER_FILE`` of them. What the
  sandbox blocks show is exercised by tests/sandbox/ and tests/sandbox_drills/.
- Blocks in any other language (``bash``, ``text``, ``yaml``, plain) are not run, so they
  must not hold ``recovery`` commands: CLI examples belong in console blocks.

Across all files: every public name of ``recovery_lib`` has a row in a table, every CLI
command has a row in a table and is shown in a console example, the ``S3Options`` table
shows the real defaults, the configuration table shows Pulumi.yaml's keys, types and
defaults, every stack output has a row, relative links and backticked repository paths
point at files that exist, and README.md stays at most ``README_MAX_LINES`` lines.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterable

import pytest
import yaml

import recovery_lib
from recovery_lib.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 250
AWS_TAG = "aws"
AWS_FIRST_LINES = ("# Needs AWS", "# Needs the sandbox")
MAX_AWS_BLOCKS_PER_FILE = 3
#: Pages the README links to that arrive with other branches of this round (issue 14): a
#: link to one of them may dangle until it lands; once the page exists it is checked as
#: every other link is. Empty this set when they have all landed.
PAGES_LANDING_SEPARATELY: set[str] = set()
TIMEOUT = 60

_FENCE_OPEN = re.compile(r"^(`{3,})([^`]*)$")
_EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")
_RECOVERY = re.compile(r"(\w+=\S+\s+)*recovery\s")
_NORMALIZE = [
    (re.compile(r"\b(?:c\d{12}-)?\d{19}-[0-9a-f]{8}(?:-rollback)?(?:-deleted)?\b"), "<version>"),
    (re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?\+00:00\b"), "<time>"),
    (re.compile(r'("lag_seconds": )[0-9.e+-]+'), r"\1<seconds>"),
]
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@dataclasses.dataclass(frozen=True)
class Block:
    lang: str
    tags: tuple[str, ...]
    body: str
    line: int  # 1-based line of the opening fence
    source: str = "README.md"  # the file, relative to the repository

    @property
    def aws(self) -> bool:
        return AWS_TAG in self.tags

    @property
    def id(self) -> str:
        return f"{self.source}:{self.lang}-L{self.line}"


@dataclasses.dataclass(frozen=True)
class Command:
    text: str
    expected_exit: int
    expected_output: tuple[str, ...]
    line: int
    source: str = "README.md"

    @property
    def where(self) -> str:
        return f"{self.source} line {self.line}"


def parse_blocks(text: str, source: str = "README.md") -> list[Block]:
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
        blocks.append(Block(lang, tuple(info[1:]), "\n".join(body) + "\n", start + 1, source))
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
                f"{block.source} line {block.line + offset}: console output before any '$ ' command")
    commands = []
    for text, line, output in found:
        match = _EXIT.search(text)
        commands.append(Command(text, int(match.group(1)) if match else 0, tuple(output), line,
                                block.source))
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


def run_python_block(block: Block) -> subprocess.CompletedProcess[str]:
    """Run one python block as a program in a fresh, empty directory."""
    with tempfile.TemporaryDirectory(prefix="docs-") as tmp:
        script = Path(tmp) / "example.py"
        script.write_text(block.body, encoding="utf-8")
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        return subprocess.run([sys.executable, str(script)], cwd=workdir, env=clean_env(Path(tmp)),
                              capture_output=True, text=True, timeout=TIMEOUT)


def run_console_session(commands: list[Command]) -> list[str]:
    """Run one file's commands in one bash process and one fresh directory; the failures."""
    with tempfile.TemporaryDirectory(prefix="docs-cli-") as tmp:
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
        if result.returncode != 0:
            return [f"the console session itself failed: {result.stderr}"]
        failures = []
        for i, command in enumerate(commands):
            code = int((out / f"{i}.rc").read_text())
            stdout = (out / f"{i}.out").read_text(errors="replace")
            stderr = (out / f"{i}.err").read_text(errors="replace")
            if code != command.expected_exit:
                failures.append(f"{command.where}: `{command.text}` exited {code}, the page "
                                f"implies {command.expected_exit}\n{stderr}")
                continue
            expected = [normalize(line) for line in command.expected_output if line.strip()]
            actual = [normalize(line) for line in (stdout + stderr).splitlines()]
            if not is_subsequence(expected, actual):
                failures.append(f"{command.where}: `{command.text}` printed\n{stdout}{stderr}"
                                "which does not show, in order:\n" + "\n".join(command.expected_output))
        return failures


def doc_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


FILES = {_rel(path): path.read_text(encoding="utf-8") for path in doc_files()}
BLOCKS = {name: parse_blocks(text, name) for name, text in FILES.items()}
ALL_BLOCKS = [b for blocks in BLOCKS.values() for b in blocks]
PYTHON_BLOCKS = [b for b in ALL_BLOCKS if b.lang == "python" and not b.aws]
CONSOLE_FILES = [name for name, blocks in BLOCKS.items()
                 if any(b.lang == "console" and not b.aws for b in blocks)]


def _commands(name: str) -> list[Command]:
    return [c for b in BLOCKS[name] if b.lang == "console" and not b.aws for c in parse_commands(b)]


def _table_rows(texts: Iterable[str]) -> list[str]:
    return [line for text in texts for line in text.splitlines() if line.startswith("|")]


@pytest.mark.parametrize("name", list(FILES))
def test_blocks_follow_the_conventions(name: str) -> None:
    blocks = BLOCKS[name]
    aws_blocks = [b for b in blocks if b.aws]
    assert len(aws_blocks) <= MAX_AWS_BLOCKS_PER_FILE, (
        f"{name}: {len(aws_blocks)} blocks are tagged '{AWS_TAG}' (not run); at most "
        f"{MAX_AWS_BLOCKS_PER_FILE} per file may be: {[b.id for b in aws_blocks]}")
    for block in aws_blocks:
        assert block.lang in ("python", "console"), f"{block.id}: only python/console blocks take '{AWS_TAG}'"
        assert block.body.startswith(AWS_FIRST_LINES), (
            f"{block.id} is not run, so its first line must say one of {AWS_FIRST_LINES!r}")
    for block in blocks:
        if block.lang in ("python", "console"):
            assert set(block.tags) <= {AWS_TAG}, f"{block.id}: unknown tags {block.tags}"
            continue
        for line in block.body.splitlines():
            stripped = line.removeprefix("$ ").lstrip()
            assert not re.match(r"recovery\s", stripped), (
                f"{block.id}: '{line}' is a CLI example in a {block.lang or 'plain'} block, "
                "which is never run; put it in a ```console block")
    for command in _commands(name):
        assert not command.text.rstrip().endswith("\\"), (
            f"{command.where}: continuation lines are not supported")
        if _RECOVERY.match(command.text):
            offline = "--store file://" in command.text or "--dry-run" in command.text
            assert offline or command.expected_exit != 0, (
                f"{command.where}: a successful CLI example must use a file:// store or "
                f"--dry-run (the platform needs AWS; tag such a block '{AWS_TAG}'): {command.text}")


def test_there_are_examples_to_run() -> None:
    """Guards the glob and the parser: losing every example must not pass quietly."""
    assert len(PYTHON_BLOCKS) >= 10, f"only {len(PYTHON_BLOCKS)} runnable python blocks found"
    recovery_commands = [c for name in CONSOLE_FILES for c in _commands(name) if _RECOVERY.match(c.text)]
    assert len(recovery_commands) >= 15, f"only {len(recovery_commands)} recovery commands found"
    assert README.read_text(encoding="utf-8").count("\n") <= README_MAX_LINES, (
        f"README.md is over {README_MAX_LINES} lines: reference belongs in docs/")


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.id for b in PYTHON_BLOCKS])
def test_python_block_runs(block: Block) -> None:
    result = run_python_block(block)
    assert result.returncode == 0, (
        f"{block.source}: python block at line {block.line} failed (exit {result.returncode}):\n"
        f"{result.stderr[-3000:]}")


@pytest.mark.parametrize("name", CONSOLE_FILES)
def test_console_examples_run_in_order(name: str) -> None:
    assert (Path(sys.executable).parent / "recovery").exists(), (
        f"no 'recovery' script beside {sys.executable}")
    failures = run_console_session(_commands(name))
    assert failures == [], "\n\n".join(failures)


def test_the_runners_catch_a_broken_example() -> None:
    """A wrong exit code, a wrong output line and a failing program are each reported."""
    page = "\n".join([
        "```console",
        "$ printf 'one\\ntwo\\n'",
        "one",
        "two",
        "$ printf 'one\\n'",
        "three",
        "$ false",
        "$ true             # exit 1",
        "```",
        "```python",
        "raise SystemExit(3)",
        "```",
    ])
    console, python = parse_blocks(page, "broken.md")
    failures = run_console_session(parse_commands(console))
    assert [f.split(":")[0] for f in failures] == ["broken.md line 5", "broken.md line 7",
                                                    "broken.md line 8"], failures
    assert run_python_block(python).returncode == 3


def test_every_public_name_is_in_an_api_table() -> None:
    first_cells = [row.split("|")[1] for row in _table_rows(FILES.values())]
    missing = [name for name in recovery_lib.__all__
               if not any(f"`{name}`" in cell for cell in first_cells)]
    assert missing == [], f"public names without a table row in README.md or docs/: {missing}"


def test_every_cli_command_is_documented() -> None:
    rows = _table_rows(FILES.values())
    names = [command.name for command in COMMANDS]
    no_row = [name for name in names
              if not any(re.match(rf"\|\s*`{re.escape(name)}[ `]", row) for row in rows)]
    assert no_row == [], f"CLI commands without a row in a command table: {no_row}"
    example_lines = [line for b in ALL_BLOCKS if b.lang == "console" for line in b.body.splitlines()
                     if line.startswith("$ ")]
    no_example = [name for name in names
                  if not any(re.search(rf"\brecovery\b.*\s{re.escape(name)}(\s|$)", line)
                             for line in example_lines)]
    assert no_example == [], f"CLI commands without a console example: {no_example}"


def test_the_s3_options_table_shows_the_real_defaults() -> None:
    """The S3Options table (field, default, meaning) states each field's default."""
    defaults = {f.name: f.default for f in dataclasses.fields(recovery_lib.S3Options)}
    shown = {}
    for row in _table_rows(FILES.values()):
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        name = cells[0].strip("`")
        if len(cells) >= 3 and name in defaults and cells[0].startswith("`"):
            shown[name] = cells[1].strip("`")
    assert set(shown) == set(defaults), f"S3Options fields without a table row: {set(defaults) - set(shown)}"
    mib = 1024 * 1024
    wrong = {name: (text, defaults[name]) for name, text in shown.items()
             if text.strip("'\"") not in (str(defaults[name]),
                                           f"{defaults[name] // mib} MiB" if isinstance(defaults[name], int) else "")}
    assert wrong == {}, f"S3Options table rows whose default drifted (shown, real): {wrong}"


def test_relative_links_point_at_files() -> None:
    dangling = []
    for name, text in FILES.items():
        base = (ROOT / name).parent
        for target in _LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (base / target.split("#")[0]).resolve()
            rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
            if not path.exists() and rel not in PAGES_LANDING_SEPARATELY:
                dangling.append(f"{name}: {target}")
    assert dangling == [], f"links to files that do not exist: {dangling}"


def _first_cells() -> list[tuple[str, list[str]]]:
    """Each table row as (its first cell, all its cells), stripped."""
    rows = []
    for row in _table_rows(FILES.values()):
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        rows.append((cells[0], cells))
    return rows


def test_the_configuration_table_shows_pulumi_yaml_defaults() -> None:
    """Every key Pulumi.yaml declares has a row whose default is the declared one."""
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]
    rows = {cell.strip("`"): cells for cell, cells in _first_cells()
            if cell.startswith("`") and len(cells) == 4}
    missing = sorted(set(declared) - set(rows))
    assert missing == [], f"Pulumi.yaml keys without a row in the configuration table: {missing}"
    wrong = {}
    for key, spec in declared.items():
        _, type_, default, _ = rows[key]
        want = spec.get("default")
        shown = default.split("(")[0].strip().strip("`")
        if type_ != spec["type"] or (want is not None and shown != _as_text(want)):
            wrong[key] = ((type_, default), (spec["type"], want))
    assert wrong == {}, f"configuration rows that drifted from Pulumi.yaml (shown, declared): {wrong}"


def _as_text(value: object) -> str:
    """How the table spells a default: JSON for booleans, numbers and the empty string."""
    return json.dumps(value) if not isinstance(value, str) or value == "" else value


def test_every_stack_output_has_a_row() -> None:
    """The outputs infra/__main__.py exports (f-strings over the two roles expanded)."""
    source = (ROOT / "infra" / "__main__.py").read_text(encoding="utf-8")
    exported = set()
    for name in re.findall(r"pulumi\.export\(f?\"([^\"]+)\"", source):
        exported |= {name.replace("{role}", role) for role in ("primary", "secondary")}
    assert len(exported) >= 20, f"only {len(exported)} exports found: the pattern is stale"
    shown = {name for cell, _ in _first_cells() for name in re.findall(r"`(\w+)`", cell)}
    assert sorted(exported - shown) == [], "stack outputs without a row in the outputs table"


def test_repository_paths_in_backticks_exist() -> None:
    """`recovery_lib/...`, `infra/...`, `tests/...` and the like name files that exist (modules
    move when they are split; the pages must follow)."""
    pattern = re.compile(r"`((?:recovery_lib|infra|tests|benchmarks|examples|docs)/[\w./-]*)")
    missing = [f"{name}: {path}" for name, text in FILES.items()
               for path in pattern.findall(text)
               if not (ROOT / path).exists() and path not in PAGES_LANDING_SEPARATELY]
    assert missing == [], f"paths that do not exist: {missing}"
