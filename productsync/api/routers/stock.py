"""Locations and stock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.engine import Row

from productsync.api.commands import Reply, execute
from productsync.api.deps import ActorDep, HubDep
from productsync.api.schemas.availability import AvailabilityOut, AvailabilityPage
from productsync.api.schemas.common import PROBLEM_RESPONSES
from productsync.api.schemas.stock import (
    AccuracyOut,
    AdjustmentIn,
    LevelOut,
    LocationIn,
    LocationOut,
    LotOut,
    ReturnIn,
    ReturnOut,
    SetIn,
    StockChangeOut,
    StockOut,
    TotalsOut,
    TransferIn,
    TransferOut,
)
from productsync.domain.access import Scope
from productsync.domain.inventory import Location, MovementKind
from productsync.services import availability, locations, lots, returns, stock, stock_checks, transfers
from productsync.services.availability import Availability
from productsync.services.catalog import find_product
from productsync.services.stock import StockChange
from productsync.store.uow import UnitOfWork, transaction

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)


@router.post("/locations", status_code=201, response_model=LocationOut, tags=["stock"])
async def create_location(body: LocationIn, request: Request, hub: HubDep, actor: ActorDep) -> Response:
    async def use_case(uow: UnitOfWork) -> Location:
        return await locations.create_location(
            uow,
            actor,
            code=body.code,
            name=body.name,
            kind=body.kind,
            owner_partner_id=body.owner_partner_id,
            time_zone=body.time_zone,
        )

    return await execute(
        request,
        hub,
        actor,
        use_case,
        lambda loc: Reply(LocationOut.model_validate(loc).model_dump(mode="json"), 201),
    )


@router.get("/locations", response_model=list[LocationOut], tags=["stock"])
async def list_locations(hub: HubDep, actor: ActorDep) -> list[LocationOut]:
    found = await transaction(hub.db, lambda uow: locations.list_locations(uow, actor), readonly=True)
    return [LocationOut.model_validate(loc) for loc in found]


@router.get("/products/{product_id}/stock", response_model=StockOut, tags=["stock"])
async def get_stock(product_id: uuid.UUID, hub: HubDep, actor: ActorDep) -> StockOut:
    ps = await transaction(hub.db, lambda uow: stock.get_stock(uow, actor, product_id), readonly=True)
    return StockOut(
        product_id=ps.product.id,
        sku=ps.product.sku,
        base_unit=ps.product.base_unit,
        locations=[LevelOut.of(level, code) for level, code in ps.levels],
        totals=TotalsOut.model_validate(ps.totals),
        derived=ps.product.is_bundle,
    )


def _change_reply(change: StockChange, kind: MovementKind) -> Reply:
    out = StockChangeOut(
        product_id=change.product.id,
        sku=change.product.sku,
        movement_id=change.movement_id,
        kind=kind,
        quantity=change.quantity,
        level=LevelOut.of(change.level, change.location.code),
    )
    return Reply(out.model_dump(mode="json"), 200)


@router.post("/stock/adjustments", response_model=StockChangeOut, tags=["stock"])
async def adjust_stock(body: AdjustmentIn, request: Request, hub: HubDep, actor: ActorDep) -> Response:
    """Move stock by a signed delta. A result below zero is refused with 409 and nothing changes."""
    kind = MovementKind(body.kind)

    async def use_case(uow: UnitOfWork) -> StockChange:
        return await stock.adjust_stock(
            uow,
            actor,
            location_id=body.location_id,
            delta=body.delta,
            unit=body.unit,
            product_id=body.product_id,
            sku=body.sku,
            partner=body.partner,
            kind=kind,
            reason=body.reason,
            lot_number=body.lot_number,
            expires_on=body.expires_on,
        )

    return await execute(request, hub, actor, use_case, lambda c: _change_reply(c, kind))


@router.get("/inventory/accuracy", response_model=AccuracyOut, tags=["stock"])
async def inventory_accuracy(
    hub: HubDep, actor: ActorDep, location_id: uuid.UUID | None = None
) -> AccuracyOut:
    """Cycle-count accuracy over your products (`POST /v1/stock/set` records a count
    with what was expected), at one location or everywhere."""
    found = await transaction(
        hub.db, lambda uow: stock_checks.inventory_accuracy(uow, actor, location_id), readonly=True
    )
    return AccuracyOut(
        location_id=location_id,
        counts=found.counts,
        matched=found.matched,
        accuracy_percent=None if found.percent is None else float(found.percent),
        open_oversells=found.open_oversells,
        oversold_quantity=found.oversold,
    )


@router.get("/lots", response_model=list[LotOut], tags=["stock"])
async def list_lots(
    hub: HubDep,
    actor: ActorDep,
    expiring_within_days: Annotated[int | None, Query(ge=0, le=3650)] = None,
    product_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
) -> list[LotOut]:
    """Lots with stock, first-expiring first; `expiring_within_days=N` keeps those that
    expire within N days (expired ones included until the scheduler writes them off)."""
    found = await transaction(
        hub.db,
        lambda uow: lots.list_lots(
            uow,
            actor,
            expiring_within_days=expiring_within_days,
            product_id=product_id,
            location_id=location_id,
        ),
        readonly=True,
    )
    now = datetime.now(UTC)
    return [LotOut.of(lot, now) for lot in found]


@router.post("/stock/set", response_model=StockChangeOut, tags=["stock"])
async def set_stock(body: SetIn, request: Request, hub: HubDep, actor: ActorDep) -> Response:
    """Set on_hand to a counted quantity; with `compare_quantity`, only if it still
    is that value (else 409)."""

    async def use_case(uow: UnitOfWork) -> StockChange:
        return await stock.set_stock(
            uow,
            actor,
            location_id=body.location_id,
            quantity=body.quantity,
            product_id=body.product_id,
            sku=body.sku,
            partner=body.partner,
            compare_quantity=body.compare_quantity,
            safety_stock=body.safety_stock,
            reason=body.reason,
        )

    return await execute(request, hub, actor, use_case, lambda c: _change_reply(c, MovementKind.COUNT))


@router.post("/stock/transfers", response_model=TransferOut, tags=["stock"])
async def transfer_stock(body: TransferIn, request: Request, hub: HubDep, actor: ActorDep) -> Response:
    """Move stock between two locations: one atomic pair of `transfer` movements.
    Stock held by reservations does not move (409 if the free stock is short)."""

    async def use_case(uow: UnitOfWork) -> transfers.Transfer:
        return await transfers.transfer_stock(
            uow,
            actor,
            from_location_id=body.from_location_id,
            to_location_id=body.to_location_id,
            quantity=body.quantity,
            product_id=body.product_id,
            sku=body.sku,
            partner=body.partner,
            unit=body.unit,
            reason=body.reason,
        )

    def reply(t: transfers.Transfer) -> Reply:
        out = TransferOut(
            transfer_id=t.transfer_id,
            product_id=t.product.id,
            sku=t.product.sku,
            quantity=t.quantity,
            source=LevelOut.of(t.source.level, t.source.location.code),
            destination=LevelOut.of(t.destination.level, t.destination.location.code),
        )
        return Reply(out.model_dump(mode="json"), 200)

    return await execute(request, hub, actor, use_case, reply)


@router.post("/stock/returns", response_model=ReturnOut, tags=["stock"])
async def return_sale(body: ReturnIn, request: Request, hub: HubDep, actor: ActorDep) -> Response:
    """Goods coming back against a sale (its ledger id), restockable or written off."""

    async def use_case(uow: UnitOfWork) -> returns.Return:
        return await returns.return_sale(
            uow,
            actor,
            sale_movement_id=body.sale_movement_id,
            quantity=body.quantity,
            restockable=body.restockable,
            reason=body.reason,
            unit=body.unit,
        )

    def reply(r: returns.Return) -> Reply:
        out = ReturnOut(
            product_id=r.product.id,
            sku=r.product.sku,
            sale_movement_id=r.sale_movement_id,
            movement_id=r.change.movement_id,
            quantity=r.quantity,
            restockable=r.restockable,
            level=LevelOut.of(r.change.level, r.change.location.code),
        )
        return Reply(out.model_dump(mode="json"), 200)

    return await execute(request, hub, actor, use_case, reply)


@router.get("/products/{product_id}/movements", tags=["stock"])
async def list_movements(
    product_id: uuid.UUID,
    hub: HubDep,
    actor: ActorDep,
    location_id: uuid.UUID | None = None,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, object]:
    """The append-only ledger of one product, oldest first."""

    async def read(uow: UnitOfWork) -> list[Row[Any]]:
        actor.require(Scope.CATALOG_READ)
        await find_product(uow, actor, product_id=product_id)  # 404 unless visible
        return await uow.stock.movements(product_id, location_id, after_id=after, limit=limit)

    rows = await transaction(hub.db, read, readonly=True)
    items = [
        {
            "id": r.id,
            "location_id": str(r.location_id),
            "kind": r.kind,
            "quantity": str(r.quantity),
            "on_hand_after": str(r.on_hand_after),
            "expected": None if r.expected is None else str(r.expected),
            "reason": r.reason,
            "reservation_id": None if r.reservation_id is None else str(r.reservation_id),
            "sale_movement_id": r.sale_movement_id,
            "transfer_id": None if r.transfer_id is None else str(r.transfer_id),
            "restockable": r.restockable,
            # A sale (or any change) of a lot-tracked product has one row per lot it took.
            "lot_id": None if r.lot_id is None else str(r.lot_id),
            "lot_number": r.lot_number,
            "origin": r.origin,
            "request_id": r.request_id,
            "created_at": r.created_at.isoformat(),
        }
        for r in rows
    ]
    return {"items": items, "next_cursor": str(rows[-1].id) if len(rows) == limit else None}


def _availability_out(a: Availability, codes: dict[uuid.UUID, str]) -> AvailabilityOut:
    return AvailabilityOut(
        product_id=a.product.id,
        sku=a.product.sku,
        channel_id=a.channel.id,
        available=a.available,
        locations=[LevelOut.of(lv, codes.get(lv.location_id, "")) for lv in a.levels],
    )


async def _location_codes(hub: HubDep, actor: ActorDep) -> dict[uuid.UUID, str]:
    found = await transaction(hub.db, lambda uow: locations.list_locations(uow, actor), readonly=True)
    return {loc.id: loc.code for loc in found}


@router.get("/products/{product_id}/availability", response_model=AvailabilityOut, tags=["stock"])
async def product_availability(
    product_id: uuid.UUID, channel_id: uuid.UUID, hub: HubDep, actor: ActorDep
) -> AvailabilityOut:
    """What a channel may sell of a product: the sum over the channel's locations of
    available (on hand − reserved − safety stock), minus the channel's buffer, never below
    zero — the number the sync engine pushes to that channel."""
    [found] = await transaction(
        hub.db,
        lambda uow: availability.availability(uow, actor, channel_id=channel_id, product_ids=[product_id]),
        readonly=True,
    )
    return _availability_out(found, await _location_codes(hub, actor))


@router.get("/availability", response_model=AvailabilityPage, tags=["stock"])
async def bulk_availability(
    channel_id: uuid.UUID,
    hub: HubDep,
    actor: ActorDep,
    sku: Annotated[list[str], Query(max_length=availability.MAX_BULK)] = [],  # noqa: B006 - FastAPI query list
) -> AvailabilityPage:
    """The same for many SKUs at once (`?channel_id=…&sku=A&sku=B`, up to 200)."""
    found = await transaction(
        hub.db,
        lambda uow: availability.availability(uow, actor, channel_id=channel_id, skus=sku),
        readonly=True,
    )
    codes = await _location_codes(hub, actor)
    return AvailabilityPage(items=[_availability_out(a, codes) for a in found])
