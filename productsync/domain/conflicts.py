"""Conflict policies: what happens when a channel sends a change the hub may disagree with.

Each policy is a pure function of (the hub's current value, the channel's change) and
returns a decision; ``POLICIES`` maps the enum to the function, so adding a policy is
adding a row, not another branch in the inbound use case.

- ``master_wins``: the hub's data prevails; the channel is corrected by a push.
- ``last_write_wins``: the later UTC timestamp wins; on a tie the hub wins (deterministic).
- ``reject_stale``: the change names the version it was based on; older than the hub's → refused.
- ``merge``: stock deltas commute and apply; an absolute value becomes a delta against the
  value the channel based it on; non-stock fields fall back to ``last_write_wins``.
- ``manual_review``: nothing is applied; the change is queued for a person.

A sale is a fact, not an opinion: under every policy but ``manual_review`` a stock delta
reported by a channel (a sale, a return) is applied, because refusing it would not undo
the sale, only hide it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from productsync.domain.channels import ConflictPolicy
from productsync.domain.inventory import MovementKind


class ChangeKind(StrEnum):
    STOCK_DELTA = "stock_delta"  # a sale (-) or restock/return (+) at the channel
    STOCK_ABSOLUTE = "stock_absolute"  # "we count N"
    PRICE = "price"
    CONTENT = "content"  # names, descriptions, attributes


class InboundType(StrEnum):
    """What a channel reports, in its words."""

    SALE = "sale"
    RETURN = "return"
    RESTOCK = "restock"
    STOCK_COUNT = "stock_count"
    PRICE = "price"
    CONTENT = "content"


@dataclass(frozen=True)
class InboundMeaning:
    change: ChangeKind
    movement: MovementKind | None = None
    sign: int = 1  # for stock deltas: the quantity given is positive; a sale lowers stock


INBOUND: dict[InboundType, InboundMeaning] = {
    InboundType.SALE: InboundMeaning(ChangeKind.STOCK_DELTA, MovementKind.SALE, -1),
    InboundType.RETURN: InboundMeaning(ChangeKind.STOCK_DELTA, MovementKind.RETURN, 1),
    InboundType.RESTOCK: InboundMeaning(ChangeKind.STOCK_DELTA, MovementKind.RECEIPT, 1),
    InboundType.STOCK_COUNT: InboundMeaning(ChangeKind.STOCK_ABSOLUTE, MovementKind.COUNT),
    InboundType.PRICE: InboundMeaning(ChangeKind.PRICE),
    InboundType.CONTENT: InboundMeaning(ChangeKind.CONTENT),
}


class Resolution(StrEnum):
    """How a person settles a queued conflict."""

    KEEP_HUB = "keep_hub"
    TAKE_CHANNEL = "take_channel"
    CUSTOM = "custom"


class Outcome(StrEnum):
    APPLY = "apply"  # write ``value`` to the hub
    KEEP_HUB = "keep_hub"  # hub unchanged; push the hub's value back to the channel
    REJECT = "reject"  # refuse (409 with the hub's version)
    REVIEW = "review"  # queue for a person


@dataclass(frozen=True)
class HubValue:
    value: Any
    version: int
    updated_at: datetime


@dataclass(frozen=True)
class ChannelChange:
    kind: ChangeKind
    value: Any  # the delta for STOCK_DELTA, otherwise the new value
    changed_at: datetime
    based_on_version: int | None = None
    based_on_value: Any = None  # for merge of absolute stock: what the channel saw before


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    value: Any = None  # for APPLY: the hub's new value (for stock: the delta to apply)
    reason: str = ""


def _sale_is_a_fact(change: ChannelChange) -> Decision | None:
    if change.kind is ChangeKind.STOCK_DELTA:
        return Decision(Outcome.APPLY, change.value, "stock deltas report what happened; they always apply")
    return None


def master_wins(hub: HubValue, change: ChannelChange) -> Decision:
    fact = _sale_is_a_fact(change)
    if fact:
        return fact
    return Decision(Outcome.KEEP_HUB, hub.value, "the hub is the master; the channel is corrected")


def last_write_wins(hub: HubValue, change: ChannelChange) -> Decision:
    fact = _sale_is_a_fact(change)
    if fact:
        return fact
    if change.changed_at > hub.updated_at:
        return Decision(Outcome.APPLY, _as_write(change, hub), "the channel's change is newer")
    return Decision(Outcome.KEEP_HUB, hub.value, "the hub's value is as new or newer (ties go to the hub)")


def reject_stale(hub: HubValue, change: ChannelChange) -> Decision:
    fact = _sale_is_a_fact(change)
    if fact:
        return fact
    if change.based_on_version is None or change.based_on_version < hub.version:
        return Decision(
            Outcome.REJECT, hub.value, f"based on version {change.based_on_version}, hub is at {hub.version}"
        )
    return Decision(Outcome.APPLY, _as_write(change, hub), "based on the current version")


def merge(hub: HubValue, change: ChannelChange) -> Decision:
    fact = _sale_is_a_fact(change)
    if fact:
        return fact
    if change.kind is ChangeKind.STOCK_ABSOLUTE:
        if change.based_on_value is None:
            return Decision(
                Outcome.REJECT, hub.value, "an absolute count needs the value it was based on to merge"
            )
        delta = Decimal(change.value) - Decimal(change.based_on_value)
        return Decision(Outcome.APPLY, delta, f"merged as a delta of {delta} against what the channel saw")
    return last_write_wins(hub, change)


def manual_review(hub: HubValue, change: ChannelChange) -> Decision:
    return Decision(Outcome.REVIEW, None, "queued for a person to decide")


def _as_write(change: ChannelChange, hub: HubValue) -> Any:
    """What APPLY writes: stock writes are expressed as deltas so they commute with
    concurrent hub movements; other fields are written as given."""
    if change.kind is ChangeKind.STOCK_ABSOLUTE:
        return Decimal(change.value) - Decimal(hub.value)
    return change.value


POLICIES: dict[ConflictPolicy, Callable[[HubValue, ChannelChange], Decision]] = {
    ConflictPolicy.MASTER_WINS: master_wins,
    ConflictPolicy.LAST_WRITE_WINS: last_write_wins,
    ConflictPolicy.REJECT_STALE: reject_stale,
    ConflictPolicy.MERGE: merge,
    ConflictPolicy.MANUAL_REVIEW: manual_review,
}


def decide(policy: ConflictPolicy, hub: HubValue, change: ChannelChange) -> Decision:
    return POLICIES[policy](hub, change)
