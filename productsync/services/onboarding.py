"""Channel onboarding: propose SKU mappings for a channel's existing catalog, apply them.

Two steps, each one transaction, so a person sees the report before anything changes:

1. ``propose`` takes the items a reader got from the channel (``sync/onboarding.py`` reads
   them; services never talk to platforms), matches them to the channel's slice with
   ``domain.matching`` and stores the report as a *proposal* (an earlier open proposal of
   the channel is discarded: only the latest read may be applied).
2. ``apply`` writes the proposal's matched rows as SKU mappings, all or nothing, through
   the same code as ``PUT /v1/channels/{id}/mappings`` (``channels.upsert_mappings``);
   ambiguous items a person settled (``choose``: item -> one of its candidates) with them;
   optionally creates hub products, owned by the channel's partner, for the items the hub
   lacks (``catalog.create_product``: the category's SKU prefix and attribute rules apply,
   and an item they refuse is reported, not fatal). Each newly mapped product's current
   state is queued to the channel (directed events, as a backfill sends), so the store
   shows the hub's stock and prices from then on.

Matching only looks at products the channel's partner may read inside the channel's slice,
and products are created under the channel's partner: a SKU another partner uses elsewhere
never blocks onboarding.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from productsync.domain.access import Actor
from productsync.domain.channel_catalog import ChannelItem
from productsync.domain.channels import Channel
from productsync.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound
from productsync.domain.events import DomainEvent
from productsync.domain.matching import MatchStatus, match_catalog
from productsync.services.channels import MappingIn, get_channel, upsert_mappings
from productsync.services.onboarding_products import ApplyResult, create_products
from productsync.services.projection import credentials
from productsync.services.recording import record
from productsync.services.snapshots import read_states, state_events
from productsync.store.repositories.onboarding import Proposal, StoredRow
from productsync.store.uow import UnitOfWork

ORIGIN = "onboarding"
STATUSES = tuple(s.value for s in MatchStatus)
MAX_PAGE = 1000


async def channel_to_read(
    uow: UnitOfWork, actor: Actor, channel_id: uuid.UUID
) -> tuple[Channel, dict[str, str]]:
    """The channel and its platform credentials, for a caller allowed to onboard it
    (``channels:admin`` on the channel's owner): checked before any request leaves."""
    channel = await get_channel(uow, actor, channel_id)
    return channel, await credentials(uow, channel.id)


def _readable(channel: Channel, sharing: set[uuid.UUID]) -> set[uuid.UUID] | None:
    if channel.owner_partner_id is None:
        return None  # an admin's channel: its slice alone decides
    return {channel.owner_partner_id, *sharing}


async def propose(
    uow: UnitOfWork,
    actor: Actor,
    channel_id: uuid.UUID,
    items: Sequence[ChannelItem],
    *,
    alias_schemes: Sequence[str] | None = None,
) -> Proposal:
    """Match what the channel holds to the hub and store the report as a new proposal."""
    channel = await get_channel(uow, actor, channel_id, for_update=True)  # one proposal at a time
    sharing = (
        await uow.partners.owners_sharing_with(channel.owner_partner_id)
        if channel.owner_partner_id
        else set()
    )
    candidates = await uow.onboarding.slice_candidates(
        partner_ids=channel.partner_ids,
        category_ids=channel.category_ids,
        readable=_readable(channel, sharing),
    )
    mapped = await uow.onboarding.mappings(channel.id)
    schemes = sorted({s.strip().lower() for s in alias_schemes}) if alias_schemes else None
    report = match_catalog(items, candidates, mapped, alias_schemes=schemes, owner=channel.owner_partner_id)
    discarded = await uow.onboarding.discard_open(channel.id, uow.now)
    proposal_id = uuid.uuid4()
    await uow.onboarding.add(
        proposal_id=proposal_id,
        channel_id=channel.id,
        items_read=len(items),
        counts=dict(report.counts),
        alias_schemes=schemes,
        created_by=str(actor.key_id) if actor.key_id else actor.origin,
        at=uow.now,
        rows=report.rows,
    )
    await record(
        uow,
        actor,
        action="channel.onboarding_proposed",
        entity_type="channel",
        entity_id=channel.id,
        owner=channel.owner_partner_id,
        before=None,
        after={
            "proposal_id": str(proposal_id),
            "items_read": len(items),
            "counts": dict(report.counts),
            "discarded_earlier": discarded,
        },
    )
    proposal = await uow.onboarding.get(proposal_id)
    assert proposal is not None
    return proposal


@dataclass(frozen=True)
class ProposalPage:
    proposal: Proposal
    rows: list[StoredRow]
    skus: dict[uuid.UUID, str]  # the SKUs of the products the rows name
    next_after: int | None


async def _proposal_of(
    uow: UnitOfWork, channel: Channel, proposal_id: uuid.UUID, *, for_update: bool = False
) -> Proposal:
    proposal = await uow.onboarding.get(proposal_id, for_update=for_update)
    if proposal is None or proposal.channel_id != channel.id:
        raise NotFound("onboarding proposal", proposal_id)
    return proposal


async def read_proposal(
    uow: UnitOfWork,
    actor: Actor,
    channel_id: uuid.UUID,
    proposal_id: uuid.UUID,
    *,
    status: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> ProposalPage:
    """A proposal with one page of its rows (those of one status, if asked), in report order."""
    channel = await get_channel(uow, actor, channel_id)
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1-{MAX_PAGE}", field="limit")
    if after < 0:
        raise InvalidInput("after must not be negative", field="after")
    proposal = await _proposal_of(uow, channel, proposal_id)
    rows = await uow.onboarding.rows(
        proposal.id, statuses=[status] if status else None, after=after, limit=limit + 1
    )
    more, rows = len(rows) > limit, rows[:limit]  # one extra row read: the last page says so
    ids = {r.product_id for r in rows if r.product_id} | {c for r in rows for c in r.candidates}
    skus = {pid: p.sku for pid, p in (await uow.products.get_many(ids)).items()}
    return ProposalPage(proposal, rows, skus, rows[-1].seq if more else None)


def _chosen(rows: list[StoredRow], include: Sequence[str] | None, exclude: Sequence[str]) -> list[StoredRow]:
    """The rows the caller chose; naming an item the proposal does not hold is a 422."""
    known = {r.external_id for r in rows if r.external_id is not None}
    unknown = sorted({*(include or ()), *exclude} - known)
    if unknown:
        raise InvalidInput(
            f"{len(unknown)} external id(s) are not items of this proposal",
            code=ErrorCode.UNKNOWN_EXTERNAL_ID,
            external_ids=unknown[:50],
        )
    wanted = set(include) if include is not None else known
    return [r for r in rows if r.external_id in wanted and r.external_id not in set(exclude)]


def _settled(
    rows: list[StoredRow], choose: Mapping[str, uuid.UUID], exclude: Sequence[str]
) -> list[StoredRow]:
    """Ambiguous rows a person settled, as matched rows; every bad choice named at once."""
    by_id = {r.external_id: r for r in rows if r.external_id is not None}
    problems: list[dict[str, Any]] = []
    out = []
    for external_id, product_id in choose.items():
        row = by_id.get(external_id)
        if row is None or row.status != MatchStatus.AMBIGUOUS.value or external_id in exclude:
            problems.append({"external_id": external_id, "message": "not an ambiguous item of this proposal"})
        elif product_id not in row.candidates:
            problems.append(
                {"external_id": external_id, "message": f"{product_id} is not one of its candidates"}
            )
        else:
            out.append(replace(row, status=MatchStatus.MATCHED.value, product_id=product_id))
    if problems:
        raise InvalidInput(
            f"{len(problems)} choice(s) refused; nothing was applied", field="choose", errors=problems
        )
    return out


def _one_item_per_product(rows: list[StoredRow]) -> None:
    """Two items mapped to one product in one go is what matching called ambiguous."""
    seen: dict[uuid.UUID, str] = {}
    for r in rows:
        assert r.product_id is not None and r.external_id is not None
        if r.product_id in seen:
            raise InvalidInput(
                f"items {seen[r.product_id]} and {r.external_id} would both map to product {r.product_id}",
                field="choose",
            )
        seen[r.product_id] = r.external_id


async def apply(
    uow: UnitOfWork,
    actor: Actor,
    channel_id: uuid.UUID,
    proposal_id: uuid.UUID,
    *,
    create_unmatched: bool = False,
    category: str | None = None,
    attributes: dict[str, Any] | None = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    choose: Mapping[str, uuid.UUID] | None = None,
) -> ApplyResult:
    """Write the proposal's matched rows (and, when asked, new products for its unmatched
    channel items) as SKU mappings in one transaction; a proposal is applied once.
    ``choose`` settles ambiguous items: external id -> one of that row's candidates."""
    channel = await get_channel(uow, actor, channel_id, for_update=True)
    proposal = await _proposal_of(uow, channel, proposal_id, for_update=True)
    if proposal.status != "proposed":
        raise Conflict(
            f"the proposal is {proposal.status}; run onboarding again for a new one",
            code=ErrorCode.DUPLICATE,
            status=proposal.status,
        )
    statuses = {MatchStatus.MATCHED.value} | (
        {MatchStatus.UNMATCHED_CHANNEL.value} if create_unmatched else set()
    )
    every = await uow.onboarding.rows(proposal.id)
    chosen = _chosen(every, include, exclude)
    rows = [r for r in chosen if r.status in statuses] + _settled(every, choose or {}, exclude)
    _one_item_per_product([r for r in rows if r.status == MatchStatus.MATCHED.value])
    matched = [r for r in rows if r.status == MatchStatus.MATCHED.value]
    # The proposal saw these items unmapped; a mapping written since means it is stale.
    now_mapped = await uow.onboarding.mappings(channel.id)
    changed = sorted(r.external_id for r in rows if r.external_id in now_mapped and r.external_id)
    if changed:
        raise Conflict(
            f"{len(changed)} item(s) were mapped since the proposal; run onboarding again",
            code=ErrorCode.DUPLICATE,
            external_ids=changed[:50],
        )
    result = ApplyResult()
    if include is not None:  # named explicitly but nothing to apply: say so
        result.skipped = [
            {"external_id": r.external_id, "status": r.status}
            for r in chosen
            if r.status not in statuses and r.external_id not in (choose or {})
        ]
    created = (
        await create_products(
            uow,
            actor,
            channel,
            [r for r in rows if r.status == MatchStatus.UNMATCHED_CHANNEL.value],
            category,
            attributes or {},
            result,
        )
        if create_unmatched
        else []
    )
    mappings = [
        MappingIn(
            external_id=r.external_id or "", product_id=r.product_id, external_sku=(r.item or {}).get("sku")
        )
        for r in matched
    ] + [
        MappingIn(
            external_id=row.external_id or "", product_id=p.id, external_sku=(row.item or {}).get("sku")
        )
        for row, p in created
    ]
    if mappings:
        result.mapped = await upsert_mappings(uow, actor, channel.id, mappings)
    events = await _state_of(uow, channel, {m.product_id for m in mappings if m.product_id})
    result.events = len(events)
    await uow.onboarding.decide(proposal.id, "applied", uow.now, result.report())
    await record(
        uow,
        actor,
        action="channel.onboarding_applied",
        entity_type="channel",
        entity_id=channel.id,
        owner=channel.owner_partner_id,
        before={"proposal_id": str(proposal.id), "status": proposal.status},
        after={
            "proposal_id": str(proposal.id),
            "status": "applied",
            "mapped": result.mapped,
            "created": len(result.created),
            "failed": len(result.failed),
        },
        events=events,
    )
    return result


async def _state_of(uow: UnitOfWork, channel: Channel, product_ids: set[uuid.UUID]) -> list[DomainEvent]:
    """Each newly mapped product's state as events directed at the channel (the
    backfill's shapes), so the store holds the hub's stock and prices from now on."""
    if not product_ids:
        return []
    products = list((await uow.products.get_many(product_ids)).values())
    reads = await read_states(uow, channel, products)
    events: list[DomainEvent] = []
    for p in sorted(products, key=lambda p: p.sku):
        events += state_events(channel, p, reads, origin=ORIGIN, at=uow.now)
    return events


async def discard(uow: UnitOfWork, actor: Actor, channel_id: uuid.UUID, proposal_id: uuid.UUID) -> Proposal:
    """Drop an open proposal without applying it."""
    channel = await get_channel(uow, actor, channel_id, for_update=True)
    proposal = await _proposal_of(uow, channel, proposal_id, for_update=True)
    if proposal.status != "proposed":
        raise Conflict(f"the proposal is {proposal.status}", code=ErrorCode.DUPLICATE, status=proposal.status)
    await uow.onboarding.decide(proposal.id, "discarded", uow.now, {})
    await record(
        uow,
        actor,
        action="channel.onboarding_discarded",
        entity_type="channel",
        entity_id=channel.id,
        owner=channel.owner_partner_id,
        before={"proposal_id": str(proposal.id), "status": "proposed"},
        after={"proposal_id": str(proposal.id), "status": "discarded"},
    )
    found = await uow.onboarding.get(proposal.id)
    assert found is not None
    return found
