"""Who may see and change what.

A key belongs to one partner (or is an admin key). A partner reads its own data
and the catalogs other partners share with it, and writes only its own. Things
the caller may not see are reported as absent, so existence does not leak.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from productsync.domain.errors import Forbidden, NotFound


class Scope(StrEnum):
    CATALOG_READ = "catalog:read"
    CATALOG_WRITE = "catalog:write"
    STOCK_WRITE = "stock:write"
    PRICES_WRITE = "prices:write"
    CHANNELS_ADMIN = "channels:admin"
    ADMIN = "admin"


@dataclass(frozen=True)
class Actor:
    """The authenticated caller of a use case."""

    key_id: uuid.UUID | None
    partner_id: uuid.UUID | None
    scopes: frozenset[Scope]
    readable_partners: frozenset[uuid.UUID] = field(default_factory=frozenset)
    origin: str = "api"

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    def has(self, scope: Scope) -> bool:
        return self.is_admin or scope in self.scopes

    def readable_owners(self) -> frozenset[uuid.UUID] | None:
        """The partners whose data this actor may read: its own and those sharing with it.
        ``None`` means every partner (an admin); lists filter with it in one query."""
        if self.is_admin:
            return None
        return frozenset(p for p in (self.partner_id, *self.readable_partners) if p is not None)

    def can_read(self, owner: uuid.UUID | None) -> bool:
        """Own data, shared catalogs, and hub-wide things (no owner)."""
        if self.is_admin or owner is None:
            return True
        return owner == self.partner_id or owner in self.readable_partners

    def can_write(self, owner: uuid.UUID | None) -> bool:
        if self.is_admin:
            return True
        return owner is not None and owner == self.partner_id

    def check_read(self, owner: uuid.UUID | None, entity: str, ref: object) -> None:
        if not self.can_read(owner):
            raise NotFound(entity, ref)

    def check_write(self, owner: uuid.UUID | None, entity: str, ref: object) -> None:
        """Invisible → 404; visible (shared) but someone else's → 403."""
        self.check_read(owner, entity, ref)
        if not self.can_write(owner):
            raise Forbidden(f"{entity} {ref} belongs to another partner and is read-only for you")

    def require(self, scope: Scope) -> None:
        if not self.has(scope):
            raise Forbidden(f"this key lacks the {scope.value} scope", scope=scope.value)


def system_actor(origin: str = "system") -> Actor:
    """The hub itself (CLI seeding, scheduler): admin rights, no key."""
    return Actor(key_id=None, partner_id=None, scopes=frozenset({Scope.ADMIN}), origin=origin)
