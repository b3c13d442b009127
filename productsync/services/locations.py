"""Locations: where stock is kept, a partner's own or hub-wide."""

from __future__ import annotations

import re
import uuid

from productsync.domain.access import Actor, Scope
from productsync.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound
from productsync.domain.inventory import Location, LocationKind
from productsync.domain.lots import DEFAULT_TIME_ZONE, check_time_zone
from productsync.services.recording import record
from productsync.store.uow import UnitOfWork

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,38}[A-Za-z0-9]$")


async def create_location(
    uow: UnitOfWork,
    actor: Actor,
    *,
    code: str,
    name: str,
    kind: LocationKind,
    owner_partner_id: uuid.UUID | None,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> Location:
    """A partner creates its own locations; only admins create hub-wide ones (no owner).
    The time zone (IANA) is where its lots' expiry dates are read."""
    actor.require(Scope.STOCK_WRITE)
    if owner_partner_id is None and not actor.is_admin:
        owner_partner_id = actor.partner_id
    if owner_partner_id is not None:
        actor.check_write(owner_partner_id, "partner", owner_partner_id)
        if await uow.partners.get(owner_partner_id) is None:
            raise NotFound("partner", owner_partner_id)
    if not _CODE_RE.match(code):
        raise InvalidInput("location code must be 2-40 letters, digits, '.', '_' or '-'", field="code")
    if not name.strip():
        raise InvalidInput("name must not be empty", field="name")
    if await uow.locations.get_by_code(code):
        raise Conflict(f"location {code} already exists", code=ErrorCode.DUPLICATE)
    zone = check_time_zone(time_zone)
    location = Location(uuid.uuid4(), code, name.strip(), kind, owner_partner_id, uow.now, zone)
    await uow.locations.add(location)
    await record(
        uow,
        actor,
        action="location.created",
        entity_type="location",
        entity_id=location.id,
        owner=owner_partner_id,
        before=None,
        after={"code": code, "name": location.name, "kind": kind.value, "time_zone": zone},
    )
    return location


async def list_locations(uow: UnitOfWork, actor: Actor) -> list[Location]:
    return await uow.locations.find(actor.readable_owners())
