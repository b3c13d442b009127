"""Coalescing across channels and the claim's round-robin between channels (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from productsync.domain.deliveries import Queued, stale, superseded
from productsync.store.repositories.delivery_claims import round_robin

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_an_event_stale_for_one_channel_stays_live_for_another() -> None:
    # Event 5 went to both channels; only ch1 has a newer state (7) of the same thing queued.
    queue = [Queued(5, "ch1", "stock:p:L"), Queued(5, "ch2", "stock:p:L"), Queued(7, "ch1", "stock:p:L")]
    assert stale(queue) == {Queued(5, "ch1", "stock:p:L")}
    assert superseded(queue) == {5}  # by sequence number alone the two could not be told apart


def _row(i: int, channel: str, minutes: int) -> SimpleNamespace:
    return SimpleNamespace(id=i, channel_id=channel, next_attempt_at=T0 + timedelta(minutes=minutes))


def test_a_round_takes_each_channels_first_due_row_before_anyones_second() -> None:
    backlog = [_row(i, "recovered", -60 + i) for i in range(1, 11)]  # older than anything live
    live = [_row(100, "live", 0), _row(101, "live", 1)]
    other = [_row(200, "other", 5)]
    chosen = round_robin([*live, *backlog, *other], 5)
    assert chosen == [1, 100, 200, 2, 101]


def test_a_round_is_filled_by_one_channel_when_it_alone_has_due_rows() -> None:
    rows = [_row(i, "only", i) for i in range(1, 8)]
    assert round_robin(rows, 5) == [1, 2, 3, 4, 5]
    assert round_robin([], 5) == []
