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
conflict policy then sees the difference).

Without a database (``db`` None: tools, some tests) the known quantity lives in this
process only, and a stale answer is settled for the hub (its value is pushed).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from productsync.domain import shopify_graphql as gql
from productsync.domain.projection import ChannelView, shopify_price_fields, whole_units
from productsync.services import channel_quantities
from productsync.services.dispatch import Attempt, Claimed
from productsync.store.database import Database
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
            return self._variants[key], read

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
        self, channel_id: uuid.UUID, external_id: str, quantity: int, event_id: str | None
    ) -> None:
        if self.db is not None:
            self._known.pop((channel_id, external_id), None)  # unknown until it is stored
            await transaction(
                self.db,
                lambda uow: channel_quantities.remember(uow, channel_id, external_id, quantity, event_id),
            )
        self._known[(channel_id, external_id)] = quantity


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
        # (a change since then is a STALE answer, settled like any other)
        known = item.available
        if known is not None:
            await state.remember(channel.id, external_id, known, None)
    event_id = str(claimed.event_id)
    for _ in range(MAX_SETTLE_ROUNDS):
        if known == target:
            return  # the shop holds the hub's number already
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
            await state.remember(channel.id, external_id, target, event_id)
            return
        if not any(e.code in (gql.STALE, "IDEMPOTENCY_KEY_PARAMETER_MISMATCH") for e in errors):
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
