"""What a channel says it holds: one item per sellable thing on the channel.

Onboarding matches these items to hub products; reconciliation compares them with
what the hub says the channel should hold. Every reader (a storefront's API, a pull
feed, a webhook channel's ``config.state_url``) yields this one shape, so matching and
comparison never care where the items came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class ChannelItem:
    """One item as the channel holds it.

    ``external_id`` is what a SKU mapping names on this channel (a Shopify variant id, a
    WooCommerce ``id`` or ``id/vid``, a feed's row key). Fields the channel does not
    report are ``None`` and are never compared.
    """

    external_id: str
    sku: str | None = None
    barcode: str | None = None
    title: str | None = None
    description: str | None = None
    quantity: Decimal | None = None  # what the channel offers for sale (its available)
    price: Decimal | None = None  # the price it sells at now
    compare_at_price: Decimal | None = None  # the regular price when a sale runs
    currency: str | None = None
    product_ref: str | None = None  # the channel's parent product id (Shopify product, Woo parent)
    extra: Mapping[str, Any] = field(default_factory=dict)
