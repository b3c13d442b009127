"""A delivery to a Shopify channel over the GraphQL Admin API.

- Stock: ``inventorySetQuantities`` of ``available`` at ``config.location_id``, reason
  ``correction``, ``referenceDocumentUri`` ``productsync://events/<event id>``,
  ``@idempotent(key: <event id>)`` (``<event id>:<variant>`` when a product is mapped to
  several variants), and ``changeFromQuantity`` = the quantity the hub last knew the shop
  held (services/channel_quantities.py; the first time, what the variant lookup read). Nothing is
  sent when the shop already holds the hub's number. On success the new quantity is
  stored right after the answer. ``CHANGE_FROM_QUANTITY_STALE``: the shop's quantity is
  re-read and the channel's conflict policy settles it (``settle_stale``); the push that
  follows compares against the re-read quantity under a new key
  (``<key>:<re-read quantity>``, deterministic so a retry of it is still idempotent).
- Prices: ``productVariantsBulkUpdate`` (``price``, ``compareAtPrice`` per
  projection.shopify_price_fields; null clears a sale).
- Texts: ``productUpdate`` (``title``, ``descriptionHtml``, ``status``).

At-least-once: a try whose answer was lost is sent again with the same key and the same
variables (the known quantity was not stored), which Shopify answers from its
idempotency record without applying it twice. If the answer was lost and the hub's number
changed before the retry, the shop holds the earlier push: this process remembers what it
last tried per item, so a stale answer that finds exactly that is taken as its own write,
not as a change at the shop (a process that died in that window cannot know; the
conflict policy would see the difference). Under ``merge`` and ``manual_review``, where
that difference would become a sale or a count, each push is noted in the database
before it is sent (``channel_quantities.intend``, one more write per push); a later push
that finds an earlier note unresolved first replays that push under its own key: an
answer without errors means it was applied, so its quantity is what the hub knows, not
units sold at the shop (nor hidden by a compare-and-set that happens to match).

Without a database (``db`` None: tools, some tests) the known quantity lives in this
process only, and a stale answer is settled for the hub (its value is pushed).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from productsync.domain import shopify_graphql as gql
from productsync.domain.projection import ChannelView, shopify_price_fields, whole_units
from productsync.services import channel_quantities
from productsync.services.dispatch import Attempt, Claimed
from productsync.store.database import Database
from productsync.store.repositories.channel_state import Pending
from productsync.store.uow import transaction
from productsync.sync.shopify_graphql import PlatformError, Shop, Throttle

MAX_SETTLE_ROUNDS = 3


class ShopifyState:
    """What the connector keeps between deliveries: variant records (product and
    inventory item ids), the shops' buckets, and the last quantity tried per item."""

    def __init__(self, db: Database | None = None) -> None:
        self.db = db
        self.throttle = Throttle()
        self._variants: dict[tuple[str, str, str], gql.VariantState] = {}
        self._read_at: dict[tuple[str, str, str], datetime] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self.tried: dict[tuple[uuid.UUID, str], int] = {}
        self._known: dict[tuple[uuid.UUID, str], int] = {}

    async def variant(
        self, shop: Shop, variant: str, location: str, *, fresh: bool = False
    ) -> tuple[gql.VariantState, bool]:
        """The variant's ids (looked up once, however many ask) and whether this call read
        it from the shop (then its ``available`` is the shop's current quantity); ``fresh``
        reads it again."""
        key = (shop.base, variant, location)
        async with self._locks.setdefault(key, asyncio.Lock()):
            read = fresh or key not in self._variants
            if read:
                data = await shop.run(gql.VARIANT_STATE, {"id": variant, "locationId": location})
                state = gql.parse_variant_state(data)
                if state is None:
                    raise PlatformError(
                        Attempt(False, status_code=404, error=f"variant {variant} not found at the shop")
                    )
                self._variants[key] = state
                self._read_at[key] = datetime.now(UTC)
            return self._variants[key], read

    def read_at(self, shop: Shop, variant: str, location: str) -> datetime | None:
        """When the cached lookup of the variant was answered."""
        return self._read_at.get((shop.base, variant, location))

    async def known(self, channel_id: uuid.UUID, external_id: str) -> int | None:
        """The known quantity: this process's copy, else the stored one. A copy made stale
        by another dispatcher's push only costs a STALE answer, which ``settle_stale``
        recognises against the stored quantity (not a change at the shop)."""
        if self.db is None or (channel_id, external_id) in self._known:
            return self._known.get((channel_id, external_id))
        found = await transaction(
            self.db,
            lambda uow: channel_quantities.known_quantity(uow, channel_id, external_id),
            readonly=True,
        )
        if found is not None:
            self._known[(channel_id, external_id)] = found
        return found

    async def remember(
        self,
        channel_id: uuid.UUID,
        external_id: str,
        quantity: int,
        event_id: str | None,
        since: datetime | None = None,
    ) -> None:
        if self.db is not None:
            self._known.pop((channel_id, external_id), None)  # unknown until it is stored
            await transaction(
                self.db,
                lambda uow: channel_quantities.remember(
                    uow, channel_id, external_id, quantity, event_id, since
                ),
            )
        self._known[(channel_id, external_id)] = quantity

    async def intend(
        self, channel_id: uuid.UUID, external_id: str, pending: Pending, *, overwrite: bool = False
    ) -> Pending | None:
        """Note a push before it is sent; an earlier unsettled one instead, if any."""
        if self.db is None:
            return None
        return await transaction(
            self.db,
            lambda uow: channel_quantities.intend(uow, channel_id, external_id, pending, overwrite=overwrite),
        )

    async def unsettled(self, channel_id: uuid.UUID, external_id: str) -> Pending | None:
        if self.db is None:
            return None
        return await transaction(
            self.db, lambda uow: channel_quantities.unsettled(uow, channel_id, external_id), readonly=True
        )


def _fail(errors: list[gql.UserError]) -> PlatformError:
    return PlatformError(Attempt(False, status_code=422, error=gql.describe(errors)))


async def push_shopify(
    state: ShopifyState, client: httpx.AsyncClient, claimed: Claimed, base: str, *, timeout: float
) -> Attempt:
    channel, view = claimed.channel, claimed.view
    assert view is not None
    shop = Shop(
        client,
        base,
        view.credentials.get("access_token", ""),
        str(channel.config.get("api_version") or gql.DEFAULT_API_VERSION),
        state.throttle,
        timeout,
    )
    event_type = str(claimed.event["type"])
    try:
        location = gql.gid("Location", channel.config.get("location_id"))
    except ValueError as exc:
        return Attempt(False, status_code=422, error=f"config.location_id: {exc}")
    try:
        for external_id in view.external_ids:
            try:
                variant = gql.gid("ProductVariant", external_id)
            except ValueError as exc:
                return Attempt(False, status_code=422, error=f"mapping {external_id!r}: {exc}")
            if event_type.endswith("stock.changed") and view.available is not None:
                key = (
                    str(claimed.event_id)
                    if len(view.external_ids) == 1
                    else f"{claimed.event_id}:{external_id}"
                )
                await _push_stock(state, shop, claimed, external_id, variant, location, key)
            elif event_type.endswith("price.changed") and view.price is not None:
                await _push_price(state, shop, view, variant, location)
            elif ".product." in event_type:
                await _push_texts(state, shop, view, variant, location)
    except PlatformError as exc:
        return exc.attempt
    return Attempt(True, status_code=200)


async def _push_price(
    state: ShopifyState, shop: Shop, view: ChannelView, variant: str, location: str
) -> None:
    known, _ = await state.variant(shop, variant, location)
    data = await shop.run(
        gql.VARIANT_PRICES, gql.price_variables(known.product, known.variant, shopify_price_fields(view))
    )
    errors = gql.user_errors(data, "productVariantsBulkUpdate")
    if errors:
        raise _fail(errors)


async def _push_texts(
    state: ShopifyState, shop: Shop, view: ChannelView, variant: str, location: str
) -> None:
    known, _ = await state.variant(shop, variant, location)
    variables = gql.text_variables(
        known.product, title=view.name, description=view.description, active=view.active
    )
    errors = gql.user_errors(await shop.run(gql.PRODUCT_TEXTS, variables), "productUpdate")
    if errors:
        raise _fail(errors)


async def _push_stock(
    state: ShopifyState, shop: Shop, claimed: Claimed, external_id: str, variant: str, location: str, key: str
) -> None:
    channel, view = claimed.channel, claimed.view
    assert view is not None and view.available is not None
    target = whole_units(view.available)
    item, _ = await state.variant(shop, variant, location)
    known = await state.known(channel.id, external_id)
    if known is None:  # never pushed (or no database): what the shop held when looked up
        # (a change since then is a STALE answer, settled like any other). The lookup may
        # have been cached by an earlier push: the channel's reports are counted from when
        # it was read, so that merge does not count a sale heard since then a second time.
        known = item.available
        if known is not None:
            await state.remember(channel.id, external_id, known, None, state.read_at(shop, variant, location))
    event_id = str(claimed.event_id)
    note = state.db is not None and channel.conflict_policy in channel_quantities.NOTE_INTENT
    noted_at: datetime | None = None
    for round_ in range(MAX_SETTLE_ROUNDS):
        first_noted = note and round_ == 0 and known is not None
        if known == target and not first_noted:
            return  # the shop holds the hub's number already
        if note and known is not None:
            # A push noted and never settled (its process died after sending it) is asked
            # about first, so that its effect is neither taken for sales at the shop nor
            # hidden by a compare-and-set that skips or matches by chance.
            this = Pending(key, known, target)
            noted_at = datetime.now(UTC)
            earlier = (
                await state.unsettled(channel.id, external_id)
                if known == target
                else await state.intend(channel.id, external_id, this, overwrite=round_ > 0)
            )
            if earlier is not None and await _replay(shop, earlier, item.inventory_item, location):
                await state.remember(
                    channel.id, external_id, earlier.quantity, earlier.key.split(":")[0], earlier.at
                )
                known = earlier.quantity
                key = f"{key.split(':cas')[0]}:cas{known}"
                continue
            if known == target:
                return
            if earlier is not None:
                await state.intend(channel.id, external_id, this, overwrite=True)
        prior = state.tried.get((channel.id, external_id))
        state.tried[(channel.id, external_id)] = target
        variables = gql.set_quantities_variables(
            key=key,
            inventory_item=item.inventory_item,
            location=location,
            quantity=target,
            change_from=known,
            event_id=event_id,
        )
        data = await shop.run(gql.SET_QUANTITIES, variables)
        errors = gql.user_errors(data, "inventorySetQuantities")
        if not errors:
            await state.remember(channel.id, external_id, target, event_id, noted_at)
            return
        if not any(e.code in gql.REREAD_CODES for e in errors):
            raise _fail(errors)
        found = (await state.variant(shop, variant, location, fresh=True))[0].available
        if found is None:
            raise _fail(errors)
        key = f"{key.split(':cas')[0]}:cas{found}"
        if found == prior and prior != known:  # our own earlier push, whose answer was lost
            await state.remember(channel.id, external_id, found, event_id)
            known = found
            continue
        settled = await _settle(state, claimed, external_id, known, found)
        if settled is None:
            return  # nothing to push (queued for a person, or no database to decide with)
        known, target = found, settled
    raise PlatformError(
        Attempt(False, status_code=409, error=f"{gql.STALE}: the shop's quantity keeps changing")
    )


async def _replay(shop: Shop, pending: Pending, inventory_item: str, location: str) -> bool:
    """Ask the shop whether an earlier push was applied: the same request under the same
    key is answered from Shopify's idempotency record (applied once, however often sent).
    No error: it was applied (or is now, if the shop still held its compare value); any
    other error (stale, mismatch, previous attempt failed): that request changed nothing;
    a request with that key still running: no verdict yet, the delivery is tried later."""
    variables = gql.set_quantities_variables(
        key=pending.key,
        inventory_item=inventory_item,
        location=location,
        quantity=pending.quantity,
        change_from=pending.change_from,
        event_id=pending.key.split(":")[0],
    )
    data = await shop.run(gql.SET_QUANTITIES, variables)
    errors = gql.user_errors(data, "inventorySetQuantities")
    if any(e.code == "IDEMPOTENCY_CONCURRENT_REQUEST" for e in errors):
        # Still in flight (its sender may be alive after all): no answer yet, try later.
        raise PlatformError(Attempt(False, error=gql.describe(errors), retry_after=timedelta(seconds=5)))
    return not errors


async def _settle(
    state: ShopifyState, claimed: Claimed, external_id: str, known: int | None, found: int
) -> int | None:
    """The channel's conflict policy on a stale compare-and-set: the quantity to push."""
    if state.db is None:
        assert claimed.view is not None and claimed.view.available is not None
        return whole_units(claimed.view.available)  # no database: the hub's view wins
    stale = channel_quantities.Stale(claimed.channel, external_id, str(claimed.event_id), known, found)

    async def run(uow: Any) -> channel_quantities.Settled:
        return await channel_quantities.settle_stale(uow, stale)

    settled = await transaction(state.db, run)
    state._known[(claimed.channel.id, external_id)] = found
    return settled.push
