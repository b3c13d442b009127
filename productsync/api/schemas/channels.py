"""Channels, their signing secrets and SKU mappings."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from productsync.api.schemas.common import PARTNER_REF, Input, Page, QuantityIn, QuantityOut
from productsync.domain.channels import ChannelKind, ChannelStatus, ConflictPolicy


class ChannelIn(Input):
    name: StrictStr = Field(min_length=1, max_length=200, examples=["NailCo Shopify store"])
    kind: ChannelKind
    url: StrictStr | None = Field(
        default=None, max_length=2000, description="Required for webhook and storefronts."
    )
    owner_partner_id: uuid.UUID | None = Field(
        default=None, description="Admins only; a partner key always creates channels of its own partner."
    )
    config: dict[str, Any] = Field(
        default_factory=dict, description="Kind-specific settings (e.g. exchange)."
    )
    partner_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=100, description="Whose products it sees; default: the owner's."
    )
    category_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100, description="Empty: all.")
    location_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=100, description="Locations that make up its stock."
    )
    price_list_id: uuid.UUID | None = None
    locale: StrictStr | None = Field(default=None, max_length=20, examples=["de-DE"])
    buffer_stock: QuantityIn = Field(default=Decimal(0), description="Stock held back from this channel.")
    conflict_policy: ConflictPolicy = ConflictPolicy.MASTER_WINS
    credentials: dict[StrictStr, StrictStr] | None = Field(
        default=None,
        max_length=10,
        description="Platform credentials (Shopify `access_token`, `webhook_secret`; WooCommerce "
        "`consumer_key`, `consumer_secret`). Write-only: sealed at rest, never returned.",
    )


class ChannelPatch(Input):
    name: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    url: StrictStr | None = Field(default=None, max_length=2000)
    config: dict[str, Any] | None = None
    partner_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    category_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    location_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    price_list_id: uuid.UUID | None = None
    locale: StrictStr | None = Field(default=None, max_length=20)
    buffer_stock: QuantityIn | None = None
    conflict_policy: ConflictPolicy | None = None
    status: ChannelStatus | None = None
    credentials: dict[StrictStr, StrictStr] | None = Field(
        default=None,
        max_length=10,
        description="Platform credentials (Shopify `access_token`, `webhook_secret`; WooCommerce "
        "`consumer_key`, `consumer_secret`). Write-only: sealed at rest, never returned.",
    )


class ChannelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    kind: ChannelKind
    owner_partner_id: uuid.UUID | None
    url: str | None
    config: dict[str, Any]
    partner_ids: list[uuid.UUID]
    category_ids: list[uuid.UUID]
    location_ids: list[uuid.UUID]
    price_list_id: uuid.UUID | None
    locale: str | None
    buffer_stock: QuantityOut
    conflict_policy: ConflictPolicy
    status: ChannelStatus
    version: int
    secret_rotated_at: datetime | None
    previous_secret_expires_at: datetime | None
    has_credentials: bool = Field(description="Whether platform credentials are stored (never shown).")
    created_at: datetime
    updated_at: datetime


class ChannelCreated(ChannelOut):
    secret: str | None = Field(
        description="The signing secret (whsec_…), shown once; null on idempotent replays."
    )


class RotateIn(Input):
    grace_seconds: Annotated[int, Field(ge=0, le=30 * 24 * 3600)] = Field(
        default=24 * 3600, description="How long the old secret keeps signing beside the new one."
    )


class RotateOut(BaseModel):
    channel_id: uuid.UUID
    secret: str | None = Field(description="The new secret, shown once; null on idempotent replays.")
    previous_valid_until: datetime | None


class MappingItemIn(Input):
    external_id: StrictStr = Field(
        min_length=1, max_length=200, description="The channel's id for the product."
    )
    sku: StrictStr | None = Field(default=None, max_length=64)
    partner: StrictStr | None = Field(default=None, min_length=1, max_length=40, description=PARTNER_REF)
    product_id: uuid.UUID | None = None
    external_sku: StrictStr | None = Field(default=None, max_length=200)


class MappingsIn(Input):
    mappings: list[MappingItemIn] = Field(min_length=1, max_length=5000)


class MappingOut(BaseModel):
    external_id: str
    product_id: uuid.UUID
    sku: str
    external_sku: str | None


class MappingPage(Page):
    items: list[MappingOut]
