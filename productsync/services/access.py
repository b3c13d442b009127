"""API keys: create (shown once), authenticate, list, revoke."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from productsync.domain.access import Actor, Scope
from productsync.domain.errors import InvalidInput, NotFound
from productsync.domain.keys import hash_key, looks_like_key, new_key
from productsync.services.recording import record
from productsync.store.repositories.access import StoredKey
from productsync.store.uow import UnitOfWork

PARTNER_DEFAULT_SCOPES = (
    Scope.CATALOG_READ,
    Scope.CATALOG_WRITE,
    Scope.STOCK_WRITE,
    Scope.PRICES_WRITE,
)


def parse_scopes(raw: Iterable[str]) -> tuple[Scope, ...]:
    out: list[Scope] = []
    for s in raw:
        try:
            out.append(Scope(s.strip()))
        except ValueError as exc:
            raise InvalidInput(
                f"unknown scope {s!r}; use {', '.join(x.value for x in Scope)}", scope=s
            ) from exc
    return tuple(dict.fromkeys(out))


async def create_key(
    uow: UnitOfWork,
    actor: Actor,
    *,
    partner_id: uuid.UUID | None,
    scopes: tuple[Scope, ...],
    name: str = "",
) -> tuple[StoredKey, str]:
    """Create a key and return it with its secret; the secret is never retrievable again.
    A key without a partner must be an admin key: every other key acts for a partner."""
    actor.require(Scope.ADMIN)
    if partner_id is None and Scope.ADMIN not in scopes:
        raise InvalidInput("a key without a partner must have the admin scope")
    if partner_id is not None and Scope.ADMIN in scopes:
        raise InvalidInput("a partner key cannot have the admin scope")
    if partner_id is not None and await uow.partners.get(partner_id) is None:
        raise NotFound("partner", partner_id)
    prefix, token = new_key()
    key = StoredKey(
        id=uuid.uuid4(),
        prefix=prefix,
        name=name or (f"partner {partner_id}" if partner_id else "admin"),
        partner_id=partner_id,
        scopes=tuple(s.value for s in scopes),
        created_at=uow.now,
        revoked_at=None,
    )
    await uow.keys.add(key, hash_key(token))
    await record(
        uow,
        actor,
        action="key.created",
        entity_type="api_key",
        entity_id=key.id,
        owner=partner_id,
        before=None,
        after={
            "prefix": prefix,
            "partner_id": str(partner_id) if partner_id else None,
            "scopes": list(key.scopes),
        },
    )
    return key, token


async def authenticate(uow: UnitOfWork, token: str) -> Actor | None:
    """The actor behind a bearer token, with the partners whose catalogs it may read."""
    if not looks_like_key(token):
        return None
    key = await uow.keys.by_hash(hash_key(token))
    if key is None or key.revoked_at is not None:
        return None
    readable: frozenset[uuid.UUID] = frozenset()
    if key.partner_id is not None:
        readable = frozenset(await uow.partners.owners_sharing_with(key.partner_id))
    return Actor(
        key_id=key.id,
        partner_id=key.partner_id,
        scopes=frozenset(Scope(s) for s in key.scopes),
        readable_partners=readable,
        origin=f"key:{key.prefix}",
    )


async def list_keys(uow: UnitOfWork) -> list[StoredKey]:
    return await uow.keys.find()


async def revoke_key(uow: UnitOfWork, actor: Actor, prefix: str) -> None:
    actor.require(Scope.ADMIN)
    if not await uow.keys.revoke(prefix, uow.now):
        raise NotFound("api key", prefix)
    await record(
        uow,
        actor,
        action="key.revoked",
        entity_type="api_key",
        entity_id=prefix,
        owner=None,
        before=None,
        after={"prefix": prefix},
    )
