"""Payment records: what accounting needs of each payment event, beside the sale it made.

``services/payments.py`` calls ``note`` in the transaction that records the event's sale
or return (or finds nothing to record), so a payment and its ledger rows commit together
or not at all; ``note_refusal`` records, in a transaction of its own, an event the hub
refused (its sale rolled back): money was taken and no goods moved, which is exactly
what the reconciliation must show.

Which price gives the expected amount: the price list named by the payment's metadata
``price_list_id``, else the hub's ``PRODUCTSYNC_STRIPE_PRICE_LIST_ID``, else none (the
amount is then "not checked", never a mismatch). It is resolved when the event is taken,
at the event's ``created`` time, and stored with the record: a later price change does not
rewrite what was expected. A refund expects the unit price its payment was checked with.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from productsync.domain.catalog import Product
from productsync.domain.errors import DomainError
from productsync.domain.payment_reconciliation import (
    Expectation,
    Outcome,
    PaymentKind,
    PaymentRecord,
    PricedLine,
    expected_payment,
    expected_refund,
    stripe_amount,
    stripe_time,
)
from productsync.domain.reservations import Reservation
from productsync.store.uow import UnitOfWork

SOURCE = "stripe"
REFUND_TYPES = frozenset({"charge.refunded"})
ERROR_MAX = 500
SKU_MAX = 64


@dataclass(frozen=True)
class Taken:
    """What the event did: the goods it concerned and the ledger rows it wrote."""

    outcome: Outcome
    product: Product | None = None
    quantity: Decimal | None = None
    reservation: Reservation | None = None
    movement_ids: tuple[int, ...] = ()
    note: str | None = None


def _kind(event_type: str) -> PaymentKind:
    return PaymentKind.REFUNDED if event_type in REFUND_TYPES else PaymentKind.PAID


def _price_list_id(meta: dict[str, str], default: uuid.UUID | None) -> tuple[uuid.UUID | None, str | None]:
    raw = meta.get("price_list_id")
    if not raw:
        return default, None
    try:
        return uuid.UUID(raw), None
    except ValueError:
        return None, "metadata.price_list_id is not a UUID"


async def _expect_paid(
    uow: UnitOfWork, list_id: uuid.UUID, taken: Taken, at: Any
) -> tuple[Expectation, str | None]:
    wanted: list[tuple[uuid.UUID, str, Decimal]] = []
    if taken.reservation is not None:
        wanted = [(line.product_id, line.sku, line.quantity) for line in taken.reservation.lines]
    elif taken.product is not None and taken.quantity is not None:
        wanted = [(taken.product.id, taken.product.sku, taken.quantity)]
    found = await uow.payments.price_list_entries(list_id, [w[0] for w in wanted])
    if found is None:
        return Expectation(note=f"price list {list_id} does not exist"), None
    currency, entries = found
    lines = [PricedLine(sku, entries.get(product_id, []), quantity) for product_id, sku, quantity in wanted]
    return expected_payment(lines, at, currency=currency), currency


async def _owner(uow: UnitOfWork, taken: Taken) -> uuid.UUID | None:
    """The one partner whose goods the payment bought; None when several (admins only)."""
    if taken.product is not None:
        return taken.product.owner_partner_id
    if taken.reservation is None:
        return None
    found = await uow.products.get_many({line.product_id for line in taken.reservation.lines})
    owners = {p.owner_partner_id for p in found.values()}
    return owners.pop() if len(owners) == 1 else None


async def note(
    uow: UnitOfWork,
    *,
    event_id: str,
    event: dict[str, Any],
    obj: dict[str, Any],
    meta: dict[str, str],
    payment_ref: str,
    taken: Taken,
    default_price_list_id: uuid.UUID | None,
) -> None:
    """Record the payment event beside what it moved (see the module doc)."""
    event_type = str(event.get("type") or "")
    kind = _kind(event_type)
    amount, currency = stripe_amount(event_type, obj)
    occurred_at = stripe_time(event, uow.now)
    if kind is PaymentKind.REFUNDED and amount is not None:
        # The charge carries the running total refunded; this event refunds the rest.
        amount = max(0, amount - await uow.payments.refunded_so_far(SOURCE, payment_ref))
    list_id, bad_list = _price_list_id(meta, default_price_list_id)
    expectation, price_currency = Expectation(note=bad_list or "no price list named"), None
    if kind is PaymentKind.REFUNDED and taken.quantity is not None:
        paid = await uow.payments.paid(SOURCE, payment_ref)
        if paid is not None and paid.unit_amount is not None:
            expectation = expected_refund(paid.unit_amount, taken.quantity, currency=paid.price_currency)
            list_id, price_currency = paid.price_list_id, paid.price_currency
        elif list_id is not None:
            expectation, price_currency = await _expect_paid(uow, list_id, taken, occurred_at)
    elif list_id is not None and taken.outcome is Outcome.APPLIED:
        expectation, price_currency = await _expect_paid(uow, list_id, taken, occurred_at)
    product = taken.product
    record = PaymentRecord(
        id=uuid.uuid4(),
        source=SOURCE,
        event_id=event_id,
        payment_ref=payment_ref,
        kind=kind,
        outcome=taken.outcome,
        amount_minor=amount,
        currency=currency,
        occurred_at=occurred_at,
        recorded_at=uow.now,
        product_id=product.id if product else None,
        sku=product.sku if product else (meta.get("sku") or None),
        quantity=taken.quantity,
        reservation_id=taken.reservation.id if taken.reservation else None,
        owner_partner_id=await _owner(uow, taken),
        price_list_id=list_id,
        price_currency=price_currency,
        unit_amount=expectation.unit_amount,
        expected_minor=expectation.expected_minor,
        check_note=expectation.note[:300] if expectation.note else None,
        error=taken.note[:ERROR_MAX] if taken.note else None,
    )
    await uow.payments.add(record, list(taken.movement_ids))


def _payment_ref(obj: dict[str, Any], event_id: str) -> str:
    for raw in (obj.get("payment_intent"), obj.get("id")):
        ref = raw.get("id") if isinstance(raw, dict) else raw
        if isinstance(ref, str) and 0 < len(ref) <= 255:
            return ref
    return event_id


async def note_refusal(uow: UnitOfWork, event: dict[str, Any], error: DomainError) -> bool:
    """Record a payment event the hub refused (in its own transaction, after the refused
    one rolled back): a payment without its sale. Only events the hub acts on with a
    usable id; a redelivery refused again keeps the first record, one taken later
    replaces it. Visible to admins only: the goods (and so the owner) are not known."""
    event_id = event.get("id")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    event_type = str(event.get("type") or "")
    acted_on = event_type in {"payment_intent.succeeded", "checkout.session.completed"} | REFUND_TYPES
    if (
        not isinstance(event_id, str)
        or not 0 < len(event_id) <= 255
        or not isinstance(obj, dict)
        or not acted_on
    ):
        return False
    if await uow.receipts.get(SOURCE, event_id) is not None:
        return False  # taken already (a racing delivery won): nothing was refused
    raw_meta = obj.get("metadata")
    meta = {str(k): str(v) for k, v in raw_meta.items()} if isinstance(raw_meta, dict) else {}
    amount, currency = stripe_amount(event_type, obj)
    record = PaymentRecord(
        id=uuid.uuid4(),
        source=SOURCE,
        event_id=event_id,
        payment_ref=_payment_ref(obj, event_id),
        kind=_kind(event_type),
        outcome=Outcome.REFUSED,
        amount_minor=amount,
        currency=currency,
        occurred_at=stripe_time(event, uow.now),
        recorded_at=uow.now,
        sku=(meta.get("sku") or "")[:SKU_MAX] or None,
        error=f"{error.code.value}: {error.detail}"[:ERROR_MAX],
    )
    await uow.payments.add_refused(record)
    return True
