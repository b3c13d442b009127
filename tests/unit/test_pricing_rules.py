from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from productsync.domain.errors import Conflict, InvalidInput, NotFound
from productsync.domain.pricing import PriceEntry, check_entries, resolve

T0 = datetime(2026, 11, 20, tzinfo=UTC)
D = Decimal

BASE = [PriceEntry(D(1), D("10.00")), PriceEntry(D(10), D("9.00")), PriceEntry(D(50), D("8.00"))]
PROMO = PriceEntry(D(1), D("7.50"), T0, T0 + timedelta(days=7))
SCHEDULED = PriceEntry(D(1), D("11.00"), T0 + timedelta(days=30), None)


@pytest.mark.parametrize(
    ("entries", "qty", "at", "unit", "promotion"),
    [
        (BASE, 1, T0, "10.00", False),
        (BASE, 9, T0, "10.00", False),
        (BASE, 10, T0, "9.00", False),
        (BASE, 500, T0, "8.00", False),
        (BASE + [PROMO], 1, T0 + timedelta(days=1), "7.50", True),
        (BASE + [PROMO], 20, T0 + timedelta(days=1), "7.50", True),
        (BASE + [PROMO], 1, T0 + timedelta(days=7), "10.00", False),  # valid_to is exclusive
        (BASE + [PROMO], 1, T0 - timedelta(seconds=1), "10.00", False),
        (BASE + [SCHEDULED], 1, T0 + timedelta(days=31), "11.00", True),
        (BASE + [SCHEDULED, PROMO], 1, T0 + timedelta(days=2), "7.50", True),
    ],
)
def test_the_most_recently_started_entry_then_the_highest_tier_wins(
    entries: list[PriceEntry], qty: int, at: datetime, unit: str, promotion: bool
) -> None:
    r = resolve(entries, D(qty), at, currency="EUR")
    assert r.unit_amount == D(unit)
    assert r.entry.is_promotion is promotion
    assert r.total == D(unit) * qty


def test_a_promotion_reports_the_regular_price_beside_it() -> None:
    r = resolve(BASE + [PROMO], D(1), T0 + timedelta(hours=1), currency="EUR")
    assert r.regular_unit_amount == D("10.00")


def test_totals_are_rounded_to_the_currency_minor_unit() -> None:
    r = resolve([PriceEntry(D("0.1"), D("0.33"))], D("0.5"), T0, currency="EUR")
    assert r.total == D("0.17")


def test_no_price_for_the_quantity_or_instant_is_not_found() -> None:
    with pytest.raises(NotFound):
        resolve([PriceEntry(D(12), D("5.00"))], D(1), T0, currency="EUR")
    with pytest.raises(InvalidInput):
        resolve(BASE, D(0), T0, currency="EUR")
    with pytest.raises(InvalidInput, match="UTC offset"):
        resolve(BASE, D(1), datetime(2026, 1, 1), currency="EUR")


@pytest.mark.parametrize(
    "entries",
    [
        [PriceEntry(D(1), D("1.001"))],
        [PriceEntry(D(0), D("1.00"))],
        [PriceEntry(D(1), D("-1"))],
        [PriceEntry(D(1), D("1"), T0, T0)],
        [PriceEntry(D(1), D("1"), datetime(2026, 1, 1), None)],
    ],
)
def test_invalid_tier_sets_are_refused(entries: list[PriceEntry]) -> None:
    with pytest.raises(InvalidInput):
        check_entries("EUR", entries)


def test_a_repeated_tier_and_window_is_a_conflict() -> None:
    with pytest.raises(Conflict):
        check_entries("EUR", [PriceEntry(D(1), D("1")), PriceEntry(D(1), D("2"))])


@pytest.mark.parametrize(
    "entry",
    [
        PriceEntry(D(1), D("3.4e264")),
        PriceEntry(D(1), D("1"), datetime.fromisoformat("0001-01-01T00:00:00+05:00"), None),
        PriceEntry(D(1), D("1"), None, datetime.fromisoformat("9999-12-31T23:00:00-05:00")),
    ],
)
def test_amounts_and_instants_beyond_what_can_be_stored_are_refused(entry: PriceEntry) -> None:
    with pytest.raises(InvalidInput):
        check_entries("EUR", [entry])
