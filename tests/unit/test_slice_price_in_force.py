"""``channel_slices.fast_price_in_force`` (tier rows as read, the reconciliation slice's
hot path) computes exactly ``pricing.price_in_force`` for any tier set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql

from productsync.domain.pricing import PriceEntry, price_in_force
from productsync.domain.quantities import BaseUnit
from productsync.services.channel_slices import _quantity, fast_price_in_force
from productsync.store.types import Quantity

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
_instants = st.one_of(st.none(), st.integers(-5, 5).map(lambda d: NOW + timedelta(days=d)))
_row = st.tuples(
    st.sampled_from([1, 500, 1000, 1500, 2000, 10_000, 250_000]),  # scaled thousandths
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(999), places=2).map(str),
    _instants,
    _instants,
)


def _entries(rows: list[tuple[int, str, datetime | None, datetime | None]]) -> list[PriceEntry]:
    return [PriceEntry(_quantity(q), Decimal(a), f, t) for q, a, f, t in rows]


@settings(max_examples=400, deadline=None)
@given(rows=st.lists(_row, min_size=1, max_size=4), unit=st.sampled_from(list(BaseUnit)))
def test_fast_price_in_force_is_price_in_force(rows, unit) -> None:  # type: ignore[no-untyped-def]
    rows = [(q, a, f, t) for q, a, f, t in rows if not (f and t and t <= f)]  # as check_entries allows
    if not rows:
        return
    expected = price_in_force(_entries(rows), NOW, currency="EUR", base_unit=unit)
    assert fast_price_in_force(rows, NOW, currency="EUR", base_unit=unit) == expected


def test_one_open_ended_tier_above_one_piece_is_no_price_for_a_piece() -> None:
    rows = [(2000, "5.00", None, None)]
    assert fast_price_in_force(rows, NOW, currency="EUR", base_unit=BaseUnit.PIECE) is None
    assert price_in_force(_entries(rows), NOW, currency="EUR", base_unit=BaseUnit.PIECE) is None
    by_measure = fast_price_in_force(rows, NOW, currency="EUR", base_unit=BaseUnit.MILLILITRE)
    assert by_measure is not None and by_measure.amount == Decimal("5.00")


def test_quantity_reads_like_the_column() -> None:
    column = Quantity()
    for q in (0, 1, 1000, 1500, 250_000, 10**15):
        read = column.process_result_value(q, postgresql.dialect())
        assert str(_quantity(q)) == str(read)
