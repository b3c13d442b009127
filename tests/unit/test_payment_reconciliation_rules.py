"""Payments against sales: the pure rules (statuses, Stripe's minor units, expected amounts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from productsync.domain.payment_reconciliation import (
    DISCREPANCIES,
    Outcome,
    PaymentKind,
    PricedLine,
    RecordFacts,
    Status,
    classify,
    classify_orphan,
    expected_payment,
    expected_refund,
    from_minor,
    stripe_amount,
    stripe_exponent,
    stripe_time,
    to_minor,
)
from productsync.domain.pricing import PriceEntry

D = Decimal
AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PAID, REFUNDED = PaymentKind.PAID, PaymentKind.REFUNDED
APPLIED, IGNORED, REFUSED = Outcome.APPLIED, Outcome.IGNORED, Outcome.REFUSED


def facts(
    kind=PAID,
    outcome=APPLIED,
    *,
    moved=True,
    amount=1000,
    currency="EUR",
    expected=1000,
    price="EUR",
    note=None,
    error=None,
) -> RecordFacts:  # type: ignore[no-untyped-def]
    return RecordFacts(kind, outcome, moved, amount, currency, expected, price, note, error)


@pytest.mark.parametrize(
    ("f", "status", "detail_has"),
    [
        (facts(), Status.MATCHED, ""),
        (facts(amount=999), Status.AMOUNT_MISMATCH, "paid 999, expected 1000 (-1)"),
        (facts(amount=1500), Status.AMOUNT_MISMATCH, "(+500)"),
        (facts(currency="USD"), Status.AMOUNT_MISMATCH, "paid in USD, the price list is in EUR"),
        (facts(expected=None, price=None), Status.AMOUNT_NOT_CHECKED, "no price list named"),
        (
            facts(expected=None, note="no price in force for SE-1"),
            Status.AMOUNT_NOT_CHECKED,
            "no price in force",
        ),
        (facts(amount=None), Status.AMOUNT_NOT_CHECKED, "no amount in the event"),
        (facts(moved=False), Status.PAYMENT_WITHOUT_SALE, "no ledger row"),
        (
            facts(moved=False, error="reservation r1 was already committed"),
            Status.PAYMENT_WITHOUT_SALE,
            "already",
        ),
        (
            facts(PAID, IGNORED, moved=False, error="no sku in metadata"),
            Status.PAYMENT_WITHOUT_SALE,
            "ignored: no sku",
        ),
        (
            facts(PAID, REFUSED, moved=False, error="reservation-expired: x"),
            Status.PAYMENT_WITHOUT_SALE,
            "refused",
        ),
        (facts(REFUNDED), Status.MATCHED, ""),
        (facts(REFUNDED, amount=10), Status.AMOUNT_MISMATCH, "expected 1000"),
        (facts(REFUNDED, moved=False), Status.REFUND_WITHOUT_RETURN, "no ledger row"),
        (facts(REFUNDED, REFUSED, moved=False, error="not-found"), Status.REFUND_WITHOUT_RETURN, "refused"),
        # Goods moved wins over a wrong amount: a payment without its sale is the bigger finding.
        (facts(moved=False, amount=1), Status.PAYMENT_WITHOUT_SALE, ""),
    ],
)
def test_each_payment_record_gets_one_status(f: RecordFacts, status: Status, detail_has: str) -> None:
    got, detail = classify(f)
    assert got is status
    assert detail_has in detail
    assert (detail == "") == (status is Status.MATCHED)


@pytest.mark.parametrize(
    ("kind", "status"), [("sale", Status.SALE_WITHOUT_PAYMENT), ("return", Status.RETURN_WITHOUT_REFUND)]
)
def test_unclaimed_ledger_rows_of_the_payment_source(kind: str, status: Status) -> None:
    assert classify_orphan(kind)[0] is status


def test_a_ledger_kind_a_payment_never_writes_is_not_an_orphan_kind() -> None:
    with pytest.raises(KeyError):
        classify_orphan("receipt")


def test_matched_and_unchecked_are_not_discrepancies_everything_else_is() -> None:
    assert Status.MATCHED not in DISCREPANCIES and Status.AMOUNT_NOT_CHECKED not in DISCREPANCIES
    assert len(DISCREPANCIES) == len(Status) - 2


@pytest.mark.parametrize(
    ("currency", "exponent", "amount", "minor"),
    [
        ("EUR", 2, D("12.34"), 1234),
        ("eur", 2, D("0.005"), 1),  # half up
        ("JPY", 0, D("500"), 500),
        ("KRW", 0, D("1000"), 1000),
        ("KWD", 3, D("5.125"), 5125),
        ("BHD", 3, D("1"), 1000),
        ("ISK", 2, D("5"), 500),  # ISO says no decimals; Stripe still counts hundredths
        ("USD", 2, D("19.99") * 3, 5997),
    ],
)
def test_stripe_minor_units(currency: str, exponent: int, amount: Decimal, minor: int) -> None:
    assert stripe_exponent(currency) == exponent
    assert to_minor(amount, currency) == minor
    assert from_minor(minor, currency) == amount.quantize(D(1).scaleb(-exponent), rounding=ROUND_HALF_UP)


@pytest.mark.parametrize(
    ("event_type", "obj", "expected"),
    [
        (
            "payment_intent.succeeded",
            {"amount": 1000, "amount_received": 900, "currency": "eur"},
            (900, "EUR"),
        ),
        ("payment_intent.succeeded", {"amount": 1000, "currency": "usd"}, (1000, "USD")),
        ("checkout.session.completed", {"amount_total": 4200, "currency": "jpy"}, (4200, "JPY")),
        ("charge.refunded", {"amount": 5000, "amount_refunded": 2000, "currency": "eur"}, (2000, "EUR")),
        (
            "payment_intent.succeeded",
            {"amount": True, "currency": "eur"},
            (None, "EUR"),
        ),  # a bool is no amount
        ("payment_intent.succeeded", {"amount": -5, "currency": "eur"}, (None, "EUR")),
        ("payment_intent.succeeded", {"amount": 10**30, "currency": "eur"}, (None, "EUR")),  # fits no column
        ("payment_intent.succeeded", {"amount": "1000", "currency": "euro"}, (None, None)),
        ("customer.created", {"amount": 1000, "currency": "eur"}, (None, "EUR")),
    ],
)
def test_what_a_stripe_object_says_was_paid(event_type: str, obj: dict, expected: tuple) -> None:  # type: ignore[type-arg]
    assert stripe_amount(event_type, obj) == expected


def test_the_payment_time_is_the_events_created_else_the_fallback() -> None:
    assert stripe_time({"created": 1_795_000_000}, AT) == datetime.fromtimestamp(1_795_000_000, UTC)
    for bad in ({}, {"created": "1795000000"}, {"created": True}, {"created": -1}, {"created": 10**15}):
        assert stripe_time(bad, AT) == AT


LIST = [
    PriceEntry(D(1), D("10.00")),
    PriceEntry(D(10), D("9.00")),  # a quantity tier
    PriceEntry(D(1), D("7.50"), AT - timedelta(days=1), AT + timedelta(days=1)),  # a promotion
]


@pytest.mark.parametrize(
    ("lines", "at", "expected_minor", "unit", "note"),
    [
        ([PricedLine("SE-1", LIST[:2], D(2))], AT, 2000, D("10.00"), None),
        ([PricedLine("SE-1", LIST[:2], D(10))], AT, 9000, D("9.00"), None),
        ([PricedLine("SE-1", LIST, D(2))], AT, 1500, D("7.50"), None),  # the promotion in force
        ([PricedLine("SE-1", LIST, D(2))], AT + timedelta(days=2), 2000, D("10.00"), None),  # after it
        (
            [PricedLine("SE-1", LIST[:2], D(1)), PricedLine("SE-2", [PriceEntry(D(1), D("0.333"))], D(1))],
            AT,
            1033,
            None,
            None,
        ),  # two lines: each rounded, summed; no single unit price
        ([PricedLine("SE-9", [], D(1))], AT, None, None, "no price in force for SE-9"),
        ([PricedLine("SE-9", [PriceEntry(D(5), D(1))], D(1))], AT, None, None, "no price in force"),
        ([], AT, None, None, "nothing priced"),
    ],
)
def test_the_expected_amount_is_quantity_times_the_price_in_force(
    lines: list[PricedLine], at: datetime, expected_minor: int | None, unit: Decimal | None, note: str | None
) -> None:
    got = expected_payment(lines, at, currency="EUR")
    assert got.expected_minor == expected_minor
    assert got.unit_amount == unit
    assert (got.note is None) if note is None else (note in (got.note or ""))


def test_the_expected_amount_follows_the_currencys_stripe_units() -> None:
    assert (
        expected_payment(
            [PricedLine("X", [PriceEntry(D(1), D(500))], D(3))], AT, currency="JPY"
        ).expected_minor
        == 1500
    )
    assert (
        expected_payment(
            [PricedLine("X", [PriceEntry(D(1), D("1.5"))], D(1))], AT, currency="KWD"
        ).expected_minor
        == 1500
    )


@pytest.mark.parametrize(
    ("unit", "quantity", "currency", "expected_minor"),
    [
        (D("7.50"), D(1), "EUR", 750),
        (D("9.00"), D(3), "EUR", 2700),
        (None, D(1), "EUR", None),
        (D(1), D(1), None, None),
    ],
)
def test_a_refund_expects_the_paid_unit_price_per_unit_refunded(
    unit: Decimal | None, quantity: Decimal, currency: str | None, expected_minor: int | None
) -> None:
    got = expected_refund(unit, quantity, currency=currency)
    assert got.expected_minor == expected_minor
    assert (got.note is None) == (expected_minor is not None)
