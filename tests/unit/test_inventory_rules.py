import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from productsync.domain.errors import CompareFailed, InsufficientStock, InvalidInput
from productsync.domain.inventory import MovementKind, StockLevel, check_delta, empty_level, totals

P, L = uuid.uuid4(), uuid.uuid4()


def level(on_hand: int, reserved: int = 0, safety: int = 0) -> StockLevel:
    return StockLevel(P, L, Decimal(on_hand), Decimal(reserved), Decimal(safety), 1)


@pytest.mark.parametrize(
    ("on_hand", "reserved", "safety", "available"),
    [(10, 0, 0, 10), (10, 3, 2, 5), (10, 8, 5, 0), (0, 0, 4, 0)],
)
def test_available_is_on_hand_minus_reserved_and_safety_never_below_zero(
    on_hand: int, reserved: int, safety: int, available: int
) -> None:
    assert level(on_hand, reserved, safety).available == available


@pytest.mark.parametrize(
    ("kind", "delta", "ok"),
    [
        (MovementKind.RECEIPT, 5, True),
        (MovementKind.RECEIPT, -5, False),
        (MovementKind.RETURN, 1, True),
        (MovementKind.RETURN, -1, False),
        (MovementKind.SALE, -2, True),
        (MovementKind.SALE, 2, False),
        (MovementKind.ADJUSTMENT, -2, True),
        (MovementKind.ADJUSTMENT, 2, True),
        (MovementKind.ADJUSTMENT, 0, False),
    ],
)
def test_each_movement_kind_allows_only_its_sign(kind: MovementKind, delta: int, ok: bool) -> None:
    if ok:
        check_delta(kind, Decimal(delta))
    else:
        with pytest.raises(InvalidInput):
            check_delta(kind, Decimal(delta))


def test_a_change_that_would_go_negative_is_refused_with_the_numbers() -> None:
    with pytest.raises(InsufficientStock) as err:
        level(3).apply(Decimal(-4))
    assert err.value.data["on_hand"] == "3" and err.value.data["requested_delta"] == "-4"


def test_compare_and_set_fails_when_the_value_moved() -> None:
    new, diff = level(7).set_to(Decimal(10), compare=Decimal(7))
    assert (new.on_hand, diff, new.version) == (10, 3, 2)
    with pytest.raises(CompareFailed):
        level(7).set_to(Decimal(10), compare=Decimal(6))


def test_totals_sum_availability_per_location() -> None:
    t = totals([level(10, 2, 0), level(1, 0, 5)])
    assert (t.on_hand, t.reserved, t.safety_stock, t.available) == (11, 2, 5, 8)


@given(st.lists(st.integers(min_value=-50, max_value=50), max_size=200))
def test_any_sequence_of_changes_keeps_stock_non_negative_and_equal_to_the_ledger(deltas: list[int]) -> None:
    current = empty_level(P, L)
    ledger: list[Decimal] = []
    for d in deltas:
        try:
            current = current.apply(Decimal(d))
        except InsufficientStock:
            assert current.on_hand + d < 0  # refused only when it would really go negative
            continue
        ledger.append(Decimal(d))
        assert current.on_hand >= 0
        assert current.available >= 0
    assert sum(ledger, Decimal(0)) == current.on_hand
    assert current.version == len(ledger)
