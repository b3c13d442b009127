"""Channels: where the hub's changes go and where sales and edits come back from.

A channel belongs to a partner (or to the hub, for admins) and sees a slice of the
catalog: the products of the partners it names (each readable by its owner) in
the categories it names (none named: all), with stock counted over its locations
minus its buffer, priced from its price list, texts in its locale.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from productsync.domain.errors import ErrorCode, InvalidInput
from productsync.domain.feeds import check_schedule_config
from productsync.domain.quantities import BaseUnit, to_quantity


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"
    RABBITMQ = "rabbitmq"
    SSE = "sse"
    SHOPIFY = "shopify"
    WOOCOMMERCE = "woocommerce"
    FILE_FEED = "file_feed"
    PULL_FEED = "pull_feed"

    @property
    def needs_url(self) -> bool:
        return self in (
            ChannelKind.WEBHOOK,
            ChannelKind.SHOPIFY,
            ChannelKind.WOOCOMMERCE,
            ChannelKind.PULL_FEED,
        )


class ConflictPolicy(StrEnum):
    MASTER_WINS = "master_wins"
    LAST_WRITE_WINS = "last_write_wins"
    REJECT_STALE = "reject_stale"
    MERGE = "merge"
    MANUAL_REVIEW = "manual_review"


class ChannelStatus(StrEnum):
    ENABLED = "enabled"
    PAUSED = "paused"
    DISABLED = "disabled"


SECRET_PREFIX = "whsec_"
DEFAULT_ROTATION_GRACE = timedelta(hours=24)


def new_signing_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass(frozen=True)
class Channel:
    id: uuid.UUID
    name: str
    kind: ChannelKind
    owner_partner_id: uuid.UUID | None
    url: str | None
    config: dict[str, Any]
    partner_ids: tuple[uuid.UUID, ...]
    category_ids: tuple[uuid.UUID, ...]
    location_ids: tuple[uuid.UUID, ...]
    price_list_id: uuid.UUID | None
    locale: str | None
    buffer_stock: Decimal
    conflict_policy: ConflictPolicy
    status: ChannelStatus
    version: int
    created_at: datetime
    updated_at: datetime
    secret_rotated_at: datetime | None = None
    previous_secret_expires_at: datetime | None = None
    last_success_at: datetime | None = None
    failing_since: datetime | None = None
    has_credentials: bool = False

    def sees(self, *, owner_partner_id: uuid.UUID, category_id: uuid.UUID) -> bool:
        """Whether a product with this owner and category belongs to the channel's slice."""
        if self.partner_ids and owner_partner_id not in self.partner_ids:
            return False
        return not self.category_ids or category_id in self.category_ids

    def counts_location(self, location_id: uuid.UUID | str | None) -> bool:
        """Whether stock at this location makes the channel's availability: every location
        when the channel names none, otherwise only the ones it names."""
        if not self.location_ids:
            return True
        return location_id is not None and str(location_id) in {str(x) for x in self.location_ids}

    def routes(
        self,
        *,
        event_type: str,
        data: dict[str, Any],
        owner_partner_id: uuid.UUID | None,
        category_id: uuid.UUID | None,
        origin: str,
        directed_to: uuid.UUID | None = None,
    ) -> bool:
        """Whether an event is news for this channel: it is enabled, the product is in its
        slice, a stock change is at one of its locations, a price change is on its list, and
        the change did not come from this very channel (no sync loops). An event directed at
        one channel (its snapshot, a correction it needs) goes to that channel alone."""
        if self.status is not ChannelStatus.ENABLED:
            return False
        if directed_to is not None:
            return directed_to == self.id
        if origin == f"channel:{self.id}":
            return False
        if owner_partner_id is None or category_id is None:
            return False
        if not self.sees(owner_partner_id=owner_partner_id, category_id=category_id):
            return False
        if event_type.endswith("stock.changed") and self.location_ids and data.get("bundle") is None:
            level = data.get("level")
            return self.counts_location(level.get("location_id") if isinstance(level, dict) else None)
        if event_type.endswith("price.changed"):
            return self.price_list_id is not None and data.get("price_list_id") == str(self.price_list_id)
        return True

    @property
    def min_shelf_life_days(self) -> int:
        """Lots with fewer days left than this do not count for the channel (0: any unexpired)."""
        days = self.config.get("min_shelf_life_days") if isinstance(self.config, dict) else None
        return days if isinstance(days, int) and not isinstance(days, bool) else 0

    def available_to_sell(self, available_at_locations: Decimal) -> Decimal:
        """What the channel may sell: its locations' availability minus its buffer, never below zero."""
        return max(Decimal(0), available_at_locations - self.buffer_stock)


DEFAULT_EXCHANGE = "productsync.events"


def routing_key(event_type: str, subject: str) -> str:
    """The AMQP topic routing key of an event: ``stock.changed.<sku>`` for
    ``productsync.stock.changed``, so consumers bind ``stock.changed.#`` or ``*.*.ALC-GIN-01``."""
    return f"{event_type.removeprefix('productsync.')}.{subject}"[:255]


def exchange_name(channel: Channel) -> str:
    name = channel.config.get("exchange") if isinstance(channel.config, dict) else None
    return name if isinstance(name, str) and name.strip() else DEFAULT_EXCHANGE


def check_url(kind: ChannelKind, url: str | None) -> str | None:
    """Kinds that push over HTTP need an absolute http(s) URL without credentials in it.
    Where it may point (loopback, link-local) is decided at delivery time, when the
    name is resolved, since a name can change what it resolves to."""
    if url is None:
        if kind.needs_url:
            raise InvalidInput(f"a {kind.value} channel needs a url", field="url")
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url must be an absolute http(s) URL", field="url")
    if parts.username or parts.password:
        raise InvalidInput("url must not carry credentials; the channel secret signs requests", field="url")
    return url


def check_buffer(buffer_stock: Decimal) -> Decimal:
    """Held-back stock: a non-negative quantity within what the hub can store."""
    quantity = to_quantity(buffer_stock, unit=BaseUnit.GRAM, field="buffer_stock")  # fractions allowed
    if quantity < 0:
        raise InvalidInput(
            "buffer_stock must be a non-negative quantity",
            code=ErrorCode.INVALID_QUANTITY,
            field="buffer_stock",
        )
    return quantity


@dataclass(frozen=True)
class NewChannel:
    name: str
    kind: ChannelKind
    owner_partner_id: uuid.UUID | None
    url: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    partner_ids: tuple[uuid.UUID, ...] = ()
    category_ids: tuple[uuid.UUID, ...] = ()
    location_ids: tuple[uuid.UUID, ...] = ()
    price_list_id: uuid.UUID | None = None
    locale: str | None = None
    buffer_stock: Decimal = Decimal(0)
    conflict_policy: ConflictPolicy = ConflictPolicy.MASTER_WINS


def check_config(config: dict[str, Any], kind: ChannelKind | None = None) -> dict[str, Any]:
    """Kind-specific settings are free-form, except the ones the hub itself reads."""
    if kind is not None:
        check_schedule_config(kind.value, config)  # feeds, pulls, reconciliations (domain/feeds.py)
    days = config.get("min_shelf_life_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 3650):
        raise InvalidInput(
            "config.min_shelf_life_days must be a whole number of days, 0-3650", field="config"
        )
    return config


def create_channel(new: NewChannel, *, now: datetime) -> Channel:
    name = new.name.strip()
    if not name:
        raise InvalidInput("name must not be empty", field="name")
    return Channel(
        id=uuid.uuid4(),
        name=name,
        kind=new.kind,
        owner_partner_id=new.owner_partner_id,
        url=check_url(new.kind, new.url),
        config=check_config(new.config, new.kind),
        partner_ids=tuple(dict.fromkeys(new.partner_ids)),
        category_ids=tuple(dict.fromkeys(new.category_ids)),
        location_ids=tuple(dict.fromkeys(new.location_ids)),
        price_list_id=new.price_list_id,
        locale=new.locale,
        buffer_stock=check_buffer(new.buffer_stock),
        conflict_policy=new.conflict_policy,
        status=ChannelStatus.ENABLED,
        version=1,
        created_at=now,
        updated_at=now,
    )


CHANNEL_PATCHABLE = frozenset(
    {
        "name",
        "url",
        "config",
        "partner_ids",
        "category_ids",
        "location_ids",
        "price_list_id",
        "locale",
        "buffer_stock",
        "conflict_policy",
        "status",
    }
)


_NULLABLE = frozenset({"url", "price_list_id", "locale"})


def patch_channel(channel: Channel, changes: dict[str, Any], *, now: datetime) -> Channel:
    """Kind and owner are identity; everything else may change."""
    unknown = set(changes) - CHANNEL_PATCHABLE
    if unknown:
        raise InvalidInput(f"fields {sorted(unknown)} cannot be changed", fields=sorted(unknown))
    values = dict(changes)
    nulls = sorted(k for k, v in values.items() if v is None and k not in _NULLABLE)
    if nulls:
        raise InvalidInput(f"{nulls[0]} cannot be null", fields=nulls)
    if "name" in values:
        values["name"] = str(values["name"]).strip()
        if not values["name"]:
            raise InvalidInput("name must not be empty", field="name")
    if "url" in values:
        values["url"] = check_url(channel.kind, values["url"])
    if "buffer_stock" in values:
        values["buffer_stock"] = check_buffer(Decimal(values["buffer_stock"]))
    if "config" in values:
        values["config"] = check_config(values["config"], channel.kind)
    for key in ("partner_ids", "category_ids", "location_ids"):
        if key in values:
            values[key] = tuple(dict.fromkeys(values[key]))
    if "conflict_policy" in values:
        values["conflict_policy"] = ConflictPolicy(values["conflict_policy"])
    if "status" in values:
        values["status"] = ChannelStatus(values["status"])
    updated = replace(channel, **values)
    if updated == channel:
        return channel
    return replace(updated, version=channel.version + 1, updated_at=now)


def rotation_grace(grace: timedelta | None) -> timedelta:
    """How long the old secret keeps signing beside the new one (receivers accept either)."""
    grace = DEFAULT_ROTATION_GRACE if grace is None else grace
    if grace < timedelta(0) or grace > timedelta(days=30):
        raise InvalidInput("grace period must be between 0 and 30 days", field="grace_seconds")
    return grace
