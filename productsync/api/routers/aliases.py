"""Product aliases: supplier, warehouse and marketplace codes for hub products."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from productsync.api.deps import ActorDep, HubDep
from productsync.api.schemas.aliases import AliasesIn, AliasesOut, AliasLookupOut
from productsync.api.schemas.common import PROBLEM_RESPONSES
from productsync.services import aliases
from productsync.store.uow import UnitOfWork, transaction

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, tags=["catalog"])


def _out(product_id: uuid.UUID, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {"product_id": str(product_id), "aliases": [{"scheme": s, "code": c} for s, c in pairs]}


@router.put("/products/{product_id}/aliases", response_model=AliasesOut)
async def set_aliases(product_id: uuid.UUID, body: AliasesIn, hub: HubDep, actor: ActorDep) -> dict[str, Any]:
    """Replace the product's aliases (owner only). A code already naming another product of
    the same partner is 409; another partner's use of a code is no conflict."""
    pairs = [(a.scheme, a.code) for a in body.aliases]

    async def use_case(uow: UnitOfWork) -> list[tuple[str, str]]:
        return await aliases.set_aliases(uow, actor, product_id, pairs)

    return _out(product_id, await transaction(hub.db, use_case))


@router.get("/products/{product_id}/aliases", response_model=AliasesOut)
async def get_aliases(product_id: uuid.UUID, hub: HubDep, actor: ActorDep) -> dict[str, Any]:
    pairs = await transaction(hub.db, lambda uow: aliases.get_aliases(uow, actor, product_id), readonly=True)
    return _out(product_id, pairs)


@router.get("/aliases/{scheme}/{code}", response_model=AliasLookupOut)
async def resolve_alias(
    scheme: Annotated[str, Path(max_length=40)],
    code: Annotated[str, Path(max_length=200)],
    hub: HubDep,
    actor: ActorDep,
    partner: Annotated[
        str | None,
        Query(
            max_length=80,
            description="owner partner code (or id) when several partners you see use the alias",
        ),
    ] = None,
) -> dict[str, Any]:
    """Which product a supplier/warehouse/marketplace code names among those you may see:
    404 if none, 409 ``ambiguous-alias`` (with candidates) if several partners use it."""
    product_id = await transaction(
        hub.db, lambda uow: aliases.resolve_alias(uow, actor, scheme, code, partner=partner), readonly=True
    )
    return {"scheme": scheme.strip().lower(), "code": code.strip(), "product_id": str(product_id)}
