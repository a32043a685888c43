"""Benchmark 5: ``save_file``/``load_file`` of 1 GiB: the client's peak RSS growth
(target <= 128 MiB), each transfer in a fresh process, library and boto3 alternating.

moto server answers every ranged GET by reading the whole object (moto/s3/responses.py,
``_handle_range_header`` slices ``key.value``), so a 1 GiB download in 8 MiB ranges moves
~128 GiB inside the server. The downloads here therefore use 64 MiB parts on BOTH sides
(16 ranges); uploads use the library's defaults (8 MiB parts) on both sides.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from ._common import GiB, MiB, Result, median, write_random_file
from ._server import moto_server

TARGET_MIB = 128
LOAD_CHUNK = 64 * MiB
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


#: glibc: a fixed mmap threshold, so freed 256 KiB download buffers go back to the kernel
#: at once instead of being kept in per-thread arenas (see docs/performance.md).
FIXED_MMAP = {"MALLOC_MMAP_THRESHOLD_": "131072"}


def _child(op: str, spec: dict, env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-m", "benchmarks._rss_child", op, json.dumps(spec)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": ROOT, **(env or {})})
    if proc.returncode:
        raise RuntimeError(f"{op} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(*, runs: int, quick: bool) -> list[Result]:
    size = (256 * MiB) if quick else GiB
    runs = min(runs, 3)
    with moto_server() as server, tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        primary, secondary = server.bucket("mem-primary"), server.bucket("mem-secondary", "us-west-2")
        raw_bucket = server.bucket("mem-raw")
        source, dest = os.path.join(tmp, "source.bin"), os.path.join(tmp, "dest.bin")
        write_random_file(source, size)
        base = {"descriptor": server.descriptor(primary, secondary), "url": server.url,
                "bucket": raw_bucket, "file": source, "dest": dest}
        save_spec = {**base, "options": {}}
        load_spec = {**base, "options": {"multipart_chunksize": LOAD_CHUNK,
                                         "multipart_threshold": LOAD_CHUNK}}
        results: dict[str, list[dict]] = {k: [] for k in ("lib-save", "raw-save", "lib-load", "raw-load",
                                                          "lib-load-fixed", "raw-load-fixed")}
        for run_no in range(runs):
            with open(source, "r+b") as fh:  # new content: the library cannot skip the upload
                fh.write(os.urandom(16))
            pairs = [("lib-save", "raw-save"), ("lib-load", "raw-load")]
            for pair in pairs:
                for op in (pair if run_no % 2 == 0 else pair[::-1]):
                    results[op].append(_child(op, save_spec if op.endswith("save") else load_spec))
                    if op.endswith("load"):
                        os.unlink(dest)
            for op in (("lib-load", "raw-load") if run_no % 2 == 0 else ("raw-load", "lib-load")):
                results[op + "-fixed"].append(_child(op, load_spec, FIXED_MMAP))
                os.unlink(dest)
    out = []
    for op, label in (("save", "save_file vs upload_file"), ("load", "load_file vs download_file")):
        lib = [r["growth_kib"] / 1024 for r in results[f"lib-{op}"]]
        raw = [r["growth_kib"] / 1024 for r in results[f"raw-{op}"]]
        lib_s = [r["seconds"] for r in results[f"lib-{op}"]]
        raw_s = [r["seconds"] for r in results[f"raw-{op}"]]
        worst = max(lib)
        out.append(Result(5, f"{size // MiB} MiB {label}: peak RSS growth", median(lib), median(raw),
                          "MiB", f"<= {TARGET_MIB} MiB", worst <= TARGET_MIB, median(lib) / median(raw),
                          note=f"library max {worst:.0f} MiB = {worst * MiB / size:.3f} of the object; "
                               f"runs {[round(x) for x in lib]} vs {[round(x) for x in raw]}"))
        out.append(Result(5, f"{size // MiB} MiB {label}: time", median(lib_s), median(raw_s), "s",
                          "(reported)", None, median(lib_s) / median(raw_s),
                          note=f"runs {[round(x, 1) for x in lib_s]} vs {[round(x, 1) for x in raw_s]}"))
    lib = [r["growth_kib"] / 1024 for r in results["lib-load-fixed"]]
    raw = [r["growth_kib"] / 1024 for r in results["raw-load-fixed"]]
    out.append(Result(5, f"{size // MiB} MiB load_file vs download_file: peak RSS growth, "
                         "MALLOC_MMAP_THRESHOLD_=131072", median(lib), median(raw), "MiB",
                      f"<= {TARGET_MIB} MiB", max(lib) <= TARGET_MIB, median(lib) / median(raw),
                      note=f"library max {max(lib):.0f} MiB = {max(lib) * MiB / size:.3f} of the object; "
                           f"runs {[round(x) for x in lib]} vs {[round(x) for x in raw]}"))
    return out
