"""What import rows name (partners, categories, locations, price lists, channels),
looked up once per import and kept: a file of a million rows names a handful of them.

Every lookup applies the same access rules as the API, and answers with a row error
(the row is rejected) instead of raising for the whole file.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from productsync.domain.access import Actor, Scope
from productsync.domain.catalog import Category
from productsync.domain.imports import RowError, RowRejected
from productsync.domain.inventory import Location
from productsync.domain.pricing import PriceList
from productsync.store.uow import UnitOfWork


def _reject(line: int, column: str, reason: str) -> RowRejected:
    return RowRejected([RowError(line, column, reason)])


@dataclass
class References:
    uow: UnitOfWork
    actor: Actor
    default_partner: str | None = None
    _partners: dict[str, uuid.UUID | None] = field(default_factory=dict)
    _categories: dict[str, Category | None] = field(default_factory=dict)
    _categories_by_id: dict[uuid.UUID, Category] = field(default_factory=dict)
    _locations: dict[str, Location | None] = field(default_factory=dict)
    _lists: dict[str, PriceList | str] = field(default_factory=dict)
    _channels: dict[str, Any] = field(default_factory=dict)

    async def owner(self, code: str | None, line: int) -> uuid.UUID:
        """The owner partner a row names. A partner key's rows default to its partner and
        may name no other (rejected rows, not a refusal of the file); an admin names one."""
        code = code or self.default_partner
        if code is None:
            if self.actor.partner_id is not None and not self.actor.is_admin:
                return self.actor.partner_id
            raise _reject(line, "partner", "an admin import must name the partner (column or --partner)")
        if code not in self._partners:
            partner = await self.uow.partners.get_by_code(code)
            self._partners[code] = partner.id if partner else None
        pid = self._partners[code]
        if pid is None or not self.actor.can_read(pid):
            raise _reject(line, "partner", f"partner {code} was not found")
        if not self.actor.can_write(pid):
            raise _reject(
                line, "partner", f"partner {code} is another partner; a key imports only its own data"
            )
        return pid

    async def category(self, code: str, line: int) -> Category:
        if code not in self._categories:
            found = await self.uow.categories.get_by_code(code)
            self._categories[code] = found
            if found is not None:
                self._categories_by_id[found.id] = found
        category = self._categories[code]
        if category is None:
            raise _reject(line, "category", f"category {code} was not found")
        return category

    async def category_by_id(self, category_id: uuid.UUID) -> Category:
        if category_id not in self._categories_by_id:
            found = await self.uow.categories.get(category_id)
            assert found is not None
            self._categories_by_id[category_id] = found
        return self._categories_by_id[category_id]

    async def location(self, code: str, line: int, owner: uuid.UUID | None) -> Location:
        """A location the row's owner may stock: hub-wide or its own (as the API)."""
        if code not in self._locations:
            self._locations[code] = await self.uow.locations.get_by_code(code)
        loc = self._locations[code]
        if loc is None or not self.actor.can_read(loc.owner_partner_id):
            raise _reject(line, "location", f"location {code} was not found")
        if owner is not None and loc.owner_partner_id not in (None, owner):
            raise _reject(line, "location", f"location {code} belongs to another partner")
        return loc

    async def price_list(self, ref: str, line: int) -> PriceList:
        """A list by id, or by name when exactly one visible list has it; the actor must
        be allowed to write it (its own list; an owner-less list needs an admin)."""
        if ref not in self._lists:
            self._lists[ref] = await self._find_list(ref)
        found = self._lists[ref]
        if isinstance(found, str):
            raise _reject(line, "price_list", found)
        if not self.actor.has(Scope.PRICES_WRITE):
            raise _reject(line, "price_list", "this key lacks the prices:write scope")
        if not self.actor.can_write(found.owner_partner_id) and not (
            found.owner_partner_id is None and self.actor.is_admin
        ):
            raise _reject(line, "price_list", f"price list {ref} is not yours to change")
        return found

    async def _find_list(self, ref: str) -> PriceList | str:
        try:
            pl = await self.uow.prices.get_list(uuid.UUID(ref))
            if pl is not None and self.actor.can_read(pl.owner_partner_id):
                return pl
            return f"price list {ref} was not found"
        except ValueError:
            pass
        named = [pl for pl in await self.uow.prices.lists(self.actor.readable_owners()) if pl.name == ref]
        if len(named) == 1:
            return named[0]
        if not named:
            return f"price list {ref} was not found"
        return f"{len(named)} price lists are named {ref}; give its id"

    async def channel(self, ref: str, line: int) -> Any:
        if ref not in self._channels:
            try:
                found = await self.uow.channels.get(uuid.UUID(ref))
            except ValueError:
                found = None
            self._channels[ref] = found
        channel = self._channels[ref]
        if channel is None or not self.actor.can_read(channel.owner_partner_id):
            raise _reject(line, "channel", f"channel {ref} was not found")
        allowed = self.actor.has(Scope.CHANNELS_ADMIN) and self.actor.can_write(channel.owner_partner_id)
        if not allowed and not self.actor.is_admin:
            raise _reject(line, "channel", f"channel {ref} is not yours to map (channels:admin)")
        return channel

    async def lot_tracked(self, category_id: uuid.UUID) -> bool:
        return (await self.category_by_id(category_id)).lot_tracked
