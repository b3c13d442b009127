"""Channel administration: create (secret shown once), read, edit, rotate secrets, SKU mappings."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from productsync.domain import channels as rules
from productsync.domain.access import Actor, Scope
from productsync.domain.catalog import normalize_locale
from productsync.domain.channels import Channel, ChannelStatus, NewChannel
from productsync.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound, PreconditionFailed
from productsync.domain.sku_namespaces import choose
from productsync.domain.targets import STRICT, TargetPolicy, check_url_target
from productsync.services.recording import record
from productsync.store.uow import UnitOfWork


def _snapshot(c: Channel) -> dict[str, Any]:
    """What the audit log keeps of a channel: everything but its secrets."""
    return {
        "name": c.name,
        "kind": c.kind.value,
        "url": c.url,
        "partner_ids": [str(x) for x in c.partner_ids],
        "category_ids": [str(x) for x in c.category_ids],
        "location_ids": [str(x) for x in c.location_ids],
        "price_list_id": str(c.price_list_id) if c.price_list_id else None,
        "locale": c.locale,
        "buffer_stock": str(c.buffer_stock),
        "conflict_policy": c.conflict_policy.value,
        "status": c.status.value,
        "version": c.version,
    }


async def _check_references(
    uow: UnitOfWork, actor: Actor, owner: uuid.UUID | None, values: dict[str, Any]
) -> None:
    """A channel may only name partners, locations and price lists its owner can read,
    so a channel can never become a window onto another partner's unshared data."""
    readable: set[uuid.UUID] | None = None
    if owner is not None:
        readable = {owner, *await uow.partners.owners_sharing_with(owner)}

    def visible(partner: uuid.UUID | None) -> bool:
        return readable is None or partner is None or partner in readable

    for pid in values.get("partner_ids") or ():
        if await uow.partners.get(pid) is None or not visible(pid):
            raise NotFound("partner", pid)
    for cid in values.get("category_ids") or ():
        if await uow.categories.get(cid) is None:
            raise NotFound("category", cid)
    for lid in values.get("location_ids") or ():
        location = await uow.locations.get(lid)
        if location is None or not visible(location.owner_partner_id):
            raise NotFound("location", lid)
    if values.get("price_list_id") is not None:
        pl = await uow.prices.get_list(values["price_list_id"])
        if pl is None or not visible(pl.owner_partner_id):
            raise NotFound("price list", values["price_list_id"])
    if values.get("locale") is not None:
        values["locale"] = normalize_locale(values["locale"])


async def create_channel(
    uow: UnitOfWork,
    actor: Actor,
    new: NewChannel,
    *,
    credentials: dict[str, str] | None = None,
    targets: TargetPolicy = STRICT,
) -> tuple[Channel, str]:
    """Returns the channel and its signing secret; the secret is never shown again.
    A URL naming an address ``targets`` refuses (127.0.0.1, 169.254.169.254, ...) is a 422
    now rather than a delivery that fails forever."""
    actor.require(Scope.CHANNELS_ADMIN)
    check_url_target(new.url, targets)
    owner = new.owner_partner_id if actor.is_admin else actor.partner_id
    if owner is not None:
        actor.check_write(owner, "partner", owner)
        if await uow.partners.get(owner) is None:
            raise NotFound("partner", owner)
    values: dict[str, Any] = {
        "partner_ids": new.partner_ids or ((owner,) if owner else ()),
        "category_ids": new.category_ids,
        "location_ids": new.location_ids,
        "price_list_id": new.price_list_id,
        "locale": new.locale,
    }
    await _check_references(uow, actor, owner, values)
    channel = rules.create_channel(
        NewChannel(**{**new.__dict__, **values, "owner_partner_id": owner}), now=uow.now
    )
    secret = rules.new_signing_secret()
    await uow.channels.add(channel, uow.secrets.seal(secret))
    await uow.channels.request_backfill(channel.id, uow.now)
    if credentials:
        await uow.channels.set_credentials(channel.id, uow.secrets.seal(json.dumps(credentials)))
        channel = replace(channel, has_credentials=True)
    await record(
        uow,
        actor,
        action="channel.created",
        entity_type="channel",
        entity_id=channel.id,
        owner=owner,
        before=None,
        after=_snapshot(channel),
    )
    return channel, secret


async def get_channel(
    uow: UnitOfWork, actor: Actor, channel_id: uuid.UUID, *, for_update: bool = False
) -> Channel:
    actor.require(Scope.CHANNELS_ADMIN)
    return await owned_channel(uow, actor, channel_id, for_update=for_update)


async def owned_channel(
    uow: UnitOfWork, actor: Actor, channel_id: uuid.UUID, *, for_update: bool = False
) -> Channel:
    """A channel of the caller's partner (any, for admins); others' are reported absent.
    No scope check: callers that act through a channel (inbound, its stream, its
    availability) check the scope their action needs."""
    channel = await uow.channels.get(channel_id, for_update=for_update)
    if channel is None or not actor.can_write(channel.owner_partner_id):
        raise NotFound("channel", channel_id)
    return channel


async def list_channels(uow: UnitOfWork, actor: Actor) -> list[Channel]:
    actor.require(Scope.CHANNELS_ADMIN)
    if actor.is_admin:
        return await uow.channels.find(None)
    return await uow.channels.find({actor.partner_id} if actor.partner_id else set())


_UNSET: Any = object()
_SLICE = ("partner_ids", "category_ids", "location_ids", "price_list_id", "locale", "buffer_stock")


def _needs_backfill(before: Channel, after: Channel) -> bool:
    """Re-enabled (it missed what happened meanwhile) or its slice changed (it may now
    see products, levels or prices it never got): send it a fresh snapshot."""
    if after.status is not ChannelStatus.ENABLED:
        return False
    if before.status is not ChannelStatus.ENABLED:
        return True
    return any(getattr(before, f) != getattr(after, f) for f in _SLICE)


async def update_channel(
    uow: UnitOfWork,
    actor: Actor,
    channel_id: uuid.UUID,
    changes: dict[str, Any],
    *,
    expected_version: int | None,
    targets: TargetPolicy = STRICT,
) -> Channel:
    """Edit a channel; a new URL passes the same address check as at creation."""
    channel = await get_channel(uow, actor, channel_id, for_update=True)
    if changes.get("url") is not None:
        check_url_target(str(changes["url"]), targets)
    if expected_version is not None and expected_version != channel.version:
        raise PreconditionFailed(
            f"channel is at version {channel.version}, not {expected_version}",
            current_version=channel.version,
        )
    changes = dict(changes)
    credentials = changes.pop("credentials", _UNSET)
    await _check_references(uow, actor, channel.owner_partner_id, changes)
    updated = rules.patch_channel(channel, changes, now=uow.now)
    if credentials is not _UNSET:  # null removes them; a new set replaces the old one whole
        sealed = uow.secrets.seal(json.dumps(credentials)) if credentials else None
        await uow.channels.set_credentials(channel.id, sealed)
        updated = replace(
            updated, has_credentials=sealed is not None, version=channel.version + 1, updated_at=uow.now
        )
    if updated is channel:
        return channel
    await uow.channels.update(updated)
    if _needs_backfill(channel, updated):
        await uow.channels.request_backfill(channel.id, uow.now)
    await record(
        uow,
        actor,
        action="channel.updated",
        entity_type="channel",
        entity_id=channel.id,
        owner=channel.owner_partner_id,
        before=_snapshot(channel),
        after=_snapshot(updated),
    )
    return updated


async def rotate_secret(
    uow: UnitOfWork, actor: Actor, channel_id: uuid.UUID, *, grace: timedelta | None = None
) -> tuple[Channel, str, datetime | None]:
    """A new secret signs from now on; the old one signs beside it until the grace period
    ends, so receivers can switch without dropping a single delivery."""
    channel = await get_channel(uow, actor, channel_id, for_update=True)
    period = rules.rotation_grace(grace)
    current, _, _ = await uow.channels.sealed_secrets(channel.id)
    secret = rules.new_signing_secret()
    until = uow.now + period if period else None
    await uow.channels.rotate_secret(
        channel.id, uow.secrets.seal(secret), current if period else None, until, uow.now
    )
    await record(
        uow,
        actor,
        action="channel.secret_rotated",
        entity_type="channel",
        entity_id=channel.id,
        owner=channel.owner_partner_id,
        before=None,
        after={"previous_valid_until": until.isoformat() if until else None},
    )
    return channel, secret, until


async def signing_secrets(uow: UnitOfWork, channel_id: uuid.UUID) -> list[str]:
    """The secrets to sign with now: the current one, plus the previous one during its grace."""
    current, previous, until = await uow.channels.sealed_secrets(channel_id)
    out = [uow.secrets.open(current)]
    if previous is not None and until is not None and uow.now < until:
        out.append(uow.secrets.open(previous))
    return out


@dataclass(frozen=True)
class MappingIn:
    external_id: str
    sku: str | None = None
    product_id: uuid.UUID | None = None
    external_sku: str | None = None
    partner: str | None = None  # whose ``sku`` (a partner code), when several partners use it


async def upsert_mappings(
    uow: UnitOfWork, actor: Actor, channel_id: uuid.UUID, items: list[MappingIn]
) -> int:
    """All or nothing: every row must name a product the channel's owner can read; the
    refusal lists every bad row by index, so a feed can be fixed in one go. A SKU is
    chosen among the products the channel's owner can read; a row whose SKU several of
    those partners use is refused with its candidates (409 ``ambiguous-sku`` when that
    is all that is wrong) and names ``partner`` or ``product_id`` instead."""
    channel = await get_channel(uow, actor, channel_id)
    owner_readable: set[uuid.UUID] | None = None
    if channel.owner_partner_id is not None:
        owner_readable = {
            channel.owner_partner_id,
            *await uow.partners.owners_sharing_with(channel.owner_partner_id),
        }
    rows: dict[str, dict[str, Any]] = {}
    problems: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        external_id = item.external_id.strip()
        if not external_id:
            problems.append({"index": i, "message": "external_id is empty"})
            continue
        if item.product_id is not None:
            product = await uow.products.get(item.product_id)
        elif item.sku is not None:
            key = item.sku.strip().upper()
            found = await uow.products.sku_candidates(key, owner_readable)
            try:
                chosen = choose(key, [c for _, c in found], readable=None, partner=item.partner)
            except NotFound:
                product = None
            except Conflict as exc:
                problems.append({"index": i, "message": exc.detail, "code": exc.code.value, **exc.data})
                continue
            else:
                product = next(p for p, c in found if c == chosen)
        else:
            problems.append({"index": i, "message": "give sku or product_id"})
            continue
        if product is None or owner_readable is not None and product.owner_partner_id not in owner_readable:
            problems.append({"index": i, "message": f"unknown product {item.sku or item.product_id}"})
            continue
        if external_id in rows:
            problems.append({"index": i, "message": f"external_id {external_id} repeats an earlier row"})
            continue
        rows[external_id] = {
            "external_id": external_id,
            "product_id": product.id,
            "external_sku": item.external_sku,
        }
    if problems:
        message = f"{len(problems)} of {len(items)} mappings are invalid; nothing was changed"
        if all(p.get("code") == ErrorCode.AMBIGUOUS_SKU.value for p in problems):
            raise Conflict(message, code=ErrorCode.AMBIGUOUS_SKU, errors=problems)
        raise InvalidInput(message, code=ErrorCode.INVALID_INPUT, errors=problems)
    await uow.mappings.upsert(channel.id, list(rows.values()), uow.now)
    await record(
        uow,
        actor,
        action="channel.mappings_upserted",
        entity_type="channel",
        entity_id=channel.id,
        owner=channel.owner_partner_id,
        before=None,
        after={"count": len(rows)},
    )
    return len(rows)


async def resolve_external(uow: UnitOfWork, channel: Channel, external_id: str) -> uuid.UUID:
    """The hub product behind a channel's identifier; unknown ids are a clear 404, never dropped."""
    product_id = await uow.mappings.product_for(channel.id, external_id)
    if product_id is None:
        raise NotFound("mapping", f"{external_id} on channel {channel.name}")
    return product_id


async def remove_mapping(uow: UnitOfWork, actor: Actor, channel_id: uuid.UUID, external_id: str) -> None:
    channel = await get_channel(uow, actor, channel_id)
    if not await uow.mappings.remove(channel.id, external_id):
        raise NotFound("mapping", external_id)
    await record(
        uow,
        actor,
        action="channel.mapping_removed",
        entity_type="channel",
        entity_id=channel.id,
        owner=channel.owner_partner_id,
        before={"external_id": external_id},
        after=None,
    )
