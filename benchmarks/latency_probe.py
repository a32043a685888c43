"""Small saves with network latency: ``python -m benchmarks.latency_probe 0.015``.

Benchmark 2 runs against a moto server on the same 2 cores: every request there costs CPU
on both sides and no network wait, so work moved off the caller's path (the background
history write) still competes for the same CPU and GIL. This probe adds a fixed delay to
every request (an HTTP proxy in its own process, ``tests/reliability/http_fault_proxy.py``
with an ``on_request`` that sleeps), as an in-region S3 round trip does, and compares 50
``store.save``/``store.load`` calls against 50 ``put_object``/``get_object`` calls,
alternating, 6 blocks, medians. The library's background writes are flushed after each
of its blocks, outside the timing.
Figures: docs/performance.md ("Issue 10, third pass"); the "before" figures ran this file
from a copy of this file in an export of the older commit, with ``PROBE_PROXY_ROOT``
naming this checkout (whose proxy has ``on_request``).
"""
import json, os, statistics, subprocess, sys, time
from recovery_lib import CheckpointStore, S3Options
from recovery_lib.backends.s3 import client_config
from benchmarks._server import PRIMARY_REGION, moto_server
DELAY = float(sys.argv[1]) if len(sys.argv) > 1 else 0.015
ROOT = os.environ.get("PROBE_PROXY_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROXY = r'''
import sys, time, threading
from tests.reliability.http_fault_proxy import HttpFaultProxy
d = float(sys.argv[3])
p = HttpFaultProxy(("127.0.0.1", int(sys.argv[2])), rate=0.0, on_request=lambda m, path: (time.sleep(d), True)[1]).start()
print(p.url if hasattr(p, "url") else p.port, flush=True); threading.Event().wait()
'''
options = S3Options()
with moto_server() as server:
    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    proc = subprocess.Popen([sys.executable, "-c", PROXY, "x", str(port), str(DELAY)], stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    url = proc.stdout.readline().strip()
    if not url.startswith("http"): url = f"http://127.0.0.1:{url}"
    lib_bucket, raw_bucket = server.bucket("l-lib"), server.bucket("l-raw")
    secondary = server.bucket("l-lib-secondary", "us-west-2")
    desc = server.descriptor(lib_bucket, secondary)
    desc = json.loads(json.dumps(desc).replace(server.url, url))
    store = CheckpointStore.from_platform(desc, options=options, session=server.session)
    raw = server.session.client("s3", endpoint_url=url, region_name=PRIMARY_REGION,
        config=client_config(options, read_timeout=options.metadata_timeout, path_style=True))
    store.save("warm", {"x": 0}); raw.put_object(Bucket=raw_bucket, Key="w", Body=b"{}")
    t: dict[str, list[float]] = {"lib": [], "raw": [], "lib load": [], "raw load": []}
    for blk in range(6):
        order = ("lib", "raw") if blk % 2 == 0 else ("raw", "lib")
        for side in order:
            w0 = time.perf_counter()
            for i in range(50):
                if side == "lib":
                    store.save(f"b{blk}/n{i}", {"step": i})
                else:
                    raw.put_object(Bucket=raw_bucket, Key=f"b{blk}/n{i}",
                                   Body=json.dumps({"step": i}).encode())
            t[side].append(time.perf_counter() - w0)
            if side == "lib":
                getattr(store, "flush", lambda: None)()
        for side in order:
            w0 = time.perf_counter()
            for i in range(50):
                if side == "lib":
                    assert store.load(f"b{blk}/n{i}") == {"step": i}
                else:
                    body = raw.get_object(Bucket=raw_bucket, Key=f"b{blk}/n{i}")["Body"].read()
                    assert json.loads(body) == {"step": i}
            t[f"{side} load"].append(time.perf_counter() - w0)
    proc.kill()
    med = {k: statistics.median(v) for k, v in t.items()}
    both = statistics.median([a + b for a, b in zip(t["lib"], t["lib load"])]) / statistics.median(
        [a + b for a, b in zip(t["raw"], t["raw load"])])
    print(f"delay {DELAY}: save {med['lib'] / med['raw']:.3f}, load "
          f"{med['lib load'] / med['raw load']:.3f}, save + load {both:.3f} "
          f"(s per 50: lib {med['lib']:.3f} + {med['lib load']:.3f}, "
          f"raw {med['raw']:.3f} + {med['raw load']:.3f})")
