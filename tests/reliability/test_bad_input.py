"""Bad input: a table of malformed inputs. Each must raise a typed error (the CLI: exit 2
and ``ErrorType: message`` on stderr) whose message names the problem, and write nothing:
both buckets of a moto-server pair, every bucket name on the server and the CLI's local
store directory are listed before and after each case."""
from __future__ import annotations

import copy
import dataclasses
import json
import pathlib
from typing import Any, Callable

import pytest

from recovery_lib import (
    CheckpointStore,
    ConfigError,
    InvalidData,
    InvalidName,
    RecoveryError,
    S3Options,
    cli,
)
from recovery_lib.drill.plan import load_plan, parse_plan
from tests.recovery_lib.moto_helpers import PRIMARY_REGION, create_bucket, unique
from tests.reliability.conftest import Buckets

pytestmark = pytest.mark.slow


@dataclasses.dataclass
class World:
    buckets: Buckets
    store: CheckpointStore
    local: pathlib.Path
    tmp: pathlib.Path
    unversioned: str

    def descriptor(self, **changes: Any) -> dict[str, Any]:
        d = copy.deepcopy(self.buckets.descriptor)
        for path, value in changes.items():
            node = d
            *parents, leaf = path.split(".")
            for part in parents:
                node = node[part]
            if value is _DELETE:
                del node[leaf]
            else:
                node[leaf] = value
        return d

    def cli(self, *argv: str) -> tuple[int, str]:
        import contextlib
        import io

        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(list(argv))
        return code, err.getvalue()

    def snapshot(self) -> tuple[Any, ...]:
        raw = self.buckets.raw
        return (self.buckets.keys("primary"), self.buckets.keys("secondary"),
                sorted(b["Name"] for b in raw.list_buckets()["Buckets"]),
                [o["Key"] for o in raw.list_objects_v2(Bucket=self.unversioned).get("Contents", ())],
                sorted(str(p.relative_to(self.local)) for p in self.local.rglob("*")))


_DELETE = object()


class Exit2:
    """Expected outcome of a CLI case: exit code 2 and one ``ErrorType: message`` line."""
URL = "file://{local}"


def _cli(*argv: str) -> Callable[[World], Any]:
    def run(w: World) -> Any:
        code, err = w.cli(*[a.format(local=w.local, tmp=w.tmp) for a in argv])
        assert code == 2, (code, err)
        return err
    return run


def _platform_file(text: str) -> Callable[[World], Any]:
    def run(w: World) -> Any:
        path = w.tmp / "platform.json"
        path.write_text(text)
        return CheckpointStore.from_platform(path)
    return run


def _plan_file(name: str, text: str) -> Callable[[World], Any]:
    def run(w: World) -> Any:
        path = w.tmp / name
        path.write_text(text)
        return load_plan(path)
    return run


def _missing_bucket(w: World) -> Any:
    store = CheckpointStore.from_platform(w.descriptor(**{"regions.primary.bucket": unique("nobucket")}),
                                          session=w.buckets.session)
    return store.save("model", {"w": 1})


def _unversioned(w: World) -> Any:
    store = CheckpointStore.from_platform(w.descriptor(**{"regions.secondary.bucket": w.unversioned}),
                                          session=w.buckets.session)
    return store.check()


# (id, action, error type, fragments the message must contain)
CASES: list[tuple[str, Callable[[World], Any], type, tuple[str, ...]]] = [
    # names
    ("name-empty", lambda w: w.store.save("", 1), InvalidName, ("empty",)),
    ("name-absolute", lambda w: w.store.save("/etc/passwd", 1), InvalidName, ("'/etc/passwd'", "starts with '/'")),
    ("name-empty-segment", lambda w: w.store.save("a//b", 1), InvalidName, ("'a//b'", "empty segment")),
    ("name-dotdot", lambda w: w.store.save("runs/../../x", 1), InvalidName, ("'..'",)),
    ("name-at", lambda w: w.store.save("model@v2", 1), InvalidName, ("'model@v2'", "'@'")),
    ("name-backslash", lambda w: w.store.save("a\\b", 1), InvalidName, ("backslash",)),
    ("name-control", lambda w: w.store.save("a\nb", 1), InvalidName, ("control character",)),
    ("name-trailing-slash", lambda w: w.store.save("runs/", 1), InvalidName, ("'runs/'", "ends with '/'")),
    ("name-not-str", lambda w: w.store.save(42, 1), InvalidName, ("must be a str", "int")),
    ("name-surrogate", lambda w: w.store.save("a\ud800", 1), InvalidName, ("UTF-8",)),
    ("name-too-long", lambda w: w.store.save("x" * 1100, 1), InvalidName, ("too long", "1024")),
    ("version-malformed", lambda w: w.store.load("model", version="latest"), InvalidName, ("'latest'", "version id")),
    # data types
    ("data-object", lambda w: w.store.save("model", object()), InvalidData, ("object",)),
    ("data-set", lambda w: w.store.save("model", {"a": {1, 2}}), InvalidData, ("set",)),
    ("data-nan", lambda w: w.store.save("model", {"loss": float("nan")}), InvalidData, ("nan",)),
    ("data-int-key", lambda w: w.store.save("model", {1: "a"}), InvalidData, ("key",)),
    ("serializer-unknown", lambda w: w.store.save("model", b"x", serializer="yaml"), InvalidData, ("'yaml'",)),
    ("metadata-not-dict", lambda w: w.store.save("model", 1, metadata="v1"), InvalidData, ("metadata must be a dict", "str")),
    ("metadata-bytes", lambda w: w.store.save("model", 1, metadata={"k": b"\x00"}), InvalidData, ("metadata",)),
    ("save-file-dir", lambda w: w.store.save_file("model", w.tmp), InvalidData, ("not a regular file",)),
    # descriptors
    ("desc-no-secondary", lambda w: CheckpointStore.from_platform(w.descriptor(**{"regions.secondary": _DELETE})),
     ConfigError, ("regions.secondary", "missing")),
    ("desc-schema-version", lambda w: CheckpointStore.from_platform(w.descriptor(version=2)), ConfigError, ("version", "2")),
    ("desc-empty-bucket", lambda w: CheckpointStore.from_platform(w.descriptor(**{"regions.primary.bucket": ""})),
     ConfigError, ("regions.primary.bucket",)),
    ("desc-strategy", lambda w: CheckpointStore.from_platform(w.descriptor(strategy="hot")), ConfigError, ("strategy", "'hot'")),
    ("desc-prefix", lambda w: CheckpointStore.from_platform(w.descriptor(checkpoint_prefix="ckpt")), ConfigError, ("checkpoint_prefix", "'ckpt'")),
    ("desc-endpoint-type", lambda w: CheckpointStore.from_platform(w.descriptor(**{"regions.primary.endpoint_url": 5})),
     ConfigError, ("endpoint_url", "5")),
    ("desc-not-object", lambda w: CheckpointStore.from_platform(["regions"]), ConfigError, ("list",)),
    ("desc-not-json", _platform_file("{not json"), ConfigError, ("not valid JSON",)),
    ("desc-missing-file", lambda w: CheckpointStore.from_platform(w.tmp / "absent.json"), ConfigError, ("absent.json",)),
    # buckets and options
    ("bucket-missing", _missing_bucket, ConfigError, ("nobucket", "does not exist")),
    ("bucket-unversioned", _unversioned, ConfigError, ("unversioned", "versioning")),
    ("options-timeout", lambda w: S3Options(connect_timeout=0), ConfigError, ("connect_timeout", "0")),
    ("options-part-size", lambda w: S3Options(multipart_chunksize=1024), ConfigError, ("multipart_chunksize", "1024")),
    ("url-scheme", lambda w: CheckpointStore.from_url("ftp://host/x"), ConfigError, ("'ftp://host/x'",)),
    # CLI (exit 2, "ErrorType: message")
    ("cli-no-command", _cli(), Exit2, ("UsageError", "COMMAND")),
    ("cli-unknown-command", _cli("--store", URL, "frobnicate"), Exit2, ("frobnicate",)),
    ("cli-no-store", _cli("ls"), Exit2, ("no checkpoint store",)),
    ("cli-bad-name", _cli("--store", URL, "put", "a@b", "{tmp}/input.bin"), Exit2, ("InvalidName", "'a@b'")),
    ("cli-missing-file", _cli("--store", URL, "put", "model", "{tmp}/absent.bin"), Exit2, ("absent.bin",)),
    ("cli-bad-url", _cli("--store", "ftp://x/y", "ls"), Exit2, ("ConfigError", "ftp://x/y")),
    ("cli-bad-platform", _cli("--platform", "{tmp}/absent.json", "ls"), Exit2, ("ConfigError", "absent.json")),
    ("cli-clear-without-yes", _cli("--store", URL, "clear", "runs/"), Exit2, ("--yes",)),
    ("cli-bad-metadata", _cli("--store", URL, "put", "model", "{tmp}/input.bin", "-m", "novalue"), Exit2, ("novalue",)),
    ("cli-bad-plan", _cli("--platform", "{tmp}/dr.json", "drill", "--plan", "{tmp}/absent.yaml", "--dry-run"), Exit2, ("absent.yaml",)),
    # drill plans
    ("plan-empty-title", lambda w: parse_plan({"title": " "}), ConfigError, ("title",)),
    ("plan-unknown-key", lambda w: parse_plan({"titel": "x"}), ConfigError, ("titel",)),
    ("plan-verification", lambda w: parse_plan({"verifications": ["telepathy"]}), ConfigError, ("telepathy",)),
    ("plan-resume-alone", lambda w: parse_plan({"verifications": ["pipeline-resume"]}), ConfigError, ("pipeline-resume",)),
    ("plan-timeout", lambda w: parse_plan({"timeouts": {"dns_seconds": 0}}), ConfigError, ("timeouts.dns_seconds", "0")),
    ("plan-canary-name", lambda w: parse_plan({"canary": {"name": "a@b"}}), ConfigError, ("canary.name", "'a@b'")),
    ("plan-bad-yaml", _plan_file("plan.yaml", "title: [unclosed"), ConfigError, ("plan.yaml", "YAML")),
    ("plan-suffix", _plan_file("plan.txt", "title: x"), ConfigError, ("plan.txt", ".yaml")),
]


@pytest.fixture(scope="module")
def world(moto_server, tmp_path_factory) -> World:
    buckets = Buckets(moto_server.url)
    unversioned = unique("unversioned")
    create_bucket(buckets.raw, unversioned, PRIMARY_REGION, versioned=False)
    store = buckets.store()
    store.save("model", {"w": 0})  # something to protect
    tmp = tmp_path_factory.mktemp("bad-input")
    local = tmp / "store"
    CheckpointStore.local(local).save("runs/1", {"w": 0})
    (tmp / "input.bin").write_bytes(b"payload")
    (tmp / "dr.json").write_text(json.dumps(buckets.descriptor))
    return World(buckets, store, local, tmp, unversioned)


def test_the_table_has_at_least_25_distinct_cases():
    assert len({case[0] for case in CASES}) == len(CASES) >= 25


@pytest.mark.parametrize("action,error,fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_a_typed_error_and_nothing_written(world, action, error, fragments,
                                                                      monkeypatch):
    monkeypatch.delenv("DR_PLATFORM", raising=False)
    before = world.snapshot()
    if error is Exit2:  # a CLI case: it asserted exit 2 and returned stderr
        message = action(world)
        assert message.count("\n") == 1 and ": " in message, message  # one line, no traceback
    else:
        with pytest.raises(error) as caught:
            action(world)
        assert isinstance(caught.value, RecoveryError)
        message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert world.snapshot() == before
    assert world.store.load("model") == {"w": 0}
