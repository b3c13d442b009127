"""Reservations: hold, commit, release, extend, and expire holds on stock.

Every write that touches several stock levels touches them in one global order
(product id, then location id; ``merge_holds``), so concurrent reservations over
crossing lines cannot deadlock. Holds are conditional updates decided by the
database on the newest row version; when one finds less free than the allocation
assumed (another process took it meanwhile), the attempt undoes its own holds, the
levels are read again and allocation runs again. The last attempt
reads the levels with row locks, so it cannot lose a race and its answer (held, or
409 with the short lines) is final.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from productsync.domain.access import Actor, Scope, system_actor
from productsync.domain.allocation import LotMap, Requested, free, needs, pin_lots
from productsync.domain.catalog import Product, ProductStatus
from productsync.domain.channels import Channel
from productsync.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound
from productsync.domain.events import DomainEvent, stock_changed
from productsync.domain.inventory import Location, Movement, MovementKind, StockLevel
from productsync.domain.lots import Lot
from productsync.domain.reservations import (
    MAX_LINES,
    Hold,
    Line,
    Reservation,
    ReservationStatus,
    allocate,
    check_ttl,
)
from productsync.domain.sku_namespaces import SkuCandidate, choose
from productsync.domain.units import to_base
from productsync.services import lots
from productsync.services.bundles import announce_bundles
from productsync.services.channels import owned_channel
from productsync.services.recording import record
from productsync.store.uow import UnitOfWork

OPTIMISTIC_ATTEMPTS = 3


@dataclass(frozen=True)
class LineRequest:
    quantity: Decimal | str | int
    product_id: uuid.UUID | None = None
    sku: str | None = None
    unit: str | None = None
    location_id: uuid.UUID | None = None
    partner: str | None = None  # whose SKU (a partner code), when several visible partners use it


async def reserve(
    uow: UnitOfWork,
    actor: Actor,
    lines: list[LineRequest],
    *,
    ttl_seconds: float | None = None,
    channel_id: uuid.UUID | None = None,
    external_ref: str | None = None,
) -> Reservation:
    """Hold every line or none. Lines of a bundle hold its components."""
    actor.require(Scope.STOCK_WRITE)
    ttl = check_ttl(ttl_seconds)
    if not lines:
        raise InvalidInput("a reservation needs at least one line", field="lines")
    if len(lines) > MAX_LINES:
        raise InvalidInput(f"at most {MAX_LINES} lines per reservation", field="lines")
    channel = await owned_channel(uow, actor, channel_id) if channel_id is not None else None
    by_id, by_sku, in_bundles, named_levels = await uow.products.for_lines(
        {req.product_id for req in lines if req.product_id is not None},
        {req.sku.strip().upper() for req in lines if req.product_id is None and req.sku is not None},
    )
    requested: list[Requested] = []
    for i, req in enumerate(lines):
        product = _named(actor, req, by_id, by_sku)
        _check_reservable(product, channel, i)
        quantity = to_base(
            req.quantity, req.unit, base=product.base_unit, packs=product.packs, field=f"lines[{i}].quantity"
        )
        if quantity <= 0:
            raise InvalidInput("a line quantity must be positive", field=f"lines[{i}].quantity")
        if req.location_id is not None:
            await _visible_location(uow, actor, req.location_id)
        requested.append((product, quantity, req.location_id))
    components = await uow.products.get_many({c.product_id for p, _, _ in requested for c in p.components})
    stocked_ids = {p.id for p, _, _ in requested if not p.is_bundle} | set(components)

    def as_reservation(holds: dict[int, list[Hold]], backordered: dict[int, Decimal]) -> Reservation:
        return Reservation(
            id=reservation_id,
            partner_id=actor.partner_id,
            channel_id=channel.id if channel else None,
            external_ref=external_ref,
            status=ReservationStatus.HELD,
            expires_at=uow.now + ttl,
            lines=tuple(
                Line(
                    product_id=p.id,
                    sku=p.sku,
                    quantity=q,
                    location_id=loc,
                    holds=tuple(holds.get(i, [])),
                    backordered=backordered.get(i, Decimal(0)),
                )
                for i, (p, q, loc) in enumerate(requested)
            ),
            version=1,
            created_at=uow.now,
            updated_at=uow.now,
        )

    reservation_id = uuid.uuid4()
    # The named products' levels came with them; a bundle's components are read in _hold.
    prefetched = named_levels if stocked_ids <= set(named_levels) else None
    reservation, levels = await _hold(
        uow, requested, components, stocked_ids, channel, as_reservation, prefetched
    )
    known = {p.id: p for p, _, _ in requested} | components
    # Components' bundles need news; a product in no bundle (the common case) costs no query.
    bundles_may_move = bool(components) or bool(in_bundles & stocked_ids)
    await _announce(
        uow, actor, reservation, "reservation.held", None, levels, known, bundles=bundles_may_move
    )
    return reservation


def _named(
    actor: Actor,
    req: LineRequest,
    by_id: dict[uuid.UUID, Product],
    by_sku: dict[str, list[SkuCandidate]],
) -> Product:
    """The line's product (by id, else SKU), reported absent unless the caller may read it.
    A SKU is chosen among the visible partners' products using it: a reservation may
    hold shared products, so no partner's is preferred and several are a 409
    ``ambiguous-sku`` (the line then names ``product_id`` or ``partner``)."""
    if req.product_id is not None:
        product, ref = by_id.get(req.product_id), str(req.product_id)
    elif req.sku is not None:
        key = req.sku.strip().upper()
        chosen = choose(key, by_sku.get(key, []), readable=actor.readable_owners(), partner=req.partner)
        product, ref = by_id[chosen.product_id], req.sku
    else:
        raise InvalidInput("give either sku or product_id", field="sku")
    if product is None or not actor.can_read(product.owner_partner_id):
        raise NotFound("product", ref)
    return product


def _check_reservable(product: Product, channel: Channel | None, i: int) -> None:
    if product.status is ProductStatus.ARCHIVED:
        raise Conflict(f"line {i}: product {product.sku} is archived", code=ErrorCode.ARCHIVED, line=i)
    if channel is not None and not channel.sees(
        owner_partner_id=product.owner_partner_id, category_id=product.category_id
    ):
        raise InvalidInput(
            f"line {i}: channel {channel.name} does not sell {product.sku}", field=f"lines[{i}]", line=i
        )


async def _visible_location(uow: UnitOfWork, actor: Actor, location_id: uuid.UUID) -> Location:
    location = await uow.locations.get(location_id)
    if location is None or not actor.can_read(location.owner_partner_id):
        raise NotFound("location", location_id)
    return location


async def _hold(
    uow: UnitOfWork,
    requested: list[Requested],
    components: dict[uuid.UUID, Product],
    stocked_ids: set[uuid.UUID],
    channel: Channel | None,
    as_reservation: Callable[[dict[int, list[Hold]], dict[int, Decimal]], Reservation],
    prefetched: dict[uuid.UUID, list[StockLevel]] | None,
) -> tuple[Reservation, list[StockLevel]]:
    """Allocate, then hold. A hold that finds less free than allocated undoes the holds
    before it (same transaction, rows still locked by us) and allocation runs again on
    fresh levels. The reservation row goes in with the journal at commit, so the row
    locks the holds take are kept for one statement and the commit only."""
    stocked = [p for p, _, _ in requested if not p.is_bundle] + list(components.values())
    tracked = await lots.tracked(uow, stocked)
    days = channel.min_shelf_life_days if channel is not None else 0
    for attempt in range(1, OPTIMISTIC_ATTEMPTS + 2):
        final = attempt > OPTIMISTIC_ATTEMPTS
        if final:
            levels = await uow.stock.levels_for_update(stocked_ids)
        elif attempt == 1 and prefetched is not None:
            levels = {pid: prefetched[pid] for pid in stocked_ids}
        else:
            levels = await uow.stock.levels_for_products(stocked_ids)
        lot_map = LotMap(tracked, await uow.lots.for_products(tracked, for_update=final) if tracked else {})
        allocation = allocate(
            needs(requested, components, levels, channel), free(levels, lot_map, uow.now, days)
        )
        holds = pin_lots(allocation.holds, lot_map, uow.now, days)
        reservation = as_reservation(holds, allocation.backordered)
        taken = await _take_holds(uow, reservation.holds())
        if taken is not None:
            uow.reservations.add(reservation)
            return reservation, taken
        if final:  # rows are locked: the allocation cannot have been overtaken
            raise AssertionError("a hold failed under row locks")
    raise AssertionError("unreachable")


async def _take_holds(uow: UnitOfWork, holds: list[Hold]) -> list[StockLevel] | None:
    """Raise every level (and lot) by its holds, or undo what was raised and answer None.
    Several levels go in one statement where the database allows it."""
    per_level: dict[tuple[uuid.UUID, uuid.UUID], Decimal] = {}
    for hold in holds:
        key = (hold.product_id, hold.location_id)
        per_level[key] = per_level.get(key, Decimal(0)) + hold.quantity
    raised: dict[tuple[uuid.UUID, uuid.UUID], StockLevel] = {}
    together = await uow.stock.try_hold_levels(per_level, uow.now) if len(per_level) > 1 else None
    if together is not None:
        raised = together
    else:
        for (product_id, location_id), quantity in per_level.items():
            level = await uow.stock.try_hold(Hold(product_id, location_id, quantity), uow.now)
            if level is None:
                break
            raised[(product_id, location_id)] = level
    lots_held: list[Hold] = []
    if len(raised) == len(per_level):
        for hold in holds:
            if hold.lot_id is None:
                continue
            if await uow.lots.hold(hold.lot_id, hold.quantity, uow.now) is None:
                break
            lots_held.append(hold)
        else:
            return list(raised.values())
    for hold in reversed(lots_held):
        await uow.lots.unhold(hold.lot_id, hold.quantity, uow.now)  # type: ignore[arg-type]
    for product_id, location_id in reversed(list(raised)):
        await uow.stock.unhold(Hold(product_id, location_id, per_level[(product_id, location_id)]), uow.now)
    return None


async def get_reservation(uow: UnitOfWork, actor: Actor, reservation_id: uuid.UUID) -> Reservation:
    actor.require(Scope.CATALOG_READ)
    return await _own(uow, actor, reservation_id, for_update=False)


async def find_by_ref(uow: UnitOfWork, actor: Actor, external_ref: str) -> list[Reservation]:
    actor.require(Scope.CATALOG_READ)
    found = await uow.reservations.by_ref(external_ref)
    return [r for r in found if actor.can_write(r.partner_id)]


async def _own(
    uow: UnitOfWork, actor: Actor, reservation_id: uuid.UUID, *, for_update: bool = True
) -> Reservation:
    reservation = await uow.reservations.get(reservation_id, for_update=for_update)
    if reservation is None or not (actor.is_admin or reservation.partner_id == actor.partner_id):
        raise NotFound("reservation", reservation_id)
    return reservation


async def commit(
    uow: UnitOfWork, actor: Actor, reservation_id: uuid.UUID, *, reason: str | None = None
) -> Reservation:
    """The holds become sales. Committing twice answers with the committed reservation."""
    actor.require(Scope.STOCK_WRITE)
    reservation = await _own(uow, actor, reservation_id)
    if reservation.status is ReservationStatus.COMMITTED:
        return reservation
    reservation.check_open(uow.now)
    return await commit_held(uow, actor, reservation, reason=reason)


async def commit_held(
    uow: UnitOfWork, actor: Actor, reservation: Reservation, *, reason: str | None = None
) -> Reservation:
    products = await uow.products.get_many({h.product_id for h in reservation.holds()})
    events: list[DomainEvent] = []
    codes = await uow.locations.codes({h.location_id for h in reservation.holds()})
    for hold in reservation.holds():
        level = await _settle(
            uow, hold, uow.stock.sell_held, uow.lots.sell_held, "a held level no longer covers its hold"
        )
        movement = Movement(
            hold.product_id,
            hold.location_id,
            MovementKind.SALE,
            -hold.quantity,
            level.on_hand,
            reason or f"reservation {reservation.id}",
            reservation_id=reservation.id,
            lot_id=hold.lot_id,
        )
        await uow.stock.add_movement(movement, actor, uow.request_id, uow.now)
        events.append(
            stock_changed(
                products[hold.product_id],
                level,
                movement,
                location_code=codes[hold.location_id],
                origin=actor.origin,
                reservation={"id": str(reservation.id), "status": ReservationStatus.COMMITTED.value},
            )
        )
    done = reservation.finish(ReservationStatus.COMMITTED, uow.now)
    await uow.reservations.save(done)
    events += await announce_bundles(uow, set(products), origin=actor.origin)
    await _audit(uow, actor, done, "reservation.committed", reservation, events)
    return done


async def release(uow: UnitOfWork, actor: Actor, reservation_id: uuid.UUID) -> Reservation:
    """Give the stock back. Releasing a released or expired hold changes nothing."""
    actor.require(Scope.STOCK_WRITE)
    reservation = await _own(uow, actor, reservation_id)
    if reservation.status in (ReservationStatus.RELEASED, ReservationStatus.EXPIRED):
        return reservation
    if reservation.status is ReservationStatus.COMMITTED:
        raise Conflict(
            f"reservation {reservation.id} is committed; return the goods instead",
            code=ErrorCode.RESERVATION_CLOSED,
            status=reservation.status.value,
        )
    return await _give_back(uow, actor, reservation, ReservationStatus.RELEASED)


async def extend(
    uow: UnitOfWork, actor: Actor, reservation_id: uuid.UUID, *, ttl_seconds: float | None
) -> Reservation:
    """A live hold lives ``ttl_seconds`` from now; an expired one cannot come back."""
    actor.require(Scope.STOCK_WRITE)
    reservation = await _own(uow, actor, reservation_id)
    extended = reservation.extend(check_ttl(ttl_seconds), uow.now)
    await uow.reservations.save(extended)
    await _audit(uow, actor, extended, "reservation.extended", reservation, [])
    return extended


async def expire_due(uow: UnitOfWork, *, limit: int = 100, now: datetime | None = None) -> int:
    """Release holds past their time, all in this one transaction (tests and tools; the
    scheduler uses ``expire_reservation``, one transaction per hold). Several processes
    may run it at once: each claims different rows (SKIP LOCKED)."""
    if now is not None:
        uow.now = now  # the whole use case happens at the clock's instant
    actor = system_actor("scheduler")
    due = await uow.reservations.due(uow.now, limit)
    for reservation in sorted(due, key=lambda r: r.id):
        await _give_back(uow, actor, reservation, ReservationStatus.EXPIRED)
    return len(due)


async def due_reservation_ids(
    uow: UnitOfWork, now: datetime, *, limit: int, exclude: Collection[uuid.UUID] = ()
) -> list[uuid.UUID]:
    """Holds past their time at ``now``, first-expired first, but not ``exclude`` (the
    scheduler's to-do list; each is then expired in a transaction of its own)."""
    return [r.id for r in await uow.reservations.due(now, limit, exclude=exclude)]


async def expire_reservation(uow: UnitOfWork, reservation_id: uuid.UUID, now: datetime) -> bool:
    """Release one hold past its time at ``now`` (the clock's instant, so tests move time
    instead of sleeping). One hold per transaction: a hold whose stock cannot be given
    back fails alone and the others still expire. False when it is no longer due
    (committed, released, extended, or expired by another process meanwhile: the row
    lock waits for that one to finish, then the status says so)."""
    uow.now = now
    reservation = await uow.reservations.get(reservation_id, for_update=True)
    if reservation is None or reservation.status is not ReservationStatus.HELD:
        return False
    if not reservation.is_expired(now):
        return False
    await _give_back(uow, system_actor("scheduler"), reservation, ReservationStatus.EXPIRED)
    return True


async def _give_back(
    uow: UnitOfWork, actor: Actor, reservation: Reservation, status: ReservationStatus
) -> Reservation:
    done = reservation.finish(status, uow.now)
    await uow.reservations.save(done)
    levels = []
    for hold in done.holds():
        levels.append(
            await _settle(
                uow, hold, uow.stock.unhold, uow.lots.unhold, "a held level holds less than the reservation"
            )
        )
    await _announce(uow, actor, done, f"reservation.{status.value}", reservation, levels)
    return done


async def _settle(
    uow: UnitOfWork,
    hold: Hold,
    level_change: Callable[[Hold, datetime], Awaitable[StockLevel | None]],
    lot_change: Callable[[uuid.UUID, Decimal, datetime], Awaitable[Lot | None]],
    problem: str,
) -> StockLevel:
    """Let a hold go (sold or given back) on its level and its lot; a level or lot that no
    longer carries the hold means the books disagree, so nothing is written."""
    level = await level_change(hold, uow.now)
    lot_ok = hold.lot_id is None or await lot_change(hold.lot_id, hold.quantity, uow.now) is not None
    if level is None or not lot_ok:
        raise Conflict(
            f"{problem}; run `productsync check`",
            code=ErrorCode.INSUFFICIENT_STOCK,
            product_id=str(hold.product_id),
            location_id=str(hold.location_id),
        )
    return level


async def _announce(
    uow: UnitOfWork,
    actor: Actor,
    reservation: Reservation,
    action: str,
    before: Reservation | None,
    levels: list[StockLevel],
    products: dict[uuid.UUID, Product] | None = None,
    *,
    bundles: bool = True,
) -> None:
    """Audit the change and announce the new ``reserved`` of every level it moved."""
    if products is None:
        products = await uow.products.get_many({lv.product_id for lv in levels})
    events: list[DomainEvent] = []
    latest = {(lv.product_id, lv.location_id): lv for lv in levels}  # a level held per lot appears often
    levels = list(latest.values())
    codes = await uow.locations.codes({lv.location_id for lv in levels})
    for level in levels:
        events.append(
            stock_changed(
                products[level.product_id],
                level,
                None,
                location_code=codes[level.location_id],
                origin=actor.origin,
                reservation={"id": str(reservation.id), "status": reservation.status.value},
            )
        )
    if bundles:
        events += await announce_bundles(uow, {lv.product_id for lv in levels}, origin=actor.origin)
    await _audit(uow, actor, reservation, action, before, events)


async def _audit(
    uow: UnitOfWork,
    actor: Actor,
    reservation: Reservation,
    action: str,
    before: Reservation | None,
    events: list[DomainEvent],
) -> None:
    await record(
        uow,
        actor,
        action=action,
        entity_type="reservation",
        entity_id=reservation.id,
        owner=reservation.partner_id,
        before=before.snapshot() if before else None,
        after=reservation.snapshot(),
        events=events,
    )


def expired_view(reservation: Reservation, now: datetime) -> Reservation:
    """How a held reservation past its time reads before the scheduler got to it."""
    if reservation.status is ReservationStatus.HELD and reservation.is_expired(now):
        return replace(reservation, status=ReservationStatus.EXPIRED)
    return reservation
