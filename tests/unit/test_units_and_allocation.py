"""Unit conversion (exact round trips and refusals) and the allocation rule, without I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from productsync.domain.errors import InsufficientStock, InvalidInput
from productsync.domain.lots import Lot, take_fefo
from productsync.domain.quantities import BaseUnit
from productsync.domain.reservations import Need, allocate
from productsync.domain.units import to_base

D = Decimal


@given(st.integers(min_value=1, max_value=10**9))
def test_millilitres_to_litres_and_back_is_exact(ml: int) -> None:
    litres = to_base(D(ml), "ml", base=BaseUnit.LITRE)  # 1 ml = 0.001 l: always representable
    assert litres * 1000 == ml
    assert to_base(litres, "l", base=BaseUnit.MILLILITRE) == ml


@pytest.mark.parametrize(
    ("quantity", "unit", "base", "expected"),
    [
        ("1.5", "l", BaseUnit.MILLILITRE, D(1500)),
        ("250", "g", BaseUnit.KILOGRAM, D("0.25")),
        ("3", "cl", BaseUnit.MILLILITRE, D(30)),
        ("2", "pcs", BaseUnit.PIECE, D(2)),
    ],
)
def test_compatible_units_convert_exactly(
    quantity: str, unit: str, base: BaseUnit, expected: Decimal
) -> None:
    assert to_base(quantity, unit, base=base) == expected


@pytest.mark.parametrize(
    ("quantity", "unit", "base"),
    [
        ("1", "kg", BaseUnit.MILLILITRE),
        ("1", "fl oz", BaseUnit.MILLILITRE),
        ("1", "m**99", BaseUnit.METRE),
        ("1", "blorg", BaseUnit.GRAM),
        ("0.5", None, BaseUnit.PIECE),
        ("1", "ml", BaseUnit.PIECE),
    ],
)
def test_incompatible_inexact_or_unknown_units_are_refused(
    quantity: str, unit: str | None, base: BaseUnit
) -> None:
    with pytest.raises(InvalidInput):
        to_base(quantity, unit, base=base)


def test_packs_convert_to_base_units_and_are_whole() -> None:
    assert to_base(2, "6-pack", base=BaseUnit.PIECE, packs={"6-pack": D(6)}) == 12
    with pytest.raises(InvalidInput):
        to_base("0.5", "6-pack", base=BaseUnit.PIECE, packs={"6-pack": D(6)})


P, A, B = uuid.UUID(int=1), uuid.UUID(int=10), uuid.UUID(int=11)


def test_allocation_prefers_one_location_then_splits_and_names_short_lines() -> None:
    free = {(P, A): D(3), (P, B): D(5)}
    one = allocate([Need(0, P, "SKU", D(3), (A, B))], free)
    assert [(h.location_id, h.quantity) for h in one.holds[0]] == [(B, 3)]
    split = allocate([Need(0, P, "SKU", D(7), (A, B))], free)
    assert sorted((h.location_id, h.quantity) for h in split.holds[0]) == [(A, 2), (B, 5)]
    with pytest.raises(InsufficientStock) as caught:
        allocate([Need(0, P, "SKU", D(5), (A, B)), Need(1, P, "SKU", D(4), (A, B))], free)
    assert caught.value.data["short_lines"][0]["line"] == 1


def test_fefo_takes_the_first_expiring_eligible_lot() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    today = now.date()
    lots = [
        Lot(uuid.uuid4(), P, A, name, today + timedelta(days=days), D(q), D(0))
        for name, days, q in (("LATE", 300, 5), ("SOON", 20, 2), ("GONE", -1, 9))
    ]
    taken, left = take_fefo(lots, D(4), now)
    assert [(lot.lot_number, q) for lot, q in taken] == [("SOON", 2), ("LATE", 2)] and left == 0
    taken, left = take_fefo(lots, D(4), now, min_shelf_life_days=90)
    assert [(lot.lot_number, q) for lot, q in taken] == [("LATE", 4)]
