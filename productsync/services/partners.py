"""Partners and the sharing of catalogs between them."""

from __future__ import annotations

import re
import uuid

from productsync.domain.access import Actor, Scope
from productsync.domain.catalog import Partner
from productsync.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound
from productsync.services.recording import record
from productsync.store.uow import UnitOfWork

_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")


def _snapshot(p: Partner) -> dict[str, str]:
    return {"id": str(p.id), "code": p.code, "name": p.name}


async def create_partner(uow: UnitOfWork, actor: Actor, *, code: str, name: str) -> Partner:
    """Only the hub operator (admin) onboards partners."""
    actor.require(Scope.ADMIN)
    code = code.strip().lower()
    if not _CODE_RE.match(code):
        raise InvalidInput("partner code must be 3-40 lowercase letters, digits or '-'", field="code")
    if not name.strip():
        raise InvalidInput("name must not be empty", field="name")
    if await uow.partners.get_by_code(code):
        raise Conflict(f"partner {code} already exists", code=ErrorCode.DUPLICATE, partner_code=code)
    partner = Partner(id=uuid.uuid4(), code=code, name=name.strip(), created_at=uow.now)
    await uow.partners.add(partner)
    await record(
        uow,
        actor,
        action="partner.created",
        entity_type="partner",
        entity_id=partner.id,
        owner=partner.id,
        before=None,
        after=_snapshot(partner),
    )
    return partner


async def list_partners(uow: UnitOfWork, actor: Actor) -> list[Partner]:
    """Admins see all; a partner sees itself and the partners that share with it."""
    return await uow.partners.find(only=actor.readable_owners())


async def get_partner(uow: UnitOfWork, actor: Actor, partner_id: uuid.UUID) -> Partner:
    partner = await uow.partners.get(partner_id)
    if partner is None or not (actor.can_read(partner.id)):
        raise NotFound("partner", partner_id)
    return partner


async def share_catalog(uow: UnitOfWork, actor: Actor, *, owner_id: uuid.UUID, grantee_id: uuid.UUID) -> bool:
    """The owner grants the grantee read access to its whole catalog (products, stock, prices)."""
    actor.require(Scope.CATALOG_WRITE)
    owner = await get_partner(uow, actor, owner_id)
    actor.check_write(owner.id, "partner", owner_id)
    if await uow.partners.get(grantee_id) is None:
        raise NotFound("partner", grantee_id)
    if grantee_id == owner_id:
        raise InvalidInput("a partner cannot share with itself", field="grantee_partner_id")
    created = await uow.partners.add_share(owner_id, grantee_id, uow.now)
    if created:
        await record(
            uow,
            actor,
            action="share.created",
            entity_type="partner",
            entity_id=owner_id,
            owner=owner_id,
            before=None,
            after={"grantee_partner_id": str(grantee_id)},
        )
    return created


async def unshare_catalog(
    uow: UnitOfWork, actor: Actor, *, owner_id: uuid.UUID, grantee_id: uuid.UUID
) -> None:
    actor.require(Scope.CATALOG_WRITE)
    actor.check_write(owner_id, "partner", owner_id)
    if not await uow.partners.remove_share(owner_id, grantee_id):
        raise NotFound("share", f"{owner_id} -> {grantee_id}")
    await record(
        uow,
        actor,
        action="share.removed",
        entity_type="partner",
        entity_id=owner_id,
        owner=owner_id,
        before={"grantee_partner_id": str(grantee_id)},
        after=None,
    )


async def list_shares(uow: UnitOfWork, actor: Actor, owner_id: uuid.UUID) -> list[uuid.UUID]:
    actor.check_write(owner_id, "partner", owner_id)
    return await uow.partners.grantees_of(owner_id)
