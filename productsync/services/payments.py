"""Payment gateway events (Stripe) turned into stock movements, once per event id.

``payment_intent.succeeded`` and ``checkout.session.completed`` record a sale;
``charge.refunded`` records a return (restockable) at the location of the sale. What
is sold comes from the object's metadata: ``sku``, ``quantity`` and optional
``location_id``. Without a location the sale is taken from the location with the most
available stock of that product. A checkout that reserved first names its reservation
instead, in metadata ``reservation_id`` or ``reservation_ref`` (the reservation's
``external_ref``, e.g. the order number): the sale event then commits that
reservation, whose holds become the sale. The signature is checked by the HTTP layer
before anything gets here.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from productsync.domain.access import Actor, system_actor
from productsync.domain.errors import InvalidInput, NotFound
from productsync.domain.inventory import MovementKind
from productsync.domain.quantities import format_quantity
from productsync.domain.reservations import ReservationStatus
from productsync.services import reservations, stock
from productsync.services.inbound import InboundResult
from productsync.store.uow import UnitOfWork

SOURCE = "stripe"
SALES = frozenset({"payment_intent.succeeded", "checkout.session.completed"})
REFUNDS = frozenset({"charge.refunded"})
_ACTOR: Actor = system_actor("stripe")


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


async def _sale_location(uow: UnitOfWork, product_id: uuid.UUID, meta: dict[str, str]) -> uuid.UUID:
    if meta.get("location_id"):
        try:
            return uuid.UUID(meta["location_id"])
        except ValueError as exc:
            raise InvalidInput("metadata.location_id is not a UUID", field="metadata.location_id") from exc
    levels = await uow.stock.levels_for_product(product_id)
    if not levels:
        raise InvalidInput("no stock of this product anywhere: give metadata.location_id", field="metadata")
    return max(levels, key=lambda pair: pair[0].available)[0].location_id


async def record_event(uow: UnitOfWork, event: dict[str, Any]) -> InboundResult:
    event_id = str(event.get("id") or "")
    if not event_id:
        raise InvalidInput("the event has no id", field="id")
    seen = await uow.receipts.claim(SOURCE, event_id, uow.now)
    if seen is not None:
        return InboundResult(seen[0], {**seen[1], "replayed": True})
    result = await _apply(uow, event_id, event)
    await uow.receipts.settle(SOURCE, event_id, result.status_code, result.body)
    return result


async def _apply(uow: UnitOfWork, event_id: str, event: dict[str, Any]) -> InboundResult:
    kind = str(event.get("type") or "")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    base: dict[str, Any] = {"event_id": event_id, "type": kind}
    if kind not in SALES | REFUNDS or not isinstance(obj, dict):
        return InboundResult(200, {**base, "outcome": "ignored", "reason": "not an event the hub acts on"})
    meta = _metadata(obj)
    if kind in SALES and ("reservation_id" in meta or "reservation_ref" in meta):
        return await _commit_reservation(uow, base, meta)
    sku = meta.get("sku")
    if not sku:
        return InboundResult(200, {**base, "outcome": "ignored", "reason": "no sku in metadata"})
    product = await uow.products.get_by_sku(sku.strip().upper())
    if product is None:
        raise NotFound("product", sku)
    quantity = _quantity(meta)
    payment = str(obj.get("payment_intent") or obj.get("id") or event_id)
    if kind in SALES:
        location_id = await _sale_location(uow, product.id, meta)
        change = await stock.adjust_stock(
            uow,
            _ACTOR,
            location_id=location_id,
            product_id=product.id,
            delta=-quantity,
            kind=MovementKind.SALE,
            reason=f"stripe {kind} {payment}",
        )
        # Remember where the payment's sale was taken, for its refund.
        await uow.receipts.claim(f"{SOURCE}:sale", payment, uow.now)
        await uow.receipts.settle(f"{SOURCE}:sale", payment, 200, {"location_id": str(location_id)})
    else:
        sale = await uow.receipts.get(f"{SOURCE}:sale", payment)
        where = meta.get("location_id") or (sale[1].get("location_id") if sale else None)
        if not where:
            raise InvalidInput("refund of an unknown payment: give metadata.location_id", field="metadata")
        change = await stock.adjust_stock(
            uow,
            _ACTOR,
            location_id=uuid.UUID(where),
            product_id=product.id,
            delta=quantity,
            kind=MovementKind.RETURN,
            reason=f"stripe refund {payment}",
        )
    body = {
        **base,
        "outcome": "applied",
        "sku": product.sku,
        "location_id": str(change.location.id),
        "quantity": format_quantity(change.quantity),
        "level": change.level.snapshot(),
    }
    return InboundResult(200, body)


async def _commit_reservation(uow: UnitOfWork, base: dict[str, Any], meta: dict[str, str]) -> InboundResult:
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
    if found.status is not ReservationStatus.COMMITTED:
        found.check_open(uow.now)
        found = await reservations.commit_held(uow, _ACTOR, found, reason=f"stripe {base['type']}")
    return InboundResult(
        200, {**base, "outcome": "applied", "reservation_id": str(found.id), "status": found.status.value}
    )
