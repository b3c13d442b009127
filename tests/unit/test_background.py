"""Background plumbing without I/O: the sweep backoff and the new-events signal."""

from __future__ import annotations

import asyncio

from productsync.bootstrap import NewEvents, SweepHealth


def test_a_failing_row_is_skipped_for_a_doubling_backoff_until_it_goes_through() -> None:
    now = [0.0]
    health = SweepHealth(first_backoff=30, max_backoff=100, timer=lambda: now[0])
    for expected in (30, 60, 100, 100):
        health.row_failed("lot-expiry", "L1", RuntimeError("books disagree"))
        (row,) = health.report()["lot-expiry"]["rows"]
        assert row["retry_in_seconds"] == expected and health.skipping("lot-expiry") == {"L1"}
        now[0] += expected
        assert health.skipping("lot-expiry") == set()
    health.row_done("lot-expiry", "L1")
    report = health.report()["lot-expiry"]
    assert report["failing_rows"] == 0 and report["processed"] == 1


async def test_streams_wake_when_a_newer_event_is_published_and_not_before() -> None:
    events = NewEvents()
    events.publish(5)
    assert await events.wait_past(4, timeout=0.01)  # already past: no wait
    assert not await events.wait_past(5, timeout=0.05)  # nothing newer: times out
    waiter = asyncio.create_task(events.wait_past(5, timeout=5))
    await asyncio.sleep(0.01)
    assert events.listeners == 1
    events.publish(5)  # not newer: still waiting
    await asyncio.sleep(0.01)
    assert not waiter.done()
    events.publish(6)
    assert await asyncio.wait_for(waiter, 1) and events.listeners == 0
