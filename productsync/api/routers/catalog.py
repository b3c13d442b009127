"""Partners, shares, categories and products."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import AwareDatetime

from productsync.api.commands import Reply, execute
from productsync.api.deps import ActorDep, HubDep
from productsync.api.http import decode_cursor, encode_cursor, etag, parse_if_match
from productsync.api.problems import ApiProblem
from productsync.api.schemas.categories import CategoryIn, CategoryOut
from productsync.api.schemas.common import PROBLEM_RESPONSES
from productsync.api.schemas.partners import PartnerIn, PartnerOut, ShareIn, ShareOut
from productsync.api.schemas.products import ProductIn, ProductOut, ProductPage, ProductPatch
from productsync.domain.catalog import Category, Component, NewProduct, Partner, Product
from productsync.services import catalog, partners
from productsync.store.uow import UnitOfWork, transaction

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)

IfMatch = Annotated[str | None, Header(alias="If-Match", description='Version as ETag, e.g. "3".')]


@router.post("/partners", status_code=201, response_model=PartnerOut, tags=["partners"])
async def create_partner(body: PartnerIn, request: Request, hub: HubDep, actor: ActorDep) -> Response:
    async def use_case(uow: UnitOfWork) -> Partner:
        return await partners.create_partner(uow, actor, code=body.code, name=body.name)

    return await execute(
        request,
        hub,
        actor,
        use_case,
        lambda p: Reply(
            PartnerOut.model_validate(p).model_dump(mode="json"), 201, {"Location": f"/v1/partners/{p.id}"}
        ),
    )


@router.get("/partners", response_model=list[PartnerOut], tags=["partners"])
async def list_partners(hub: HubDep, actor: ActorDep) -> list[PartnerOut]:
    found = await transaction(hub.db, lambda uow: partners.list_partners(uow, actor), readonly=True)
    return [PartnerOut.model_validate(p) for p in found]


@router.get("/partners/{partner_id}", response_model=PartnerOut, tags=["partners"])
async def get_partner(partner_id: uuid.UUID, hub: HubDep, actor: ActorDep) -> PartnerOut:
    p = await transaction(hub.db, lambda uow: partners.get_partner(uow, actor, partner_id), readonly=True)
    return PartnerOut.model_validate(p)


@router.post("/partners/{partner_id}/shares", status_code=201, response_model=ShareOut, tags=["partners"])
async def share_catalog(
    partner_id: uuid.UUID, body: ShareIn, request: Request, hub: HubDep, actor: ActorDep
) -> Response:
    """Share this partner's catalog (products, stock, prices) read-only with another partner."""

    async def use_case(uow: UnitOfWork) -> bool:
        return await partners.share_catalog(
            uow, actor, owner_id=partner_id, grantee_id=body.grantee_partner_id
        )

    def render(created: bool) -> Reply:
        request.app.state.auth_cache.clear()
        out = ShareOut(
            owner_partner_id=partner_id, grantee_partner_id=body.grantee_partner_id, created=created
        )
        return Reply(out.model_dump(mode="json"), 201 if created else 200)

    return await execute(request, hub, actor, use_case, render)


@router.get("/partners/{partner_id}/shares", response_model=list[uuid.UUID], tags=["partners"])
async def list_shares(partner_id: uuid.UUID, hub: HubDep, actor: ActorDep) -> list[uuid.UUID]:
    return await transaction(hub.db, lambda uow: partners.list_shares(uow, actor, partner_id), readonly=True)


@router.delete("/partners/{partner_id}/shares/{grantee_id}", status_code=204, tags=["partners"])
async def unshare_catalog(
    partner_id: uuid.UUID, grantee_id: uuid.UUID, request: Request, hub: HubDep, actor: ActorDep
) -> Response:
    await transaction(
        hub.db, lambda uow: partners.unshare_catalog(uow, actor, owner_id=partner_id, grantee_id=grantee_id)
    )
    request.app.state.auth_cache.clear()
    return Response(status_code=204)


@router.get("/categories", response_model=list[CategoryOut], tags=["catalog"])
async def list_categories(hub: HubDep, actor: ActorDep) -> list[CategoryOut]:
    found = await transaction(hub.db, catalog.list_categories, readonly=True)
    return [CategoryOut.model_validate(c) for c in found]


@router.post("/categories", status_code=201, response_model=CategoryOut, tags=["catalog"])
async def create_category(body: CategoryIn, request: Request, hub: HubDep, actor: ActorDep) -> Response:
    async def use_case(uow: UnitOfWork) -> Category:
        return await catalog.create_category(
            uow,
            actor,
            code=body.code,
            name=body.name,
            sku_prefix=body.sku_prefix,
            attribute_schema=body.attribute_schema,
            lot_tracked=body.lot_tracked,
        )

    return await execute(
        request,
        hub,
        actor,
        use_case,
        lambda c: Reply(CategoryOut.model_validate(c).model_dump(mode="json"), 201),
    )


def _product_reply(p: Product, status: int = 200) -> Reply:
    headers = {"ETag": etag(p.version)}
    if status == 201:
        headers["Location"] = f"/v1/products/{p.id}"
    return Reply(ProductOut.model_validate(p).model_dump(mode="json"), status, headers)


@router.post("/products", status_code=201, response_model=ProductOut, tags=["catalog"])
async def create_product(body: ProductIn, request: Request, hub: HubDep, actor: ActorDep) -> Response:
    owner = body.owner_partner_id or actor.partner_id
    if owner is None:
        raise ApiProblem(422, "validation-failed", "owner_partner_id is required for admin keys")

    async def use_case(uow: UnitOfWork) -> Product:
        category = await catalog.resolve_category(uow, body.category)
        new = NewProduct(
            sku=body.sku,
            name=body.name,
            category_id=category.id,
            owner_partner_id=owner,
            base_unit=body.base_unit,
            description=body.description,
            barcodes=body.barcodes,
            texts={k: v.model_dump(exclude_none=True) for k, v in body.texts.items()},
            tax_class=body.tax_class,
            attributes=body.attributes,
            kind=body.kind,
            components=[Component(c.product_id, c.quantity) for c in body.components],
            allow_backorders=body.allow_backorders,
            packs=dict(body.packs),
        )
        return await catalog.create_product(uow, actor, new)

    return await execute(request, hub, actor, use_case, lambda p: _product_reply(p, 201))


@router.get("/products", response_model=ProductPage, tags=["catalog"])
async def list_products(
    hub: HubDep,
    actor: ActorDep,
    partner_id: uuid.UUID | None = None,
    category: Annotated[str | None, Query(description="Category code or id.")] = None,
    sku: Annotated[str | None, Query(description="SKU or SKU prefix.", max_length=64)] = None,
    partner: Annotated[
        str | None,
        Query(
            description="Only this partner's products (its code); SKUs are unique per partner.", max_length=40
        ),
    ] = None,
    updated_since: AwareDatetime | None = None,
    barcode: Annotated[str | None, Query(description="A GTIN-8/12/13/14, as scanned.", max_length=20)] = None,
    include_archived: bool = False,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ProductPage:
    # The cursor is "SKU|product id": several partners may use one SKU (a bare SKU, as
    # cursors were before SKU namespaces, still reads as "after this SKU").
    after, _, after_id_text = (decode_cursor(cursor) or "").partition("|")
    try:
        after_id = uuid.UUID(after_id_text) if after_id_text else None
    except ValueError as exc:
        raise ApiProblem(400, "invalid-cursor", "the cursor is not one this API handed out") from exc
    since: datetime | None = updated_since
    found = await transaction(
        hub.db,
        lambda uow: catalog.list_products(
            uow,
            actor,
            partner_id=partner_id,
            category=category,
            sku=sku,
            updated_since=since,
            barcode=barcode,
            include_archived=include_archived,
            after_sku=after or None,
            after_id=after_id,
            limit=limit + 1,
            partner=partner,
        ),
        readonly=True,
    )
    more = len(found) > limit
    items = found[:limit]
    return ProductPage(
        items=[ProductOut.model_validate(p) for p in items],
        next_cursor=encode_cursor(f"{items[-1].sku}|{items[-1].id}") if more and items else None,
    )


@router.get("/products/{product_id}", response_model=ProductOut, tags=["catalog"])
async def get_product(product_id: uuid.UUID, hub: HubDep, actor: ActorDep, response: Response) -> ProductOut:
    p = await transaction(hub.db, lambda uow: catalog.get_product(uow, actor, product_id), readonly=True)
    response.headers["ETag"] = etag(p.version)
    return ProductOut.model_validate(p)


@router.patch("/products/{product_id}", response_model=ProductOut, tags=["catalog"])
async def update_product(
    product_id: uuid.UUID,
    body: ProductPatch,
    request: Request,
    hub: HubDep,
    actor: ActorDep,
    if_match: IfMatch = None,
) -> Response:
    """Partial update. With `If-Match`, a stale version is refused with 412."""
    changes = body.model_dump(exclude_unset=True)
    if "texts" in changes and changes["texts"] is not None:
        changes["texts"] = {
            k: {f: x for f, x in v.items() if x is not None} for k, v in changes["texts"].items()
        }
    expected = parse_if_match(if_match)

    async def use_case(uow: UnitOfWork) -> Product:
        return await catalog.update_product(uow, actor, product_id, changes, expected_version=expected)

    return await execute(request, hub, actor, use_case, _product_reply)


@router.delete("/products/{product_id}", response_model=ProductOut, tags=["catalog"])
async def archive_product(
    product_id: uuid.UUID, request: Request, hub: HubDep, actor: ActorDep, if_match: IfMatch = None
) -> Response:
    """Archives the product (it stays readable, leaves default lists, keeps its history)."""
    expected = parse_if_match(if_match)

    async def use_case(uow: UnitOfWork) -> Product:
        return await catalog.archive_product(uow, actor, product_id, expected_version=expected)

    return await execute(request, hub, actor, use_case, _product_reply)
