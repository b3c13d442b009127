"""Read what a channel holds, whatever its kind: one async iterator of ``ChannelItem``.

Used by onboarding and reconciliation; the readers by channel kind:

- ``shopify``: ``productsync.sync.shopify_catalog.read_shopify_catalog`` (GraphQL Admin API:
  paged ``productVariants`` for small shops, ``bulkOperationRunQuery`` JSONL for large ones);
- ``woocommerce``: ``productsync.sync.woocommerce_catalog.read_woocommerce_catalog`` (REST v3
  ``GET products`` pages plus each variable product's ``variations``);
- pull feeds: ``productsync.sync.feeds.read_pull_feed_items``;
- webhook channels with ``config.state_url``: ``productsync.sync.state_reader.read_state_url``
  (the small state contract documented there).

Every reader has the ``CatalogReader`` signature and goes through the SSRF ``TargetGuard``
(``productsync.sync.guard.pinned_client(guard)`` for httpx).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import Protocol, cast

from productsync.domain.channel_catalog import ChannelItem
from productsync.domain.channels import Channel, ChannelKind
from productsync.domain.errors import InvalidInput
from productsync.sync.guard import TargetGuard


class CatalogReader(Protocol):
    def __call__(
        self, channel: Channel, credentials: dict[str, str], *, guard: TargetGuard, timeout: float
    ) -> AsyncIterator[ChannelItem]: ...


# Readers by channel kind, as "module:function", imported when first asked for (a reader's
# HTTP client code stays unloaded for hubs that never read that platform; a reader whose
# module has not landed yet is a 422, not an import error).
READERS: dict[ChannelKind, str] = {
    ChannelKind.WOOCOMMERCE: "productsync.sync.woocommerce_catalog:read_woocommerce_catalog",
    ChannelKind.SHOPIFY: "productsync.sync.shopify_catalog:read_shopify_catalog",
}
PULL_FEED = "productsync.sync.feeds:read_pull_feed_items"
STATE_URL = "productsync.sync.state_reader:read_state_url"


def is_pull_feed(channel: Channel) -> bool:
    """A channel the hub polls for a feed (``pull_feed``; named by value so this module
    needs nothing of the feeds code until such a channel is read)."""
    return channel.kind.value == "pull_feed"


def _target(channel: Channel) -> str | None:
    if is_pull_feed(channel):
        return PULL_FEED
    if (
        channel.kind is ChannelKind.WEBHOOK
        and isinstance(channel.config, dict)
        and channel.config.get("state_url")
    ):
        return STATE_URL
    return READERS.get(channel.kind)


def reader_for(channel: Channel) -> CatalogReader:
    """The reader of the channel's kind; a kind the hub cannot read is a 422."""
    target = _target(channel)
    module_name, _, name = (target or "").partition(":")
    try:
        module = importlib.import_module(module_name) if target else None
    except ModuleNotFoundError:
        module = None
    reader = getattr(module, name, None) if module is not None else None
    if reader is None:
        hint = " without a config.state_url" if channel.kind is ChannelKind.WEBHOOK else ""
        raise InvalidInput(
            f"the hub cannot read the catalog of a {channel.kind.value} channel{hint}",
            field="kind",
            kind=channel.kind.value,
        )
    return cast(CatalogReader, reader)
