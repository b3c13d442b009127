import random
from datetime import UTC, datetime, timedelta

import pytest

from productsync.domain.deliveries import (
    DISABLE_AFTER,
    MAX_ATTEMPTS,
    SCHEDULE,
    DeliveryStatus,
    Queued,
    after_failure,
    aggregate_key,
    parse_retry_after,
    superseded,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_the_schedule_backs_off_from_seconds_to_a_day_over_about_three_days() -> None:
    assert list(SCHEDULE) == sorted(SCHEDULE)
    assert SCHEDULE[0] == timedelta(seconds=5) and SCHEDULE[-1] == timedelta(hours=24)
    assert timedelta(days=3) < sum(SCHEDULE, timedelta()) < timedelta(days=4)


@pytest.mark.parametrize("attempt", range(1, MAX_ATTEMPTS))
def test_each_failure_schedules_the_next_try_within_the_jitter(attempt: int) -> None:
    step = after_failure(attempt, NOW, rng=random.Random(attempt))
    assert step.status is DeliveryStatus.PENDING and step.next_attempt_at is not None
    delay = step.next_attempt_at - NOW
    assert SCHEDULE[attempt - 1] * 0.8 <= delay <= SCHEDULE[attempt - 1] * 1.2


def test_after_the_last_try_the_delivery_is_dead() -> None:
    step = after_failure(MAX_ATTEMPTS, NOW)
    assert step.status is DeliveryStatus.DEAD and step.next_attempt_at is None


def test_retry_after_is_honoured_when_longer_and_capped_at_a_day() -> None:
    assert after_failure(1, NOW, retry_after=timedelta(minutes=5)).next_attempt_at == NOW + timedelta(
        minutes=5
    )
    capped = after_failure(1, NOW, retry_after=timedelta(days=9)).next_attempt_at
    assert capped == NOW + timedelta(hours=24)


def test_gone_kills_the_delivery_and_disables_the_channel_and_long_failure_disables_it_too() -> None:
    gone = after_failure(1, NOW, gone=True)
    assert gone.status is DeliveryStatus.DEAD and gone.disable_channel
    assert not after_failure(3, NOW, failing_since=NOW - timedelta(days=1)).disable_channel
    assert after_failure(3, NOW, failing_since=NOW - DISABLE_AFTER).disable_channel


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", timedelta(seconds=120)),
        ("Mon, 23 Nov 2026 12:10:00 GMT", timedelta(minutes=10)),
        ("soon", None),
        (None, None),
        ("Mon, 23 Nov 2026 11:00:00 GMT", timedelta(0)),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header: str | None, expected: timedelta | None) -> None:
    assert parse_retry_after(header, NOW) == expected


def test_only_older_states_of_the_same_thing_are_superseded() -> None:
    queue = [
        Queued(1, "ch1", "stock:p1:L1"),
        Queued(2, "ch1", "price:p1:list"),
        Queued(3, "ch1", "stock:p1:L1"),
        Queued(4, "ch2", "stock:p1:L1"),
        Queued(5, "ch1", "stock:p1:L2"),
        Queued(6, "ch1", "stock:p1:L1"),
        Queued(7, "ch1", None),
        Queued(8, "ch1", None),
    ]
    assert superseded(queue) == {1, 3}


@pytest.mark.parametrize(
    ("event_type", "data", "key"),
    [
        ("productsync.stock.changed", {"level": {"location_id": "L"}}, "stock:P:L"),
        ("productsync.price.changed", {"price_list_id": "PL"}, "price:P:PL"),
        ("productsync.product.updated", {}, "product:P"),
        ("productsync.product.archived", {}, "product:P"),
    ],
)
def test_the_aggregate_key_separates_levels_and_price_lists(event_type: str, data: dict, key: str) -> None:
    assert aggregate_key(event_type, data, "P") == key
    assert aggregate_key(event_type, data, None) is None
