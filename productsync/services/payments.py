"""Payment gateway events (Stripe) turned into stock movements, once per event id.

``payment_intent.succeeded`` and ``checkout.session.completed`` record a sale;
``charge.refunded`` records a return (restockable) at the location of the sale. What
is sold comes from the object's metadata: ``sku``, ``quantity`` and optional
``location_id``; as SKUs are unique per partner, ``partner`` (its code) or ``product_id``
names the product when several partners use the SKU (else 409 ``ambiguous-sku``).
Without a location the sale is taken from the location with the most available stock
of that product. A checkout that reserved first names its reservation
instead, in metadata ``reservation_id`` or ``reservation_ref`` (the reservation's
``external_ref``, e.g. the order number): the sale event then commits that
reservation, whose holds become the sale. The signature is checked by the HTTP layer
before anything gets here.

A paid order is a sale that has happened: it goes through the same path as a channel's
sale (services/oversells.py), so what the hub lacks is recorded as an oversell (source
``stripe``, the payment as order reference), never refused. Anything malformed in the
metadata is a 4xx naming the field.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from productsync.domain.access import Actor, system_actor
from productsync.domain.errors import InvalidInput, NotFound
from productsync.domain.inventory import MovementKind
from productsync.domain.payment_reconciliation import Outcome
from productsync.domain.quantities import format_quantity
from productsync.domain.reservations import ReservationStatus
from productsync.services import catalog, oversells, payment_records, reservations, stock
from productsync.services.inbound_changes import InboundResult
from productsync.services.oversells import REASON_MAX
from productsync.services.payment_records import Taken
from productsync.store.uow import UnitOfWork

SOURCE = "stripe"
SALES = frozenset({"payment_intent.succeeded", "checkout.session.completed"})
REFUNDS = frozenset({"charge.refunded"})
_ACTOR: Actor = system_actor("stripe")
ID_MAX = 255  # inbound_receipts.event_id


def _metadata(obj: dict[str, Any]) -> dict[str, str]:
    raw = obj.get("metadata")
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _quantity(meta: dict[str, str]) -> Decimal:
    try:
        quantity = Decimal(meta.get("quantity", "1"))
    except InvalidOperation as exc:
        raise InvalidInput("metadata.quantity is not a number", field="metadata.quantity") from exc
    if not quantity.is_finite() or quantity <= 0:
        raise InvalidInput("metadata.quantity must be positive", field="metadata.quantity")
    return quantity


def _named_location(meta: dict[str, str]) -> uuid.UUID | None:
    raw = meta.get("location_id")
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise InvalidInput("metadata.location_id is not a UUID", field="metadata.location_id") from exc


def _named_product(meta: dict[str, str]) -> uuid.UUID | None:
    raw = meta.get("product_id")
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise InvalidInput("metadata.product_id is not a UUID", field="metadata.product_id") from exc


async def _sale_location(uow: UnitOfWork, product_id: uuid.UUID, meta: dict[str, str]) -> uuid.UUID:
    named = _named_location(meta)
    if named is not None:
        return named
    levels = await uow.stock.levels_for_product(product_id)
    if not levels:
        raise InvalidInput("no stock of this product anywhere: give metadata.location_id", field="metadata")
    return max(levels, key=lambda pair: pair[0].available)[0].location_id


def _ref(raw: Any) -> str | None:
    """A Stripe object reference: its id, or the id of an expanded object."""
    if isinstance(raw, dict):
        raw = raw.get("id")
    if isinstance(raw, str) and 0 < len(raw) <= ID_MAX:
        return raw
    return None


async def record_event(
    uow: UnitOfWork, event: dict[str, Any], *, price_list_id: uuid.UUID | None = None
) -> InboundResult:
    """Take one event once; with it, a payment record for the reconciliation (see
    services/payment_records.py; ``price_list_id``: the hub's default price list)."""
    event_id = event.get("id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= ID_MAX:
        raise InvalidInput(f"the event's id must be a string of 1-{ID_MAX} characters", field="id")
    seen = await uow.receipts.claim(SOURCE, event_id, uow.now)
    if seen is not None:
        return InboundResult(seen[0], {**seen[1], "replayed": True})
    result, taken = await _apply(uow, event_id, event)
    if taken is not None:
        data = event["data"]
        obj = data["object"]
        await payment_records.note(
            uow,
            event_id=event_id,
            event=event,
            obj=obj,
            meta=_metadata(obj),
            payment_ref=_ref(obj.get("payment_intent")) or _ref(obj.get("id")) or event_id,
            taken=taken,
            default_price_list_id=price_list_id,
        )
    await uow.receipts.settle(SOURCE, event_id, result.status_code, result.body)
    return result


async def _apply(uow: UnitOfWork, event_id: str, event: dict[str, Any]) -> tuple[InboundResult, Taken | None]:
    kind = str(event.get("type") or "")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    base: dict[str, Any] = {"event_id": event_id, "type": kind}
    if kind not in SALES | REFUNDS or not isinstance(obj, dict):
        skipped = {**base, "outcome": "ignored", "reason": "not an event the hub acts on"}
        return InboundResult(200, skipped), None
    meta = _metadata(obj)
    if kind in SALES and ("reservation_id" in meta or "reservation_ref" in meta):
        return await _commit_reservation(uow, base, meta)
    sku, product_id = meta.get("sku"), _named_product(meta)
    if not sku and product_id is None:
        ignored = Taken(Outcome.IGNORED, note="no sku in metadata")
        return InboundResult(200, {**base, "outcome": "ignored", "reason": "no sku in metadata"}), ignored
    product = await catalog.find_product(
        uow, _ACTOR, product_id=product_id, sku=sku or None, partner=meta.get("partner")
    )
    quantity = _quantity(meta)
    payment = _ref(obj.get("payment_intent")) or _ref(obj.get("id")) or event_id
    if kind in SALES:
        location_id = await _sale_location(uow, product.id, meta)
        sale = await oversells.record_channel_sale(
            uow,
            _ACTOR,
            product=product,
            location_id=location_id,
            quantity=quantity,
            source=SOURCE,
            event_id=event_id,
            channel_id=None,
            order_ref=payment,
            reason=f"stripe {kind} {payment}"[:REASON_MAX],
        )
        # Remember where the payment's sale was taken, for its refund.
        await uow.receipts.claim(f"{SOURCE}:sale", payment, uow.now)
        await uow.receipts.settle(f"{SOURCE}:sale", payment, 200, {"location_id": str(location_id)})
        written = sale.written()
        body = {
            **base,
            "outcome": "applied",
            "sku": product.sku,
            "location_id": str(location_id),
            "quantity": written.pop("delta"),  # signed, as for refunds: what left the shelf
            **written,
        }
        moved = (sale.movement_id,) if sale.movement_id is not None else ()
        return InboundResult(200, body), Taken(Outcome.APPLIED, product, quantity, None, moved)
    sold = await uow.receipts.get(f"{SOURCE}:sale", payment)
    where = _named_location(meta)
    if where is None and sold is not None and sold[1].get("location_id"):
        where = uuid.UUID(sold[1]["location_id"])
    if where is None:
        raise InvalidInput("refund of an unknown payment: give metadata.location_id", field="metadata")
    change = await stock.adjust_stock(
        uow,
        _ACTOR,
        location_id=where,
        product_id=product.id,
        delta=quantity,
        kind=MovementKind.RETURN,
        reason=f"stripe refund {payment}"[:REASON_MAX],
    )
    body = {
        **base,
        "outcome": "applied",
        "sku": product.sku,
        "location_id": str(change.location.id),
        "quantity": format_quantity(change.quantity),
        "level": change.level.snapshot(),
    }
    moved = (change.movement_id,) if change.movement_id is not None else ()
    return InboundResult(200, body), Taken(Outcome.APPLIED, product, quantity, None, moved)


async def _commit_reservation(
    uow: UnitOfWork, base: dict[str, Any], meta: dict[str, str]
) -> tuple[InboundResult, Taken]:
    """The payment settles a checkout's hold: commit it (once; a repeat answers as committed)."""
    if "reservation_id" in meta:
        try:
            found = await uow.reservations.get(uuid.UUID(meta["reservation_id"]), for_update=True)
        except ValueError as exc:
            raise InvalidInput(
                "metadata.reservation_id is not a UUID", field="metadata.reservation_id"
            ) from exc
        if found is None:
            raise NotFound("reservation", meta["reservation_id"])
    else:
        candidates = await uow.reservations.by_ref(meta["reservation_ref"], for_update=True)
        live = [r for r in candidates if r.status is not ReservationStatus.RELEASED]
        if not live:
            raise NotFound("reservation", meta["reservation_ref"])
        found = live[-1]
    moved: tuple[int, ...] = ()
    if found.status is not ReservationStatus.COMMITTED:
        found.check_open(uow.now)
        found = await reservations.commit_held(uow, _ACTOR, found, reason=f"stripe {base['type']}")
        moved = tuple(await uow.payments.reservation_sales(found.id))
    again = None if moved else f"reservation {found.id} was already committed"
    taken = Taken(Outcome.APPLIED, reservation=found, movement_ids=moved, note=again)
    body = {**base, "outcome": "applied", "reservation_id": str(found.id), "status": found.status.value}
    return InboundResult(200, body), taken
