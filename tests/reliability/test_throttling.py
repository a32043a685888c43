"""Throttling and 5xx: a proxy in front of both regions answers 20 % of S3 requests with
``503 SlowDown`` or ``500 InternalError`` (not forwarded, as S3 sheds load).

Every save and load must succeed, and the history must hold exactly the versions that
were committed: none lost, none duplicated.

Retries: with independent faults at rate p, a request gives up after ``max_attempts``
failures with probability p**max_attempts: 0.8 % per request for the default 3 attempts
(a few failures per few hundred requests, which the store would then treat as a region
outage and fail over). A job expecting sustained throttling raises ``max_attempts``; this
suite uses 8 (2.6e-6 per request), the setting docs/reliability.md recommends for that case.
"""
from __future__ import annotations

import hashlib
import random

import pytest

from recovery_lib import S3Options
from tests.reliability.conftest import Buckets
from tests.reliability.http_fault_proxy import HttpFaultProxy

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
OPTIONS = S3Options(max_attempts=8, multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)


def _payloads(rng: random.Random) -> list[object]:
    """Small JSON (inlined), 300 KiB blobs (one PUT) and 11 MiB blobs (3-part multipart)."""
    out: list[object] = []
    for i in range(20):
        if i == 19:
            out.append(rng.randbytes(11 * MiB))
        elif i % 4 == 3:
            out.append(rng.randbytes(300 * 1024))
        else:
            out.append({"step": i, "loss": rng.random()})
    return out


def test_twenty_percent_503_and_500_lose_and_duplicate_nothing(moto_server, tmp_path):
    with HttpFaultProxy(moto_server.address, rate=0.2, seed=7) as proxy:
        buckets = Buckets(moto_server.url, primary_endpoint=proxy.url,
                          secondary_endpoint=proxy.url)
        store = buckets.store(OPTIONS)
        payloads = _payloads(random.Random(11))
        committed: dict[str, object] = {}
        for i, data in enumerate(payloads):
            name = "throttled/model" if i % 2 else "throttled/state"
            checkpoint = store.save(name, data, metadata={"i": i})
            assert checkpoint.region == "primary"  # retried, never failed over
            committed[checkpoint.version] = data
            assert store.load(name) == data
        for name in ("throttled/model", "throttled/state"):
            versions = store.versions(name, detail=True)
            expected = [i for i in range(len(payloads)) if (name == "throttled/model") == bool(i % 2)]
            assert sorted(c.metadata["i"] for c in versions) == expected  # none lost or doubled
            for checkpoint in versions:
                assert store.load(name, version=checkpoint.version) == committed[checkpoint.version]
        dest = tmp_path / "big.bin"
        store.load_file("throttled/model", dest)
        assert hashlib.sha256(dest.read_bytes()).hexdigest() == store.info("throttled/model").sha256
        # Every key in the bucket is a committed manifest or a blob one of them names.
        manifests = [k for k in buckets.keys("primary") if "/manifests/" in k]
        assert len(manifests) == len(payloads)
        assert buckets.keys("secondary") == {}  # nothing failed over
        faults = proxy.counts["503"] + proxy.counts["500"]
        total = faults + proxy.counts["forwarded"]
        print(f"requests {total}, injected 503: {proxy.counts['503']}, 500: {proxy.counts['500']}")
    assert total > 100 and 0.15 < faults / total < 0.25


def test_a_500_after_the_commit_took_effect_does_not_duplicate_the_version(moto_server):
    """The proxy forwards 20 % of requests, then answers 500: the write happened but the
    client does not know. A retried conditional PUT of a manifest then finds it present."""
    with HttpFaultProxy(moto_server.address, rate=0.0, after_rate=0.2, seed=3) as proxy:
        buckets = Buckets(moto_server.url, primary_endpoint=proxy.url, secondary_endpoint=proxy.url)
        store = buckets.store(OPTIONS)
        for i in range(30):
            store.save("ambiguous/state", {"i": i})
        history = store.versions("ambiguous/state")
        assert sorted(store.load("ambiguous/state", version=c.version)["i"] for c in history) == \
            list(range(30))  # one version per save: none duplicated, none lost
        assert proxy.counts["500-after"] > 0
