"""The price in force, window boundaries, and the storefronts' sale fields (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from productsync.domain.pricing import PriceEntry, PriceInForce, boundaries, price_in_force
from productsync.domain.projection import ChannelView, shopify_price_fields, woocommerce_requests
from productsync.domain.quantities import BaseUnit

T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)
D = Decimal
H = timedelta(hours=1)

REGULAR = PriceEntry(D(1), D("10.00"))
BULK = PriceEntry(D(10), D("9.00"))
PROMO = PriceEntry(D(1), D("7.50"), T0, T0 + 24 * H)
FLASH = PriceEntry(D(1), D("6.00"), T0 + 2 * H, T0 + 3 * H)  # inside PROMO
SURCHARGE = PriceEntry(D(1), D("12.00"), T0, T0 + 24 * H)
CHANGE = PriceEntry(D(1), D("11.00"), T0 - 2 * H, None)  # a scheduled price change, no end


@pytest.mark.parametrize(
    ("entries", "at", "amount", "regular", "on_sale", "until"),
    [
        ([REGULAR, BULK, PROMO], T0 - H, "10.00", None, False, None),
        ([REGULAR, BULK, PROMO], T0, "7.50", "10.00", True, T0 + 24 * H),
        ([REGULAR, BULK, PROMO], T0 + 24 * H, "10.00", None, False, None),  # valid_to is exclusive
        ([REGULAR, PROMO, FLASH], T0 + 2 * H, "6.00", "10.00", True, T0 + 3 * H),
        ([REGULAR, PROMO, FLASH], T0 + 3 * H, "7.50", "10.00", True, T0 + 24 * H),
        ([REGULAR, SURCHARGE], T0 + H, "12.00", "10.00", False, T0 + 24 * H),  # dearer: not a sale
        ([REGULAR, CHANGE], T0 + H, "11.00", None, False, None),  # no end: a new regular price
        ([REGULAR, CHANGE, PROMO], T0 + H, "7.50", "11.00", True, T0 + 24 * H),
        ([PROMO], T0 + H, "7.50", None, False, T0 + 24 * H),  # nothing regular beside it
    ],
)
def test_the_price_in_force_names_the_regular_price_only_beside_a_window_that_ends(
    entries: list[PriceEntry],
    at: datetime,
    amount: str,
    regular: str | None,
    on_sale: bool,
    until: datetime | None,
) -> None:
    got = price_in_force(entries, at, currency="EUR", base_unit=BaseUnit.PIECE)
    assert got is not None
    assert got.amount == D(amount)
    assert got.regular_amount == (D(regular) if regular else None)
    assert got.on_sale is on_sale
    assert got.valid_to == until


def test_no_entry_in_force_is_no_price_and_measured_goods_use_their_smallest_tier() -> None:
    assert price_in_force([PROMO], T0 - H, currency="EUR", base_unit=BaseUnit.PIECE) is None
    assert price_in_force([], T0, currency="EUR", base_unit=BaseUnit.PIECE) is None
    per_ml = [PriceEntry(D(50), D("0.40")), PriceEntry(D(500), D("0.30"))]
    got = price_in_force(per_ml, T0, currency="EUR", base_unit=BaseUnit.MILLILITRE)
    assert got is not None and got.amount == D("0.40")


def test_boundaries_are_the_starts_and_ends_still_ahead_once_each_in_order() -> None:
    entries = [REGULAR, PROMO, FLASH, CHANGE]
    assert boundaries(entries, T0 - 3 * H) == [T0 - 2 * H, T0, T0 + 2 * H, T0 + 3 * H, T0 + 24 * H]
    assert boundaries(entries, T0) == [T0 + 2 * H, T0 + 3 * H, T0 + 24 * H]  # at "now": already in force
    assert boundaries(entries, T0 + 24 * H) == []


def test_the_snapshot_is_plain_json_with_the_window() -> None:
    got = PriceInForce(D("7.50"), "EUR", T0, T0 + H, D("10.00")).snapshot()
    assert got == {
        "amount": "7.50",
        "currency": "EUR",
        "valid_from": "2026-12-01T08:00:00+00:00",
        "valid_to": "2026-12-01T09:00:00+00:00",
        "regular_amount": "10.00",
    }


SALE = PriceInForce(D("7.50"), "EUR", T0, T0 + 24 * H, D("10.00"))
OVER = PriceInForce(D("10.00"), "EUR")


def _view(pif: PriceInForce) -> ChannelView:
    return ChannelView(sku="SE-1", external_ids=("1",), price=pif.amount, currency="EUR", price_in_force=pif)


def test_woocommerce_gets_its_sale_fields_during_a_cheaper_window_and_clears_them_after() -> None:
    [during] = woocommerce_requests("productsync.price.changed", _view(SALE), "794")
    assert during.body == {
        "regular_price": "10.00",
        "sale_price": "7.50",
        "date_on_sale_from_gmt": "2026-12-01T08:00:00",
        "date_on_sale_to_gmt": "2026-12-02T08:00:00",
    }
    [after] = woocommerce_requests("productsync.price.changed", _view(OVER), "794")
    assert after.body == {
        "regular_price": "10.00",
        "sale_price": "",
        "date_on_sale_from_gmt": "",
        "date_on_sale_to_gmt": "",
    }
    open_start = PriceInForce(D("7.50"), "EUR", None, T0, D("10.00"))
    [running] = woocommerce_requests("productsync.price.changed", _view(open_start), "794")
    assert running.body["date_on_sale_from_gmt"] == "" and running.body["sale_price"] == "7.50"


def test_shopify_gets_the_price_in_force_under_a_compare_at_price_only_during_a_sale() -> None:
    assert shopify_price_fields(_view(SALE)) == {"price": "7.50", "compareAtPrice": "10.00"}
    surcharge = PriceInForce(D("12.00"), "EUR", T0, T0 + H, D("10.00"))
    assert shopify_price_fields(_view(surcharge)) == {"price": "12.00", "compareAtPrice": None}
