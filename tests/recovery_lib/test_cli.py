"""The `recovery` command line: every command, its output, errors and exit codes."""
from __future__ import annotations

import io
import json
import os
import pathlib
import stat
import subprocess
import sys

import pytest

from recovery_lib import cli, cli_output
from recovery_lib.errors import CheckpointNotFound
from recovery_lib.store import CheckpointStore
from tests.recovery_lib.moto_helpers import descriptor

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = bytes(range(256)) * 3 + b"\xff\xfe\x00 not utf-8 \x80"


@pytest.fixture(autouse=True)
def no_platform_env(monkeypatch):
    monkeypatch.delenv(cli.ENV_PLATFORM, raising=False)


@pytest.fixture
def store_dir(tmp_path):
    return tmp_path / "store"


@pytest.fixture
def store(store_dir):
    return CheckpointStore.local(store_dir)


@pytest.fixture
def url(store_dir):
    return f"file://{store_dir}"


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


CHECKPOINT_KEYS = {"name", "version", "sha256", "size", "created_at", "metadata", "region"}


# -- ls / show / history -----------------------------------------------------------------


def test_ls_lists_current_versions_with_optional_prefix(capsys, store, url):
    store.save("runs/1/model", {"w": 1})
    latest = store.save("runs/1/model", {"w": 2})
    store.save("runs/2/model", b"weights")
    store.save("other/thing", [1])

    code, out, err = run(capsys, "--store", url, "ls", "runs/")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "CREATED", "REGION"]
    assert [line.split()[0] for line in lines[1:]] == ["runs/1/model", "runs/2/model"]
    assert latest.version in lines[1]

    listed = run_json(capsys, "ls", "--store", url)  # options also after the command
    assert {item["name"] for item in listed} == {"runs/1/model", "runs/2/model", "other/thing"}
    assert all(set(item) == CHECKPOINT_KEYS for item in listed)
    model = next(item for item in listed if item["name"] == "runs/1/model")
    assert model["version"] == latest.version and model["region"] == "local"
    assert model["created_at"] == latest.created_at.isoformat()
    # Without -l one listing answers: no per-name manifest fields.
    assert model["size"] is None and model["sha256"] is None


def test_ls_long_and_history_long_read_the_manifests(capsys, store, url):
    saved = store.save("runs/1/model", {"w": 2}, metadata={"epoch": 2})
    code, out, _ = run(capsys, "--store", url, "ls", "-l")
    assert code == 0
    assert out.splitlines()[0].split() == ["NAME", "VERSION", "CREATED", "REGION", "SIZE", "SHA256"]
    assert out.splitlines()[1].split()[-2:] == [str(saved.size), saved.sha256[:16]]
    (item,) = run_json(capsys, "--store", url, "ls", "--long")
    assert item["size"] == saved.size and item["sha256"] == saved.sha256
    assert item["metadata"] == {"epoch": 2}
    (version,) = run_json(capsys, "--store", url, "history", "runs/1/model", "-l")
    assert version["sha256"] == saved.sha256 and version["metadata"] == {"epoch": 2}


def test_ls_of_an_empty_store_prints_nothing(capsys, url):
    assert run(capsys, "--store", url, "ls") == (0, "", "")
    assert run_json(capsys, "--store", url, "ls") == []


def test_show_prints_one_checkpoint_and_a_given_version(capsys, store, url):
    first = store.save("cfg", {"lr": 0.1}, metadata={"epoch": 1})
    store.save("cfg", {"lr": 0.2}, metadata={"epoch": 2})

    code, out, err = run(capsys, "--store", url, "show", "cfg")
    assert code == 0 and err == ""
    fields = dict(line.split(None, 1) for line in out.splitlines())
    assert fields["name:"] == "cfg"
    assert json.loads(fields["metadata:"]) == {"epoch": 2}

    shown = run_json(capsys, "--store", url, "show", "cfg", "--version", first.version)
    assert shown["version"] == first.version and shown["metadata"] == {"epoch": 1}
    assert shown["created_at"] == first.created_at.isoformat()
    assert shown["created_at"].endswith("+00:00")


def test_history_lists_versions_newest_first(capsys, store, url):
    saved = [store.save("h", i) for i in range(3)]
    history = run_json(capsys, "--store", url, "history", "h")
    assert [item["version"] for item in history] == [cp.version for cp in reversed(saved)]

    code, out, _ = run(capsys, "--store", url, "history", "h")
    assert code == 0 and len(out.splitlines()) == 4


# -- get / put -----------------------------------------------------------------------------


def test_put_then_get_to_a_file_and_to_stdout_is_binary_safe(capsysbinary, tmp_path, store, url):
    source = tmp_path / "model.bin"
    source.write_bytes(BINARY)

    assert cli.main(["--store", url, "put", "models/m", str(source), "-m", "epoch=3"]) == 0
    out, err = capsysbinary.readouterr()
    assert err == b"" and b"models/m" in out
    assert store.info("models/m").metadata == {"epoch": "3"}

    dest = tmp_path / "out.bin"
    assert cli.main(["--store", url, "get", "models/m", "-o", str(dest)]) == 0
    capsysbinary.readouterr()
    assert dest.read_bytes() == BINARY

    assert cli.main(["--store", url, "get", "models/m"]) == 0
    out, err = capsysbinary.readouterr()
    assert out == BINARY and err == b""


def test_get_to_a_file_gives_the_mode_of_a_newly_created_file(capsys, tmp_path, store, url, umask):
    """Issue 10 point 6: `recovery get -o FILE` leaves FILE with 0666 & ~umask, like `cp`."""
    store.save("weights", BINARY)
    dest = tmp_path / "restored.bin"
    code, _, err = run(capsys, "--store", url, "get", "weights", "-o", str(dest))
    assert code == 0, err
    assert dest.read_bytes() == BINARY
    assert stat.S_IMODE(dest.stat().st_mode) == 0o666 & ~umask


def test_get_an_older_version_and_json_summary(capsys, tmp_path, store, url):
    old = store.save("blob", b"old bytes")
    store.save("blob", b"new bytes")
    dest = tmp_path / "old.bin"
    got = run_json(capsys, "--store", url, "get", "blob", "--version", old.version, "-o", str(dest))
    assert dest.read_bytes() == b"old bytes"
    assert got["version"] == old.version and set(got) == CHECKPOINT_KEYS


def test_get_of_a_json_checkpoint_writes_its_stored_bytes(capsysbinary, store, url):
    store.save("doc", {"a": [1, 2]})
    assert cli.main(["--store", url, "get", "doc"]) == 0
    out, _ = capsysbinary.readouterr()
    assert json.loads(out) == {"a": [1, 2]}


def test_put_json_output_and_missing_file(capsys, tmp_path, store, url):
    source = tmp_path / "f.txt"
    source.write_text("hello")
    saved = run_json(capsys, "--store", url, "put", "f", str(source))
    assert saved["name"] == "f" and saved["size"] == 5
    assert store.info("f").version == saved["version"]

    code, out, err = run(capsys, "--store", url, "put", "g", str(tmp_path / "missing"))
    assert code == 2 and out == ""
    assert err.startswith("UsageError: no such file: ") and err.count("\n") == 1
    assert not store.exists("g")

    code, _, err = run(capsys, "--store", url, "put", "g", str(source), "-m", "novalue")
    assert code == 2 and "KEY=VALUE" in err and not store.exists("g")

    code, out, err = run(capsys, "--store", url, "get", "f", "-o", str(tmp_path / "no" / "dir"))
    assert code == 2 and out == "" and err.startswith("UsageError: cannot write")


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("tty", [True, False])
def test_progress_bar_for_large_transfers_only_on_a_terminal(capsysbinary, monkeypatch, tmp_path,
                                                             store, url, tty):
    monkeypatch.setattr(cli_output, "PROGRESS_THRESHOLD", 64 * 1024)
    stderr = Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    big, small = tmp_path / "big.bin", tmp_path / "small.bin"
    big.write_bytes(os.urandom(512 * 1024))  # streamed: above the store's inline limit
    small.write_bytes(b"tiny")

    assert cli.main(["--store", url, "put", "big", str(big)]) == 0
    assert cli.main(["--store", url, "get", "big", "-o", str(tmp_path / "copy.bin")]) == 0
    bars = stderr.getvalue()
    assert (tmp_path / "copy.bin").read_bytes() == big.read_bytes()
    if tty:
        assert bars.count("big: ") >= 2 and "512k/512k" in bars.replace("K", "k")
    else:
        assert bars == ""

    stderr.seek(0)
    stderr.truncate()
    assert cli.main(["--store", url, "put", "small", str(small)]) == 0
    assert stderr.getvalue() == ""  # below the threshold: no bar


# -- rollback ------------------------------------------------------------------------------


def test_rollback_makes_an_old_version_current_as_a_new_version(capsys, store, url):
    first = store.save("state", {"step": 1})
    second = store.save("state", {"step": 2})

    rolled = run_json(capsys, "--store", url, "rollback", "state", first.version)

    assert rolled["version"] not in (first.version, second.version)
    assert store.load("state") == {"step": 1}
    assert [cp.version for cp in store.versions("state")][1:] == [second.version, first.version]

    code, out, err = run(capsys, "--store", url, "rollback", "state", second.version)
    assert code == 0 and "version" in out and store.load("state") == {"step": 2}


def test_rollback_to_an_unknown_version_exits_1(capsys, store, url):
    store.save("state", 1)
    missing = "0000000000000000001-00000000"
    code, out, err = run(capsys, "--store", url, "rollback", "state", missing)
    assert code == 1 and out == ""
    assert err.startswith("CheckpointNotFound: ") and err.count("\n") == 1


# -- clear ---------------------------------------------------------------------------------


def test_clear_refuses_without_yes_and_deletes_nothing(capsys, store, url):
    for name in ("tmp/a", "tmp/b", "keep/c"):
        store.save(name, name)
    before = [cp.name for cp in store.list()]

    code, out, err = run(capsys, "--store", url, "clear", "tmp/")

    assert code == 2 and out == ""
    assert err.startswith("UsageError: refusing to clear") and "--yes" in err
    assert [cp.name for cp in store.list()] == before

    cleared = run_json(capsys, "--store", url, "clear", "tmp/", "--yes")
    assert cleared == {"prefix": "tmp/", "cleared": 2}
    assert [cp.name for cp in store.list()] == ["keep/c"]
    assert [cp.version for cp in store.versions("tmp/a")], "history stays after a clear"


# -- verify --------------------------------------------------------------------------------


@pytest.fixture
def platform_file(s3_pair, tmp_path):
    """A descriptor file naming a moto bucket pair (see moto_helpers.S3Pair)."""
    path = tmp_path / "platform.json"
    path.write_text(json.dumps(s3_pair.descriptor))
    return path


def test_verify_lists_checkpoints_not_dr_safe_and_exits_1_until_replicated(
        capsys, s3_pair, platform_file):
    path = platform_file
    store = s3_pair.store
    store.save("jobs/a", {"epoch": 1})
    store.save("jobs/b", b"weights" * 1000)

    code, out, err = run(capsys, "--platform", str(path), "verify", "jobs/")
    assert code == 1, err
    assert "jobs/a" in out and "jobs/b" in out
    assert out.splitlines()[-1] == "2 checkpoints checked: 0 DR-safe, 2 not DR-safe"

    report = json.loads(run(capsys, "--platform", str(path), "verify", "--json")[1])
    assert report["checked"] == 2 and report["dr_safe"] == 0
    assert sorted(item["name"] for item in report["not_dr_safe"]) == ["jobs/a", "jobs/b"]
    assert all(item["dr_safe"] is False and item["reason"] for item in report["not_dr_safe"])

    s3_pair.replicate()
    code, out, err = run(capsys, "--platform", str(path), "verify", "jobs/", "--json")
    assert code == 0, err
    assert json.loads(out) == {"prefix": "jobs/", "checked": 2, "dr_safe": 2, "not_dr_safe": []}


# -- where the store comes from --------------------------------------------------------------


def test_no_store_given_exits_2_naming_the_three_ways(capsys):
    code, out, err = run(capsys, "ls")
    assert code == 2 and out == ""
    assert err.startswith("UsageError: no checkpoint store given")
    assert all(way in err for way in ("--platform", "--store", "DR_PLATFORM"))
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "content",
    ["{not json", json.dumps({"version": 1}), json.dumps([1, 2]),
     json.dumps({**descriptor("a-bucket", "b-bucket"),
                 "regions": {"primary": {"name": "us-east-1"}}})],
    ids=["not-json", "missing-fields", "not-an-object", "incomplete-region"],
)
def test_malformed_descriptor_exits_2_with_config_error(capsys, tmp_path, content):
    path = tmp_path / "platform.json"
    path.write_text(content)
    code, out, err = run(capsys, "--platform", str(path), "ls")
    assert code == 2 and out == ""
    assert err.startswith("ConfigError: ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_missing_descriptor_file_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "--platform", str(tmp_path / "nope.json"), "ls")
    assert code == 2 and err.startswith("ConfigError: ") and "nope.json" in err


def test_bad_store_url_exits_2(capsys):
    code, _, err = run(capsys, "--store", "ftp://somewhere", "ls")
    assert code == 2 and err.startswith("ConfigError: ")


def test_store_precedence_platform_then_store_then_environment(capsys, monkeypatch, tmp_path,
                                                               store, url):
    store.save("x", 1)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    monkeypatch.setenv(cli.ENV_PLATFORM, str(bad))
    # --store beats the environment variable ...
    assert [item["name"] for item in run_json(capsys, "--store", url, "ls")] == ["x"]
    # ... --platform beats --store ...
    code, _, err = run(capsys, "--platform", str(bad), "--store", url, "ls")
    assert code == 2 and err.startswith("ConfigError: ")
    # ... and the environment variable is used when nothing else is given.
    code, _, err = run(capsys, "ls")
    assert code == 2 and err.startswith("ConfigError: ") and "bad.json" in err


# -- bad input -----------------------------------------------------------------------------


def test_unknown_command_and_missing_arguments_exit_2(capsys, url):
    code, out, err = run(capsys, "--store", url, "frobnicate")
    assert code == 2 and out == "" and err.startswith("UsageError: ")
    assert "frobnicate" in err and err.count("\n") == 1

    code, _, err = run(capsys, "--store", url, "show")
    assert code == 2 and "NAME" in err

    code, _, err = run(capsys)
    assert code == 2 and err.startswith("UsageError: ")


@pytest.mark.parametrize("name", ["/abs", "a/../b", "back\\slash", "ctl\x01", "at@sign", "a//b"])
def test_invalid_names_exit_2(capsys, store, url, name):
    code, out, err = run(capsys, "--store", url, "show", name)
    assert code == 2 and out == ""
    assert err.startswith("InvalidName: ") and err.count("\n") == 1


def test_missing_checkpoint_exits_1(capsys, url):
    for argv in (["show", "nothing/here"], ["get", "nothing/here"], ["history", "nothing/here"]):
        code, out, err = run(capsys, "--store", url, *argv)
        assert code == 1, argv
        assert out == "" and err.startswith("CheckpointNotFound: ") and "nothing/here" in err


def test_operational_errors_map_to_1_and_input_errors_to_2():
    from recovery_lib import errors

    assert cli.exit_code(errors.IntegrityError("bad sha")) == 1
    assert cli.exit_code(errors.RegionUnavailable("down")) == 1
    assert cli.exit_code(CheckpointNotFound("x")) == 1
    assert cli.exit_code(OSError("disk")) == 1
    assert cli.exit_code(errors.InvalidData("set")) == 2
    assert cli.exit_code(errors.ConfigError("bad")) == 2
    assert cli.exit_code(errors.InvalidName("a@b")) == 2
    assert cli._error_line(CheckpointNotFound("no checkpoint 'x'\nsecond line")) == (
        "CheckpointNotFound: no checkpoint 'x' second line")


def test_help_and_version_exit_0(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert all(command.name in out for command in cli.COMMANDS)
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("recovery ")


def test_commands_come_from_the_table(capsys, url):
    calls = []

    def configure(parser):
        parser.add_argument("target")

    def handler(ctx):
        calls.append((ctx.args.target, ctx.args.json))
        ctx.emit({"target": ctx.args.target})
        return 0

    extra = cli.Command("rehearse", "a command added by a plugin", configure, handler)
    parser = cli.build_parser([*cli.COMMANDS, extra])
    args = parser.parse_args(["rehearse", "plan.yaml", "--json"])
    ctx = cli.Context(args=args, stdout=io.StringIO(), stderr=io.StringIO(), environ={})
    assert args.handler(ctx) == 0
    assert calls == [("plan.yaml", True)]
    assert json.loads(ctx.stdout.getvalue()) == {"target": "plan.yaml"}


# -- the installed entry points (subprocess) -------------------------------------------------


def entry_points():
    script = pathlib.Path(sys.executable).parent / "recovery"
    points = [[sys.executable, "-m", "recovery_lib"]]
    if script.exists():
        points.append([str(script)])
    return points


@pytest.mark.slow
@pytest.mark.parametrize("entry", entry_points(), ids=lambda e: pathlib.Path(e[-1]).name)
def test_entry_points_run_commands_with_exit_codes(entry, tmp_path, store, url):
    env = {k: v for k, v in os.environ.items() if k != cli.ENV_PLATFORM}
    env["PYTHONPATH"] = str(ROOT)

    def call(*argv, extra_env=None):
        return subprocess.run([*entry, *argv], capture_output=True, timeout=60, cwd=tmp_path,
                              env={**env, **(extra_env or {})})

    source = tmp_path / "data.bin"
    source.write_bytes(BINARY)
    done = call("--store", url, "put", "sub/x", str(source), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == "sub/x"

    done = call("--store", url, "get", "sub/x")
    assert done.returncode == 0 and done.stdout == BINARY and done.stderr == b""

    done = call("--store", url, "show", "sub/missing")
    assert done.returncode == 1 and done.stdout == b""
    assert done.stderr.decode().startswith("CheckpointNotFound: ")
    assert b"Traceback" not in done.stderr

    done = call("--store", url, "nonsense")
    assert done.returncode == 2 and done.stderr.decode().startswith("UsageError: ")

    done = call("ls")
    assert done.returncode == 2 and b"DR_PLATFORM" in done.stderr

    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1}')
    done = call("ls", extra_env={cli.ENV_PLATFORM: str(bad)})
    assert done.returncode == 2 and done.stderr.decode().startswith("ConfigError: ")

    done = call("--store", url, "clear", "sub/")
    assert done.returncode == 2 and store.exists("sub/x")
