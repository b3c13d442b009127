"""A channel's stock snapshot is a ``stock.changed`` without a movement, directed at it."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from productsync.domain.events import EventType, stock_changed, stock_snapshot
from productsync.domain.inventory import StockLevel
from tests.unit.test_allocation import L1, NOW, D, P, product


def test_a_snapshot_is_a_stock_change_without_movement_for_one_channel() -> None:
    level = StockLevel(P, L1, D(7), D(2), D(1), 5, NOW)
    shop = uuid.uuid4()
    snap = stock_snapshot(product(P), level, location_code="WH-1", channel_id=shop, origin="hub")
    change = stock_changed(product(P), level, None, location_code="WH-1", origin="hub")
    assert snap.type is EventType.STOCK_CHANGED
    assert snap.channel_id == shop and change.channel_id is None
    assert snap.data == change.data and snap.data["movement"] is None
    assert snap.data["level"] == level.snapshot()
    assert snap.version == level.version == 5
    same = {k: v for k, v in asdict(snap).items() if k not in {"id", "channel_id"}}
    assert same == {k: v for k, v in asdict(change).items() if k not in {"id", "channel_id"}}
    assert snap.id != change.id  # every event has its own id
