from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from productsync.domain.channels import ConflictPolicy
from productsync.domain.conflicts import POLICIES, ChangeKind, ChannelChange, HubValue, Outcome, decide

T = datetime(2026, 11, 23, 12, tzinfo=UTC)
HUB_STOCK = HubValue(Decimal(10), version=5, updated_at=T)
HUB_PRICE = HubValue("12.90", version=5, updated_at=T)
P = ConflictPolicy


def change(
    kind: ChangeKind,
    value: object,
    *,
    at: datetime = T,
    based_on: int | None = None,
    based_on_value: object = None,
) -> ChannelChange:
    return ChannelChange(kind, value, at, based_on, based_on_value)


SALE = change(ChangeKind.STOCK_DELTA, Decimal(-2))
NEWER_PRICE = change(ChangeKind.PRICE, "11.90", at=T + timedelta(seconds=1), based_on=5)
OLDER_PRICE = change(ChangeKind.PRICE, "11.90", at=T - timedelta(seconds=1), based_on=4)
SAME_TIME_PRICE = change(ChangeKind.PRICE, "11.90", at=T, based_on=5)
COUNT = change(
    ChangeKind.STOCK_ABSOLUTE, Decimal(7), at=T + timedelta(seconds=1), based_on=5, based_on_value=Decimal(9)
)


@pytest.mark.parametrize(
    ("policy", "hub", "incoming", "outcome", "value"),
    [
        # a sale is a fact under every policy but manual review
        (P.MASTER_WINS, HUB_STOCK, SALE, Outcome.APPLY, Decimal(-2)),
        (P.LAST_WRITE_WINS, HUB_STOCK, SALE, Outcome.APPLY, Decimal(-2)),
        (P.REJECT_STALE, HUB_STOCK, SALE, Outcome.APPLY, Decimal(-2)),
        (P.MERGE, HUB_STOCK, SALE, Outcome.APPLY, Decimal(-2)),
        (P.MANUAL_REVIEW, HUB_STOCK, SALE, Outcome.REVIEW, None),
        # master wins: the channel is corrected
        (P.MASTER_WINS, HUB_PRICE, NEWER_PRICE, Outcome.KEEP_HUB, "12.90"),
        # last write wins, ties go to the hub
        (P.LAST_WRITE_WINS, HUB_PRICE, NEWER_PRICE, Outcome.APPLY, "11.90"),
        (P.LAST_WRITE_WINS, HUB_PRICE, OLDER_PRICE, Outcome.KEEP_HUB, "12.90"),
        (P.LAST_WRITE_WINS, HUB_PRICE, SAME_TIME_PRICE, Outcome.KEEP_HUB, "12.90"),
        # reject stale: the version decides
        (P.REJECT_STALE, HUB_PRICE, SAME_TIME_PRICE, Outcome.APPLY, "11.90"),
        (P.REJECT_STALE, HUB_PRICE, OLDER_PRICE, Outcome.REJECT, "12.90"),
        (P.REJECT_STALE, HUB_PRICE, change(ChangeKind.PRICE, "1.00"), Outcome.REJECT, "12.90"),
        # merge: an absolute count becomes a delta against what the channel saw (9 -> 7 = -2)
        (P.MERGE, HUB_STOCK, COUNT, Outcome.APPLY, Decimal(-2)),
        (P.MERGE, HUB_STOCK, change(ChangeKind.STOCK_ABSOLUTE, Decimal(7)), Outcome.REJECT, Decimal(10)),
        (P.MERGE, HUB_PRICE, NEWER_PRICE, Outcome.APPLY, "11.90"),
        # last write wins on an absolute count writes the difference to the hub's value (10 -> 7)
        (P.LAST_WRITE_WINS, HUB_STOCK, COUNT, Outcome.APPLY, Decimal(-3)),
        (P.MANUAL_REVIEW, HUB_PRICE, NEWER_PRICE, Outcome.REVIEW, None),
    ],
)
def test_each_policy_decides_by_its_rule(
    policy: ConflictPolicy, hub: HubValue, incoming: ChannelChange, outcome: Outcome, value: object
) -> None:
    decision = decide(policy, hub, incoming)
    assert decision.outcome is outcome
    assert decision.value == value
    assert decision.reason


def test_every_policy_has_a_rule() -> None:
    assert set(POLICIES) == set(ConflictPolicy)
