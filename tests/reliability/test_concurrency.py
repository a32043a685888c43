"""Concurrency: 8 processes x 50 saves of ONE name, at once -> 400 versions retained, each
loading to what its writer saved, and each writer's saves in its own order in the history.
On S3 (moto server, conditional creates of manifests) and in a local directory."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from recovery_lib import CheckpointStore
from tests.recovery_lib.crash_support import ROOT

pytestmark = pytest.mark.slow

WRITERS, SAVES = 8, 50
WRITER = """
import json, sys
from recovery_lib import CheckpointStore
spec = json.loads(sys.argv[1])
store = (CheckpointStore.local(spec["local"]) if "local" in spec
         else CheckpointStore.from_platform(spec["platform"]))
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()  # start together
for i in range(int(sys.argv[3])):
    c = store.save("shared/state", {"writer": int(sys.argv[2]), "i": i})
    assert c.region in ("primary", "local"), c
"""


@pytest.mark.parametrize("backend", ["s3", "local"])
def test_eight_processes_fifty_saves_each_keep_four_hundred_versions(backend, request, tmp_path):
    if backend == "s3":
        buckets = request.getfixturevalue("buckets")
        spec: dict = {"platform": buckets.descriptor}
        store = buckets.store()
    else:
        spec = {"local": str(tmp_path / "store")}
        store = CheckpointStore.local(tmp_path / "store")
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, json.dumps(spec), str(n), str(SAVES)],
                              cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
             for n in range(WRITERS)]
    try:
        for proc in procs:  # every writer imported and built its store: start them together
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        assert [proc.wait(timeout=90) for proc in procs] == [0] * WRITERS
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout):
                stream.close()

    versions = store.versions("shared/state")  # newest first
    assert len(versions) == len({c.version for c in versions}) == WRITERS * SAVES
    loaded = [store.load("shared/state", version=c.version) for c in versions]
    assert sorted((d["writer"], d["i"]) for d in loaded) == [
        (w, i) for w in range(WRITERS) for i in range(SAVES)]
    for writer in range(WRITERS):  # history order agrees with each writer's own order
        mine = [d["i"] for d in reversed(loaded) if d["writer"] == writer]
        assert mine == list(range(SAVES))
    # The current version is the newest one listed, and it loads.
    assert store.info("shared/state").version == versions[0].version
    assert store.load("shared/state") == loaded[0]
