"""Crash consistency: SIGKILL a saving process at a random moment of its save.

Every trial commits version 1, then kills the process while it saves version 2, at a
uniformly random moment within 1.2x the time an uninterrupted save of version 2 takes
(measured first, per group). Afterwards every load must return version 1 or version 2,
complete and verified; every listed version must load and verify; no torn checkpoint.

Groups: S3 (moto server, its own process) single-part and multipart, local directory
single-part and multipart.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import pathlib
import random
import time
from collections import Counter
from typing import Any

import pytest

from recovery_lib import CheckpointStore, S3Options
from tests.reliability import crash_worker

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
V1_SIZE = 512 * 1024           # above the 256 KiB inline limit: a blob, one PUT
SINGLE_SIZE = 3 * MiB          # one PUT (below the multipart threshold)
MULTI_SIZE = 12 * MiB + 4096   # three parts of 5 MiB, 5 MiB and 2 MiB
OPTIONS = {"multipart_threshold": 5 * MiB, "multipart_chunksize": 5 * MiB}
TRIALS = {("s3", False): 15, ("s3", True): 15, ("local", False): 12, ("local", True): 12}
SEED = 20261125


@pytest.fixture(scope="module")
def forkserver() -> Any:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["boto3", "botocore", "recovery_lib", "recovery_lib.backends.s3",
                                "tests.reliability.crash_worker"])
    return ctx


def _content(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _trial(ctx: Any, spec: dict[str, Any], name: str, v1: pathlib.Path, v2: pathlib.Path,
           kill_after: float | None) -> tuple[str, str | None, float]:
    """Run one saver; kill it ``kill_after`` s into its second save (None: let it finish).
    Returns (version 1, version 2 if it was reported, seconds the second save ran)."""
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=crash_worker.save_twice, args=(spec, name, str(v1), str(v2), child))
    proc.start()
    child.close()
    try:
        assert parent.poll(60), "the saver never committed version 1"
        tag, v1_version = parent.recv()
        assert tag == "v1"
        assert parent.poll(60) and parent.recv()[0] == "start"
        started = time.monotonic()
        v2_version = None
        if kill_after is None:
            assert parent.poll(60), "the uninterrupted save of version 2 did not finish"
            v2_version = parent.recv()[1]
        elif parent.poll(kill_after):
            v2_version = parent.recv()[1]  # finished before the kill
        proc.kill()
        elapsed = time.monotonic() - started
        proc.join(10)
        return v1_version, v2_version, elapsed
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join(10)
        parent.close()


def _check(store: CheckpointStore, name: str, v1_version: str, v2_version: str | None,
           contents: dict[str, bytes], tmp: pathlib.Path) -> str:
    """The invariants after a crash; returns which version is current ("old" or "new")."""
    by_digest = {hashlib.sha256(b).hexdigest(): label for label, b in contents.items()}
    data, info = store.load_with_info(name)
    label = by_digest.get(hashlib.sha256(data).hexdigest())
    assert label in ("old", "new"), f"{name}: load returned {len(data)} bytes matching neither version"
    listed = [c.version for c in store.versions(name)]
    assert v1_version in listed and len(listed) in (1, 2), listed
    if v2_version is not None:
        assert listed == [v2_version, v1_version]
    for version in listed:  # every committed version is complete and verifies
        dest = tmp / "restored.bin"
        checkpoint = store.load_file(name, dest, version=version)
        got = by_digest.get(hashlib.sha256(dest.read_bytes()).hexdigest())
        assert got == ("old" if version == v1_version else "new"), (name, version, got)
        assert checkpoint.version == version
    assert info.version == listed[0]
    assert label == ("old" if listed == [v1_version] else "new")
    return label


@pytest.mark.parametrize("backend,multipart", list(TRIALS), ids=[f"{b}-{'multipart' if m else 'single'}"
                                                                  for b, m in TRIALS])
def test_sigkill_at_random_moments_never_tears_a_checkpoint(backend, multipart, forkserver, tmp_path,
                                                             request):
    if backend == "s3":
        buckets = request.getfixturevalue("buckets")
        spec: dict[str, Any] = {"platform": buckets.descriptor, "options": OPTIONS}
        verifier = buckets.store(S3Options(**OPTIONS))
    else:
        root = tmp_path / "store"
        spec = {"local": str(root)}
        verifier = CheckpointStore.local(root)
    spec["multipart"] = multipart
    size = MULTI_SIZE if multipart else SINGLE_SIZE
    rng = random.Random(f"{SEED}-{backend}-{multipart}")
    v1 = tmp_path / "v1.bin"
    v1.write_bytes(_content(SEED, V1_SIZE))

    def files(trial: int) -> tuple[pathlib.Path, dict[str, bytes]]:
        v2 = tmp_path / f"v2-{trial}.bin"
        v2.write_bytes(_content(rng.getrandbits(64), size))  # new content: no blob to reuse
        return v2, {"old": v1.read_bytes(), "new": v2.read_bytes()}

    # Calibrate: how long does an uninterrupted save of version 2 take here?
    v2, contents = files(-1)
    v1_version, v2_version, duration = _trial(forkserver, spec, "calibrate", v1, v2, None)
    assert _check(verifier, "calibrate", v1_version, v2_version, contents, tmp_path) == "new"

    outcomes: Counter[str] = Counter()
    for trial in range(TRIALS[(backend, multipart)]):
        v2, contents = files(trial)
        name = f"crash/{trial}"
        v1_version, v2_version, _ = _trial(forkserver, spec, name, v1, v2,
                                           rng.uniform(0, 1.2 * duration))
        outcomes[_check(verifier, name, v1_version, v2_version, contents, tmp_path)] += 1
        v2.unlink()
    # Kills landed both before and after the commit point (the trials tested something).
    assert outcomes["old"] >= 1, outcomes
    assert sum(outcomes.values()) == TRIALS[(backend, multipart)]
    # After all those crashes the store still takes and serves new checkpoints.
    after = verifier.save("crash/after", b"x" * (V1_SIZE + 1))
    assert verifier.load("crash/after") == b"x" * (V1_SIZE + 1) and after.region in ("primary", "local")
    print(f"{backend} {'multipart' if multipart else 'single-part'}: {dict(outcomes)}, "
          f"uninterrupted save {duration:.3f} s")
