"""Crash safety and multi-process concurrency of the local backend (real processes)."""
from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess
import sys

import pytest

from recovery_lib import CheckpointStore
from tests.recovery_lib.crash_support import ROOT, kill_mid_save

V1 = os.urandom(3 * 1024 * 1024)
V2 = os.urandom(8 * 1024 * 1024)


@pytest.fixture
def files(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    v1, v2 = tmp_path / "v1.bin", tmp_path / "v2.bin"
    v1.write_bytes(V1)
    v2.write_bytes(V2)
    return v1, v2


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["upload", "before-commit", "during-commit"])
def test_sigkill_mid_save_leaves_previous_checkpoint_current_and_verified(tmp_path, files, stage):
    root = tmp_path / "store"
    v1_version = kill_mid_save({"local": str(root)}, stage, *files)

    store = CheckpointStore.local(root)
    checkpoint = store.info("model")
    assert checkpoint.version == v1_version and checkpoint.metadata == {"v": 1}
    assert [c.version for c in store.versions("model")] == [v1_version]
    dest = tmp_path / "restored.bin"
    store.load_file("model", dest)  # verified while streaming
    assert hashlib.sha256(dest.read_bytes()).digest() == hashlib.sha256(V1).digest()
    leftovers = [p.name for p in root.rglob("*.partial")]
    if stage == "before-commit":
        assert leftovers == []  # the blob was complete; only the manifest was missing
    else:
        assert leftovers, "the interrupted write left its temporary file"
    # The store keeps working after the crash: the orphan never shows up.
    store.save_file("model", files[1])
    assert store.load("model") == V2
    assert len(store.versions("model")) == 2


CONCURRENT_WRITER = """
import sys
from recovery_lib import CheckpointStore
store = CheckpointStore.local(sys.argv[1])
for i in range(int(sys.argv[3])):
    store.save("shared/state", {"writer": int(sys.argv[2]), "i": i})
"""


@pytest.mark.slow
def test_processes_saving_one_name_at_once_lose_nothing(tmp_path):
    root = tmp_path / "store"
    writers, saves = 4, 15
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT_WRITER, str(root), str(n), str(saves)],
                              cwd=ROOT) for n in range(writers)]
    assert [p.wait(timeout=60) for p in procs] == [0] * writers
    store = CheckpointStore.local(root)
    versions = store.versions("shared/state")
    assert len(versions) == len({c.version for c in versions}) == writers * saves
    seen = {(d["writer"], d["i"]) for d in
            (store.load("shared/state", version=c.version) for c in versions)}
    assert seen == {(w, i) for w in range(writers) for i in range(saves)}
