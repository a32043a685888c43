"""Hedged reads of the head (``recovery_lib.hedge``; J. Dean and L. A. Barroso, "The Tail at
Scale", CACM 2013). Driven by events, not by timing bounds: the Hedger's delays here are
either 0 (hedge at once) or an hour (never hedge before the first answer arrives)."""
from __future__ import annotations

import threading

import pytest

from recovery_lib import S3Options
from recovery_lib.errors import CheckpointNotFound, RegionUnavailable
from recovery_lib.hedge import Hedger
from tests.reliability.conftest import Buckets
from tests.reliability.http_fault_proxy import HttpFaultProxy
from tests.support.fault_proxy import FaultProxy

HOUR = 3600.0


def test_a_first_answer_before_the_delay_is_never_hedged():
    asked = []
    result = Hedger().run(lambda: "primary", lambda: asked.append(1) or "secondary", delay=HOUR)
    assert result == ("primary", 0) and asked == []


def test_a_first_error_before_the_delay_is_raised_as_is():
    def fail() -> str:
        raise RegionUnavailable("down")

    with pytest.raises(RegionUnavailable, match="down"):
        Hedger().run(fail, lambda: "secondary", delay=HOUR)


def test_the_second_answers_while_the_first_hangs():
    release = threading.Event()
    result = Hedger().run(lambda: release.wait(HOUR) and "late", lambda: "secondary", delay=0)
    release.set()
    assert result == ("secondary", 1)


def test_a_failed_hedge_waits_for_the_first():
    release = threading.Event()

    def first() -> str:
        release.wait(HOUR)
        return "primary"

    def second() -> str:
        release.set()  # the first answers only after the hedge has failed
        raise CheckpointNotFound("no head there")

    assert Hedger().run(first, second, delay=0) == ("primary", 0)


def test_both_failing_raise_the_first_regions_error():
    def first() -> str:
        raise RegionUnavailable("primary down")

    def second() -> str:
        raise CheckpointNotFound("no head there")

    gate = threading.Event()

    def slow_first() -> str:
        gate.wait(HOUR)
        return first()

    def unblocking_second() -> str:
        gate.set()
        return second()

    with pytest.raises(RegionUnavailable, match="primary down"):
        Hedger().run(slow_first, unblocking_second, delay=0)


OPTIONS = S3Options(connect_timeout=0.5, metadata_timeout=0.5, read_timeout=2.0,
                    breaker_cooldown=600)  # max_attempts stays 3


def test_black_holed_primary_the_head_is_hedged_before_its_breaker_opens(moto_server):
    """The load is served by the secondary while the primary's call is still retrying
    (its breaker is still closed when the load returns); that call's failure alone opens
    the breaker afterwards: the hedge itself never fails a region over."""
    with FaultProxy(moto_server.address) as primary:
        buckets = Buckets(moto_server.url, primary_endpoint=primary.url)
        buckets.store(OPTIONS).save("job/state", {"step": 1})
        buckets.replicate()
        primary.set_mode("blackhole")
        store = buckets.store(OPTIONS)
        data, info = store.load_with_info("job/state")
        assert data == {"step": 1} and info.region == "secondary"
        breaker = store.policy.breakers["primary"]
        assert breaker.state == "closed"
        store._hedger.wait_idle()  # the primary's call runs to its end
        assert breaker.state == "open"


def test_a_healthy_primary_is_never_hedged(moto_server):
    with HttpFaultProxy(moto_server.address, rate=0.0) as secondary:
        buckets = Buckets(moto_server.url, secondary_endpoint=secondary.url)
        store = buckets.store(OPTIONS)
        store._reconcile_due = False
        for i in range(5):
            store.save(f"job/{i}", {"step": i})
        for i in range(5):
            assert store.load(f"job/{i}") == {"step": i}
        assert secondary.counts["forwarded"] == 0
