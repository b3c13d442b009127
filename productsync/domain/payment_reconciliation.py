"""Payments against sales: the pure rules of the reconciliation.

Every payment event the hub takes (Stripe) leaves a *payment record*: what was paid or
refunded (integer minor units of the payment's currency), for what, which ledger rows it
produced, and the amount the hub expected. The report puts each record and each ledger
row of the payment source side by side and gives each pair one status (``STATUSES``):

- ``matched``: a payment with its sale (a refund with its return) and the amount equal to
  the expected one;
- ``amount_not_checked``: the goods moved but there was no expected amount to compare
  with (no price list named, no price in force, no amount in the event): never counted
  as a mismatch;
- ``amount_mismatch``: the amount differs from the expected one, or the payment is in a
  currency other than the price list's;
- ``payment_without_sale``: money taken, no sale in the ledger (the event was ignored or
  refused: no SKU, an unknown product, a reservation already expired ...);
- ``refund_without_return``: money given back, no return in the ledger;
- ``sale_without_payment``: a sale movement written by the payment source (ledger origin
  ``stripe``, which includes the reservations a payment committed) that no payment record
  claims;
- ``return_without_refund``: the same for a return movement of the payment source.

The expected amount of a payment is the sum over what it bought of quantity x the unit
price in force on the price list at the payment's time (``pricing.resolve``: windows,
tiers), rounded to the currency's minor unit. A refund expects the paid unit price x the
quantity refunded.

Stripe amounts are integers in the currency's smallest unit *as Stripe counts it*
(https://docs.stripe.com/currencies): zero-decimal currencies (JPY, KRW ...) as is,
the three-decimal ones (BHD, JOD, KWD, OMR, TND) x 1000, every other x 100 - including
ISK, which ISO 4217 (and ``money.minor_units``) gives no decimals but Stripe still counts
in hundredths.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from productsync.domain.pricing import PriceEntry, resolve


class PaymentKind(StrEnum):
    PAID = "paid"
    REFUNDED = "refunded"


class Outcome(StrEnum):
    """What the hub did with the event: recorded its goods, had nothing to record, or refused it."""

    APPLIED = "applied"
    IGNORED = "ignored"
    REFUSED = "refused"


class Status(StrEnum):
    MATCHED = "matched"
    AMOUNT_NOT_CHECKED = "amount_not_checked"
    AMOUNT_MISMATCH = "amount_mismatch"
    PAYMENT_WITHOUT_SALE = "payment_without_sale"
    REFUND_WITHOUT_RETURN = "refund_without_return"
    SALE_WITHOUT_PAYMENT = "sale_without_payment"
    RETURN_WITHOUT_REFUND = "return_without_refund"


STATUSES = tuple(Status)
# Statuses that need a person (matched and not-checked pairs do not).
DISCREPANCIES = frozenset(STATUSES) - {Status.MATCHED, Status.AMOUNT_NOT_CHECKED}


@dataclass(frozen=True)
class PaymentRecord:
    """What accounting needs of one payment event (a row of ``payment_records``)."""

    id: uuid.UUID
    source: str
    event_id: str
    payment_ref: str
    kind: PaymentKind
    outcome: Outcome
    amount_minor: int | None
    currency: str | None
    occurred_at: datetime
    recorded_at: datetime
    product_id: uuid.UUID | None = None
    sku: str | None = None
    quantity: Decimal | None = None
    reservation_id: uuid.UUID | None = None
    owner_partner_id: uuid.UUID | None = None
    price_list_id: uuid.UUID | None = None
    price_currency: str | None = None
    unit_amount: Decimal | None = None
    expected_minor: int | None = None
    check_note: str | None = None
    error: str | None = None


# --- Stripe's minor units ------------------------------------------------------------------

STRIPE_ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
STRIPE_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


def stripe_exponent(currency: str) -> int:
    """Digits Stripe's integer amounts carry for ``currency`` (see module doc)."""
    code = currency.upper()
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    return 3 if code in STRIPE_THREE_DECIMAL else 2


def to_minor(amount: Decimal, currency: str) -> int:
    """A decimal amount as Stripe's integer (half up to the last digit Stripe counts)."""
    return int((amount.scaleb(stripe_exponent(currency))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_minor(minor: int, currency: str) -> Decimal:
    """Stripe's integer as a decimal amount, for people and accounting files."""
    return Decimal(minor).scaleb(-stripe_exponent(currency))


# --- what a Stripe event says was paid -----------------------------------------------------

# Which field of the event's object holds the amount, per event type. A refund's charge
# carries ``amount_refunded``: the total refunded so far (the caller takes what earlier
# refund events already recorded off it).
AMOUNT_FIELDS: dict[str, tuple[str, ...]] = {
    "payment_intent.succeeded": ("amount_received", "amount"),
    "checkout.session.completed": ("amount_total",),
    "charge.refunded": ("amount_refunded",),
}


# Far above any amount Stripe accepts (8 digits): larger is no amount, and would not fit a BIGINT.
AMOUNT_MINOR_MAX = 10**15


def stripe_amount(event_type: str, obj: dict[str, Any]) -> tuple[int | None, str | None]:
    """(amount in minor units, upper-case currency) of a Stripe object; None where absent
    or not an integer (a bool is not an amount)."""
    amount: int | None = None
    for name in AMOUNT_FIELDS.get(event_type, ()):
        raw = obj.get(name)
        if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= AMOUNT_MINOR_MAX:
            amount = raw
            break
    currency = obj.get("currency")
    code = (
        currency.upper() if isinstance(currency, str) and len(currency) == 3 and currency.isalpha() else None
    )
    return amount, code


def stripe_time(event: dict[str, Any], fallback: datetime) -> datetime:
    """When the payment happened: the event's ``created`` (Unix seconds), else ``fallback``."""
    raw = event.get("created")
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 < raw < 253402300800:
        return datetime.fromtimestamp(raw, UTC)
    return fallback


# --- the expected amount -------------------------------------------------------------------


@dataclass(frozen=True)
class PricedLine:
    """One thing a payment bought: its entries on the price list, and how many."""

    label: str
    entries: list[PriceEntry]
    quantity: Decimal


@dataclass(frozen=True)
class Expectation:
    """What the hub expected to be paid: ``expected_minor`` in the price list's currency
    (``unit_amount`` when one product was bought), or ``note`` saying why there is none."""

    expected_minor: int | None = None
    unit_amount: Decimal | None = None
    note: str | None = None


def expected_payment(lines: list[PricedLine], at: datetime, *, currency: str) -> Expectation:
    """Sum of quantity x the unit price in force at ``at`` over ``lines`` (each line's
    total rounded to the minor unit first, as an order's lines are)."""
    if not lines:
        return Expectation(note="nothing priced")
    total = 0
    units: list[Decimal] = []
    for line in lines:
        candidates = [e for e in line.entries if e.valid_at(at) and e.min_quantity <= line.quantity]
        if not candidates:
            return Expectation(note=f"no price in force for {line.label} at {at.isoformat()}"[:300])
        resolved = resolve(line.entries, line.quantity, at, currency=currency, ref=line.label)
        total += to_minor(resolved.unit_amount * line.quantity, currency)
        units.append(resolved.unit_amount)
    return Expectation(expected_minor=total, unit_amount=units[0] if len(units) == 1 else None)


def expected_refund(unit_amount: Decimal | None, quantity: Decimal, *, currency: str | None) -> Expectation:
    """A refund gives back the paid unit price for each unit refunded."""
    if unit_amount is None or currency is None:
        return Expectation(note="the payment's unit price is not known")
    return Expectation(expected_minor=to_minor(unit_amount * quantity, currency), unit_amount=unit_amount)


# --- one status per pair -------------------------------------------------------------------


@dataclass(frozen=True)
class RecordFacts:
    """What the report knows of one payment record (and whether ledger rows name it)."""

    kind: PaymentKind
    outcome: Outcome
    moved: bool
    amount_minor: int | None
    currency: str | None
    expected_minor: int | None
    price_currency: str | None
    check_note: str | None = None
    error: str | None = None


def _amount_status(f: RecordFacts) -> tuple[Status, str]:
    if f.amount_minor is None or f.currency is None:
        return Status.AMOUNT_NOT_CHECKED, "no amount in the event"
    if f.expected_minor is None:
        return Status.AMOUNT_NOT_CHECKED, f.check_note or "no price list named"
    if f.price_currency is not None and f.price_currency != f.currency:
        return Status.AMOUNT_MISMATCH, f"paid in {f.currency}, the price list is in {f.price_currency}"
    if f.amount_minor != f.expected_minor:
        diff = f.amount_minor - f.expected_minor
        return Status.AMOUNT_MISMATCH, f"paid {f.amount_minor}, expected {f.expected_minor} ({diff:+d})"
    return Status.MATCHED, ""


def _without_goods(f: RecordFacts) -> str:
    if f.outcome is Outcome.REFUSED:
        return f"the event was refused: {f.error or 'error'}"
    if f.outcome is Outcome.IGNORED:
        return f"the event was ignored: {f.error or 'nothing to record'}"
    return f.error or "no ledger row names this payment"


# Per kind: the status when no ledger row names the record.
_NO_GOODS: dict[PaymentKind, Status] = {
    PaymentKind.PAID: Status.PAYMENT_WITHOUT_SALE,
    PaymentKind.REFUNDED: Status.REFUND_WITHOUT_RETURN,
}


def classify(f: RecordFacts) -> tuple[Status, str]:
    """A payment record's status and a one-line reason (empty when matched)."""
    if not f.moved:
        return _NO_GOODS[f.kind], _without_goods(f)
    return _amount_status(f)


# Ledger rows of the payment source nobody claims, by movement kind.
ORPHANS: dict[str, Status] = {
    "sale": Status.SALE_WITHOUT_PAYMENT,
    "return": Status.RETURN_WITHOUT_REFUND,
}


def classify_orphan(movement_kind: str) -> tuple[Status, str]:
    status = ORPHANS[movement_kind]
    what = "sale" if status is Status.SALE_WITHOUT_PAYMENT else "return"
    return status, f"a {what} of the payment source that no payment record claims"


# --- the accounting file -------------------------------------------------------------------

CSV_COLUMNS = (
    "status",
    "detail",
    "kind",
    "occurred_at",
    "source",
    "payment_ref",
    "event_id",
    "currency",
    "amount_minor",
    "amount",
    "expected_minor",
    "expected_amount",
    "price_list_id",
    "sku",
    "product_id",
    "quantity",
    "reservation_id",
    "movement_ids",
    "moved_quantity",
)
