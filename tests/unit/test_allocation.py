"""The pure steps around allocation (domain/allocation.py): what lines need, what each
level can hold, and how holds of lot-tracked products are pinned to lots. No I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from productsync.domain.allocation import LotMap, Requested, free, needs, pin_lots
from productsync.domain.catalog import Component, Product, ProductKind, ProductStatus, TaxClass
from productsync.domain.channels import Channel, ChannelKind, ChannelStatus, ConflictPolicy
from productsync.domain.inventory import StockLevel
from productsync.domain.lots import Lot
from productsync.domain.quantities import BaseUnit
from productsync.domain.reservations import Hold, Need

D = Decimal
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
L1, L2, L3 = sorted(uuid.UUID(int=i) for i in (1, 2, 3))
P, Q, C1, C2, BUNDLE = (uuid.UUID(int=100 + i) for i in range(5))


def product(pid: uuid.UUID, *, backorders: bool = False, parts: tuple[Component, ...] = ()) -> Product:
    return Product(
        id=pid,
        sku=f"SE-{pid.int}",
        name="x",
        description="",
        category_id=uuid.UUID(int=9),
        owner_partner_id=uuid.UUID(int=8),
        base_unit=BaseUnit.PIECE,
        barcodes=(),
        texts={},
        tax_class=TaxClass.STANDARD,
        attributes={},
        status=ProductStatus.ACTIVE,
        version=1,
        created_at=NOW,
        updated_at=NOW,
        kind=ProductKind.BUNDLE if parts else ProductKind.SIMPLE,
        components=parts,
        allow_backorders=backorders,
    )


def level(pid: uuid.UUID, loc: uuid.UUID, on_hand: int, reserved: int = 0, safety: int = 0) -> StockLevel:
    return StockLevel(pid, loc, D(on_hand), D(reserved), D(safety), 1)


def channel(*locations: uuid.UUID) -> Channel:
    return Channel(
        id=uuid.UUID(int=7),
        name="shop",
        kind=ChannelKind.WEBHOOK,
        owner_partner_id=None,
        url=None,
        config={},
        partner_ids=(),
        category_ids=(),
        location_ids=locations,
        price_list_id=None,
        locale=None,
        buffer_stock=D(0),
        conflict_policy=ConflictPolicy.MASTER_WINS,
        status=ChannelStatus.ENABLED,
        version=1,
        created_at=NOW,
        updated_at=NOW,
    )


def lot(n: int, loc: uuid.UUID, expires: date, quantity: int, reserved: int = 0, pid: uuid.UUID = P) -> Lot:
    return Lot(uuid.UUID(int=1000 + n), pid, loc, f"LOT{n}", expires, D(quantity), D(reserved))


STOCKED = {P: [level(P, L2, 5), level(P, L1, 5)], C1: [level(C1, L1, 9)], C2: [level(C2, L3, 9)]}
PARTS = (Component(C1, D(1)), Component(C2, D(3)))
COMPONENTS = {C1: product(C1), C2: product(C2)}


@pytest.mark.parametrize(
    ("requested", "shop", "expected"),
    [
        pytest.param(
            [(product(P), D(2), None)],
            None,
            [Need(0, P, "SE-100", D(2), (L1, L2))],
            id="wherever stocked, in id order",
        ),
        pytest.param(
            [(product(P), D(2), L3)], None, [Need(0, P, "SE-100", D(2), (L3,))], id="the line's location only"
        ),
        pytest.param(
            [(product(P), D(2), None)],
            channel(L2),
            [Need(0, P, "SE-100", D(2), (L2,))],
            id="the channel's locations",
        ),
        pytest.param(
            [(product(Q), D(1), None)], None, [Need(0, Q, "SE-101", D(1), ())], id="stocked nowhere: nowhere"
        ),
        pytest.param(
            [(product(P, backorders=True), D(1), None)],
            None,
            [Need(0, P, "SE-100", D(1), (L1, L2), backorder=True)],
            id="backorders carried",
        ),
        pytest.param(
            [(product(P), D(1), None), (product(BUNDLE, parts=PARTS), D(2), None)],
            None,
            [
                Need(0, P, "SE-100", D(1), (L1, L2)),
                Need(1, C1, "SE-102", D(2), (L1,)),
                Need(1, C2, "SE-103", D(6), (L3,)),
            ],
            id="a bundle line needs each component times its quantity",
        ),
    ],
)
def test_needs(requested: list[Requested], shop: Channel | None, expected: list[Need]) -> None:
    assert needs(requested, COMPONENTS, STOCKED, shop) == expected


SOON, LATER, GONE = date(2026, 6, 3), date(2026, 9, 1), date(2026, 5, 31)


@pytest.mark.parametrize(
    ("lvl", "lot_map", "days", "expected"),
    [
        pytest.param(
            level(P, L1, 10, 3, 2), LotMap(set()), 0, D(5), id="untracked: on hand - reserved - safety"
        ),
        pytest.param(level(P, L1, 1, 3), LotMap(set()), 0, D(0), id="never below zero"),
        pytest.param(
            level(P, L1, 10),
            LotMap({P}, {(P, L1): [lot(1, L1, SOON, 4, 1), lot(2, L1, LATER, 2)]}),
            0,
            D(5),
            id="tracked: what its lots have free",
        ),
        pytest.param(
            level(P, L1, 3),
            LotMap({P}, {(P, L1): [lot(1, L1, LATER, 9)]}),
            0,
            D(3),
            id="tracked: never more than the level",
        ),
        pytest.param(
            level(P, L1, 10),
            LotMap({P}, {(P, L1): [lot(1, L1, GONE, 4), lot(2, L1, LATER, 2)]}),
            0,
            D(2),
            id="expired lots hold nothing",
        ),
        pytest.param(
            level(P, L1, 10),
            LotMap({P}, {(P, L1): [lot(1, L1, SOON, 4), lot(2, L1, LATER, 2)]}),
            30,
            D(2),
            id="lots short of the channel's shelf life hold nothing",
        ),
        pytest.param(level(P, L1, 10), LotMap({P}), 0, D(0), id="tracked without lots: nothing"),
    ],
)
def test_free(lvl: StockLevel, lot_map: LotMap, days: int, expected: Decimal) -> None:
    assert free({lvl.product_id: [lvl]}, lot_map, NOW, days) == {(lvl.product_id, lvl.location_id): expected}


A, B, X = lot(1, L1, SOON, 3), lot(2, L1, LATER, 10), lot(3, L1, GONE, 50)
TRACKED = LotMap({P}, {(P, L1): [B, X, A]})


@pytest.mark.parametrize(
    ("holds", "lot_map", "expected"),
    [
        pytest.param(
            {0: [Hold(P, L1, D(5))]}, LotMap(set()), {0: [Hold(P, L1, D(5))]}, id="untracked: as allocated"
        ),
        pytest.param(
            {0: [Hold(P, L1, D(5))]},
            TRACKED,
            {0: [Hold(P, L1, D(3), A.id), Hold(P, L1, D(2), B.id)]},
            id="first-expiring first, never the expired lot",
        ),
        pytest.param(
            {0: [Hold(P, L1, D(2))], 1: [Hold(P, L1, D(2))]},
            TRACKED,
            {0: [Hold(P, L1, D(2), A.id)], 1: [Hold(P, L1, D(1), A.id), Hold(P, L1, D(1), B.id)]},
            id="lines share the lots: a later line gets what is left",
        ),
        pytest.param(
            {0: [Hold(Q, L1, D(4)), Hold(P, L1, D(1))]},
            TRACKED,
            {0: [Hold(Q, L1, D(4)), Hold(P, L1, D(1), A.id)]},
            id="an untracked product beside a tracked one",
        ),
        pytest.param(
            {0: [Hold(P, L1, D(4))]},
            LotMap({P}, {(P, L1): [lot(1, L1, SOON, 3, 2), B]}),
            {0: [Hold(P, L1, D(1), A.id), Hold(P, L1, D(3), B.id)]},
            id="only what a lot has free",
        ),
    ],
)
def test_pin_lots(holds: dict[int, list[Hold]], lot_map: LotMap, expected: dict[int, list[Hold]]) -> None:
    assert pin_lots(holds, lot_map, NOW, 0) == expected


def test_pinning_more_than_the_eligible_lots_is_a_bug_not_a_partial_hold() -> None:
    with pytest.raises(AssertionError):
        pin_lots({0: [Hold(P, L1, D(14))]}, TRACKED, NOW, 0)
