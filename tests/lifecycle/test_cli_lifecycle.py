"""`recovery put --step`, `history -l` with steps, `prune`, `gc`, `du`: output and exit codes."""
from __future__ import annotations

import json

import pytest

from recovery_lib import cli
from recovery_lib.store import CheckpointStore


@pytest.fixture(autouse=True)
def no_platform_env(monkeypatch):
    monkeypatch.delenv(cli.ENV_PLATFORM, raising=False)


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def url(tmp_path):
    return f"file://{tmp_path / 'store'}"


def _put_steps(capsys, url, tmp_path, steps):
    source = tmp_path / "state.json"
    for step in steps:
        source.write_text(json.dumps({"step": step}))
        code, out, err = run(capsys, "--store", url, "put", "run/model", str(source),
                             "--step", str(step), "--json")
        assert code == 0, err
        assert json.loads(out)["step"] == step


def test_put_with_steps_and_history_shows_them(capsys, url, tmp_path):
    _put_steps(capsys, url, tmp_path, [100, 200])
    code, out, _ = run(capsys, "--store", url, "history", "run/model", "-l")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["NAME", "VERSION", "STEP"]
    assert [line.split()[2] for line in out.splitlines()[1:]] == ["200", "100"]
    code, out, _ = run(capsys, "--store", url, "show", "run/model")
    assert "step:" in out and "200" in out
    code, out, _ = run(capsys, "--store", url, "get", "run/model", "--step", "100")
    assert code == 0 and json.loads(out) == {"step": 100}


def test_prune_is_a_dry_run_until_yes_then_gc_and_du(capsys, url, tmp_path):
    _put_steps(capsys, url, tmp_path, [100, 200, 300])
    code, out, _ = run(capsys, "--store", url, "prune", "--keep-last", "1")
    assert code == 0 and "would retire 2 version(s) of 1 name(s)" in out
    code, out, _ = run(capsys, "--store", url, "prune", "--keep-last", "1", "--yes", "--json")
    assert code == 0 and len(json.loads(out)["retired"]) == 2
    code, out, _ = run(capsys, "--store", url, "gc", "--dry-run", "--grace", "0")
    assert code == 0 and "local: would remove 2 manifest(s)" in out
    code, out, _ = run(capsys, "--store", url, "gc", "--grace", "0", "--json")
    assert code == 0 and json.loads(out)["regions"]["local"]["manifests"] == 2
    code, out, _ = run(capsys, "--store", url, "du", "--json")
    (row,) = json.loads(out)
    assert row["name"] == "run/model" and row["garbage_objects"] == 0 and row["live_objects"] == 2
    code, out, _ = run(capsys, "--store", url, "du")
    assert out.split()[:6] == ["REGION", "NAME", "LIVE_BYTES", "LIVE_OBJECTS", "GARBAGE_BYTES",
                               "GARBAGE_OBJECTS"]
    assert CheckpointStore.from_url(url).steps("run/model") == [300]


@pytest.mark.parametrize("argv,needle", [
    (["prune"], "at least one rule"),
    (["prune", "--keep-last", "0"], "keep_last=0"),
    (["prune", "--keep-best", "2"], "metric"),
    (["gc", "--grace", "-5"], "-5"),
    (["put", "run/model", "FILE", "--step", "-1"], "step -1"),
])
def test_bad_lifecycle_input_exits_2_naming_the_value(capsys, url, tmp_path, argv, needle):
    source = tmp_path / "FILE"
    source.write_text("{}")
    argv = [str(source) if a == "FILE" else a for a in argv]
    code, out, err = run(capsys, "--store", url, *argv)
    assert code == 2 and needle in err, err
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").rglob("retired/*"))
