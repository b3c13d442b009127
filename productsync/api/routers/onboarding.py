"""Channel onboarding: read a storefront's catalog, match it to the hub, apply the mappings
(`channels:admin` on the channel's owner)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from productsync.api.commands import Reply, execute
from productsync.api.deps import ActorDep, HubDep, request_id
from productsync.api.http import decode_cursor, encode_cursor
from productsync.api.problems import ApiProblem
from productsync.api.schemas.common import PROBLEM_RESPONSES, Problem
from productsync.api.schemas.onboarding import (
    ApplyIn,
    ApplyOut,
    CandidateOut,
    OnboardingIn,
    ProposalOut,
    RowOut,
)
from productsync.services import onboarding
from productsync.services.onboarding import ProposalPage
from productsync.services.onboarding_products import ApplyResult
from productsync.store.uow import UnitOfWork, transaction
from productsync.sync.onboarding import ChannelUnreadable, onboard

_PLATFORM = {"model": Problem, "content": {"application/problem+json": {}}}
router = APIRouter(
    prefix="/v1",
    responses={
        **PROBLEM_RESPONSES,
        502: {**_PLATFORM, "description": "The channel's platform answered with an error"},
        503: {**_PLATFORM, "description": "The channel's platform could not be reached"},
    },
    tags=["onboarding"],
)
FIRST_PAGE = 100


def _after(cursor: str | None) -> int:
    value = decode_cursor(cursor)
    if value is None:
        return 0
    if not value.isdigit():
        raise ApiProblem(400, "invalid-cursor", "the cursor is not one this API handed out")
    return int(value)


def _out(page: ProposalPage) -> ProposalOut:
    p = page.proposal

    def row(r: Any) -> RowOut:
        return RowOut(
            seq=r.seq,
            status=r.status,
            external_id=r.external_id,
            product_id=r.product_id,
            sku=page.skus.get(r.product_id) if r.product_id else None,
            rule=r.rule,
            candidates=[CandidateOut(product_id=c, sku=page.skus.get(c)) for c in r.candidates],
            reason=r.reason,
            item=r.item,
        )

    return ProposalOut(
        id=p.id,
        channel_id=p.channel_id,
        status=p.status,
        items_read=p.items_read,
        counts=p.counts,
        alias_schemes=p.alias_schemes,
        created_at=p.created_at,
        decided_at=p.decided_at,
        result=p.result,
        rows=[row(r) for r in page.rows],
        next_cursor=encode_cursor(str(page.next_after)) if page.next_after is not None else None,
    )


@router.post("/channels/{channel_id}/onboarding", status_code=201, response_model=ProposalOut)
async def start_onboarding(
    channel_id: uuid.UUID,
    request: Request,
    hub: HubDep,
    actor: ActorDep,
    response: Response,
    body: OnboardingIn | None = None,
) -> ProposalOut:
    """Read the channel's catalog now (WooCommerce, Shopify) and match it to the hub: by
    SKU, then GTIN in any form, then alias. Returns the proposal with its counts and the
    first page of its rows; nothing is mapped until it is applied. A platform that cannot
    be read is a 502 (it answered with an error) or 503 (no answer), with the reason."""
    try:
        proposal = await onboard(
            hub,
            actor,
            channel_id,
            alias_schemes=(body.alias_schemes if body else None),
            request_id=request_id(request),
        )
    except ChannelUnreadable as exc:
        status = 503 if exc.unreachable else 502
        raise ApiProblem(
            status,
            "channel-unreachable" if exc.unreachable else "channel-read-failed",
            f"the channel's catalog could not be read: {exc.reason}",
            platform_status=exc.status_code,
        ) from exc
    page = await transaction(
        hub.db,
        lambda uow: onboarding.read_proposal(uow, actor, channel_id, proposal.id, limit=FIRST_PAGE),
        readonly=True,
    )
    response.headers["Location"] = f"/v1/channels/{channel_id}/onboarding/{proposal.id}"
    return _out(page)


@router.get("/channels/{channel_id}/onboarding/{proposal_id}", response_model=ProposalOut)
async def get_proposal(
    channel_id: uuid.UUID,
    proposal_id: uuid.UUID,
    hub: HubDep,
    actor: ActorDep,
    status: Annotated[str | None, Query(max_length=40, description="Only rows of this status")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=onboarding.MAX_PAGE)] = FIRST_PAGE,
) -> ProposalOut:
    """A proposal and one page of its rows, optionally of one status."""
    after = _after(cursor)
    page = await transaction(
        hub.db,
        lambda uow: onboarding.read_proposal(
            uow, actor, channel_id, proposal_id, status=status, after=after, limit=limit
        ),
        readonly=True,
    )
    return _out(page)


@router.post("/channels/{channel_id}/onboarding/{proposal_id}/apply", response_model=ApplyOut)
async def apply_proposal(
    channel_id: uuid.UUID,
    proposal_id: uuid.UUID,
    request: Request,
    hub: HubDep,
    actor: ActorDep,
    body: ApplyIn | None = None,
) -> Response:
    """Write the proposal's matched rows as SKU mappings (all or nothing), optionally
    creating hub products for the unmatched channel items (`create_unmatched`, with a
    `category`; items the category's rules refuse are listed in `failed`). A proposal is
    applied once; a newer proposal of the channel discards it."""
    body = body or ApplyIn()

    async def use_case(uow: UnitOfWork) -> ApplyResult:
        return await onboarding.apply(
            uow,
            actor,
            channel_id,
            proposal_id,
            create_unmatched=body.create_unmatched,
            category=body.category,
            attributes=body.attributes,
            include=body.include,
            exclude=body.exclude,
            choose=body.choose,
        )

    def render(result: ApplyResult) -> Reply:
        out = ApplyOut(proposal_id=proposal_id, status="applied", **result.report())
        return Reply(out.model_dump(mode="json"))

    return await execute(request, hub, actor, use_case, render)


@router.delete("/channels/{channel_id}/onboarding/{proposal_id}", status_code=204)
async def discard_proposal(
    channel_id: uuid.UUID, proposal_id: uuid.UUID, hub: HubDep, actor: ActorDep
) -> Response:
    """Drop an open proposal without applying it."""
    await transaction(hub.db, lambda uow: onboarding.discard(uow, actor, channel_id, proposal_id))
    return Response(status_code=204)
