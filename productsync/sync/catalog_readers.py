"""Read what a channel holds, whatever its kind: one async iterator of ``ChannelItem``.

Placeholder of the issue-11 plan: the reconciliation helper owns this module and wires
the readers by channel kind:

- ``shopify``: ``productsync.sync.shopify_catalog.read_shopify_catalog`` (GraphQL Admin API:
  paged ``productVariants`` for small shops, ``bulkOperationRunQuery`` JSONL for large ones);
- ``woocommerce``: ``productsync.sync.woocommerce_catalog.read_woocommerce_catalog`` (REST v3
  ``GET products`` pages plus each variable product's ``variations``);
- pull feeds: ``productsync.sync.feeds.read_pull_feed_items``;
- webhook channels with ``config.state_url``: the small state contract (reconciliation).

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
# HTTP client code stays unloaded for hubs that never read that platform).
READERS: dict[ChannelKind, str] = {
    ChannelKind.WOOCOMMERCE: "productsync.sync.woocommerce_catalog:read_woocommerce_catalog",
    ChannelKind.SHOPIFY: "productsync.sync.shopify_catalog:read_shopify_catalog",
}


def reader_for(channel: Channel) -> CatalogReader:
    """The reader of the channel's kind; a kind the hub cannot read is a 422."""
    target = READERS.get(channel.kind)
    module_name, _, name = (target or "").partition(":")
    try:
        module = importlib.import_module(module_name) if target else None
    except ModuleNotFoundError:
        module = None
    if module is None:
        raise InvalidInput(
            f"the hub cannot read the catalog of a {channel.kind.value} channel",
            field="kind",
            kind=channel.kind.value,
        )
    return cast(CatalogReader, getattr(module, name))
