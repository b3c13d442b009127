"""Price lists, tier sets and price resolution."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime

from productsync.api.commands import Reply, execute
from productsync.api.deps import ActorDep, HubDep
from productsync.api.schemas.common import PROBLEM_RESPONSES, QuantityIn
from productsync.api.schemas.prices import (
    PriceEntryOut,
    PriceListIn,
    PriceListOut,
    PricesIn,
    PricesOut,
    ResolvedPriceOut,
)
from productsync.domain.pricing import PriceList
from productsync.services import pricing
from productsync.services.pricing import ProductPrices
from productsync.store.uow import UnitOfWork, transaction

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)


@router.post("/price-lists", status_code=201, response_model=PriceListOut, tags=["prices"])
async def create_price_list(body: PriceListIn, request: Request, hub: HubDep, actor: ActorDep) -> Response:
    async def use_case(uow: UnitOfWork) -> PriceList:
        return await pricing.create_price_list(
            uow,
            actor,
            name=body.name,
            currency=body.currency,
            kind=body.kind,
            region=body.region,
            owner_partner_id=body.owner_partner_id,
        )

    return await execute(
        request,
        hub,
        actor,
        use_case,
        lambda pl: Reply(PriceListOut.model_validate(pl).model_dump(mode="json"), 201),
    )


@router.get("/price-lists", response_model=list[PriceListOut], tags=["prices"])
async def list_price_lists(hub: HubDep, actor: ActorDep) -> list[PriceListOut]:
    found = await transaction(hub.db, lambda uow: pricing.list_price_lists(uow, actor), readonly=True)
    return [PriceListOut.model_validate(pl) for pl in found]


def _prices_out(pp: ProductPrices) -> PricesOut:
    return PricesOut(
        price_list_id=pp.price_list.id,
        product_id=pp.product.id,
        sku=pp.product.sku,
        currency=pp.price_list.currency,
        version=pp.version,
        prices=[PriceEntryOut.model_validate(e) for e in pp.entries],
    )


@router.put("/price-lists/{list_id}/prices/{product_id}", response_model=PricesOut, tags=["prices"])
async def put_prices(
    list_id: uuid.UUID, product_id: uuid.UUID, body: PricesIn, request: Request, hub: HubDep, actor: ActorDep
) -> Response:
    """Replace the product's full tier set on this list (tiers, promotions with validity windows)."""

    async def use_case(uow: UnitOfWork) -> ProductPrices:
        return await pricing.put_prices(uow, actor, list_id, product_id, [p.entry() for p in body.prices])

    return await execute(
        request, hub, actor, use_case, lambda pp: Reply(_prices_out(pp).model_dump(mode="json"))
    )


@router.get("/price-lists/{list_id}/prices/{product_id}", response_model=PricesOut, tags=["prices"])
async def get_prices(list_id: uuid.UUID, product_id: uuid.UUID, hub: HubDep, actor: ActorDep) -> PricesOut:
    pp = await transaction(
        hub.db, lambda uow: pricing.get_prices(uow, actor, list_id, product_id), readonly=True
    )
    return _prices_out(pp)


@router.get("/products/{product_id}/price", response_model=ResolvedPriceOut, tags=["prices"])
async def resolve_price(
    product_id: uuid.UUID,
    hub: HubDep,
    actor: ActorDep,
    price_list_id: uuid.UUID,
    quantity: Annotated[QuantityIn, Query()] = Decimal(1),
    at: Annotated[AwareDatetime | None, Query(description="Instant (with offset); default now.")] = None,
) -> ResolvedPriceOut:
    """The one effective unit price for (product, list, quantity, instant)."""
    when = at or datetime.now(UTC)
    pl, product, r = await transaction(
        hub.db,
        lambda uow: pricing.resolve_price(
            uow, actor, product_id=product_id, list_id=price_list_id, quantity=quantity, at=when
        ),
        readonly=True,
    )
    return ResolvedPriceOut(
        product_id=product.id,
        sku=product.sku,
        price_list_id=pl.id,
        currency=pl.currency,
        quantity=quantity,
        at=when,
        unit_amount=r.unit_amount,
        total=r.total,
        tier_min_quantity=r.entry.min_quantity,
        promotion=r.entry.is_promotion,
        regular_unit_amount=r.regular_unit_amount,
    )
