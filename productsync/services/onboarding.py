"""Channel onboarding: propose SKU mappings for a channel's existing catalog, apply them.

Two steps, each one transaction, so a person sees the report before anything changes:

1. ``propose`` takes the items a reader got from the channel (``sync/onboarding.py`` reads
   them; services never talk to platforms), matches them to the channel's slice with
   ``domain.matching`` and stores the report as a *proposal* (an earlier open proposal of
   the channel is discarded: only the latest read may be applied).
2. ``apply`` writes the proposal's matched rows as SKU mappings, all or nothing, through
   the same code as ``PUT /v1/channels/{id}/mappings`` (``channels.upsert_mappings``);
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from productsync.domain.access import Actor, Scope
from productsync.domain.catalog import NewProduct, Product
from productsync.domain.channel_catalog import ChannelItem
from productsync.domain.channels import Channel
from productsync.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound
from productsync.domain.events import DomainEvent
from productsync.domain.matching import MatchStatus, gtin_key, match_catalog
from productsync.services import catalog
from productsync.services.channels import MappingIn, get_channel, upsert_mappings
from productsync.services.projection import credentials
from productsync.services.recording import record
from productsync.services.snapshots import read_states, state_events
from productsync.store.repositories.onboarding import Proposal, StoredRow
from productsync.store.uow import UnitOfWork

ORIGIN = "onboarding"
STATUSES = tuple(s.value for s in MatchStatus)
MAX_PAGE = 1000
MAX_NAME = 300


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
    report = match_catalog(items, candidates, mapped, alias_schemes=schemes)
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


@dataclass
class ApplyResult:
    mapped: int = 0
    created: list[dict[str, Any]] = field(default_factory=list)  # external_id, product_id, sku
    failed: list[dict[str, Any]] = field(default_factory=list)  # external_id, sku, code, reason
    skipped: list[dict[str, Any]] = field(default_factory=list)  # included, but not matched
    events: int = 0

    def report(self) -> dict[str, Any]:
        return {
            "mapped": self.mapped,
            "created": self.created,
            "failed": self.failed,
            "skipped": self.skipped,
            "events": self.events,
        }


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


def _new_product(
    channel: Channel, row: StoredRow, category_id: uuid.UUID, attributes: dict[str, Any]
) -> NewProduct:
    item = row.item or {}
    sku = (item.get("sku") or "").strip()
    if not sku:
        raise InvalidInput("the channel item has no SKU to create a hub product with", field="sku")
    assert channel.owner_partner_id is not None
    barcode = item.get("barcode")
    return NewProduct(
        sku=sku,
        name=str(item.get("title") or sku)[:MAX_NAME],
        category_id=category_id,
        owner_partner_id=channel.owner_partner_id,
        description=str(item.get("description") or ""),
        barcodes=[barcode.strip()] if isinstance(barcode, str) and gtin_key(barcode) else [],
        attributes=dict(attributes),
    )


async def _create_products(
    uow: UnitOfWork,
    actor: Actor,
    channel: Channel,
    rows: list[StoredRow],
    category_ref: str | None,
    attributes: dict[str, Any],
    result: ApplyResult,
) -> list[tuple[StoredRow, Product]]:
    actor.require(Scope.CATALOG_WRITE)
    if channel.owner_partner_id is None:
        raise InvalidInput(
            "the channel has no owner partner to create products for", field="create_unmatched"
        )
    if not category_ref:
        raise InvalidInput("creating products for unmatched items needs a category", field="category")
    try:
        category = await catalog.resolve_category(uow, category_ref)
    except NotFound:
        raise InvalidInput(f"category {category_ref} does not exist", field="category") from None
    made: list[tuple[StoredRow, Product]] = []
    for row in rows:
        item = row.item or {}
        try:
            # Every rule create_product checks runs before it writes, so a refusal here
            # leaves the transaction clean for the next item.
            product = await catalog.create_product(
                uow, actor, _new_product(channel, row, category.id, attributes)
            )
        except (InvalidInput, Conflict) as exc:
            result.failed.append(
                {
                    "external_id": row.external_id,
                    "sku": item.get("sku"),
                    "code": exc.code.value,
                    "reason": exc.detail,
                }
            )
            continue
        made.append((row, product))
        result.created.append(
            {"external_id": row.external_id, "product_id": str(product.id), "sku": product.sku}
        )
    return made


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
) -> ApplyResult:
    """Write the proposal's matched rows (and, when asked, new products for its unmatched
    channel items) as SKU mappings in one transaction; a proposal is applied once."""
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
    chosen = _chosen(await uow.onboarding.rows(proposal.id), include, exclude)
    rows = [r for r in chosen if r.status in statuses]
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
            {"external_id": r.external_id, "status": r.status} for r in chosen if r.status not in statuses
        ]
    created = (
        await _create_products(
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
