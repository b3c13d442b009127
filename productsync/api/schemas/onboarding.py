"""Channel onboarding: proposals (the matching report) and applying them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, StrictBool, StrictStr

from productsync.api.schemas.common import Input, Page


class OnboardingIn(Input):
    alias_schemes: list[StrictStr] | None = Field(
        default=None,
        max_length=20,
        description="Alias schemes the channel's SKUs may be codes of (e.g. `supplier`); default: any.",
    )


class CandidateOut(BaseModel):
    product_id: uuid.UUID
    sku: str | None


class RowOut(BaseModel):
    seq: int
    status: str = Field(
        description="matched, ambiguous, unmatched_channel, unmatched_hub, already_mapped or conflict"
    )
    external_id: str | None = Field(description="The channel item; null for a hub product no item names.")
    product_id: uuid.UUID | None = Field(description="The hub product (matched, mapped, unmatched_hub).")
    sku: str | None = Field(description="That product's SKU.")
    rule: str | None = Field(description="sku, gtin or alias; mapping for an existing mapping.")
    candidates: list[CandidateOut]
    reason: str | None
    item: dict[str, Any] | None = Field(description="The channel item as read (sku, barcode, title, ...).")


class ProposalOut(Page):
    id: uuid.UUID
    channel_id: uuid.UUID
    status: str = Field(description="proposed, applied or discarded")
    items_read: int
    counts: dict[str, int]
    alias_schemes: list[str] | None
    created_at: datetime
    decided_at: datetime | None
    result: dict[str, Any] | None = Field(description="What applying did (when applied).")
    rows: list[RowOut]


class ApplyIn(Input):
    create_unmatched: StrictBool = Field(
        default=False, description="Create hub products (owned by the channel's partner) for unmatched items."
    )
    category: StrictStr | None = Field(
        default=None, max_length=64, description="Category (code or id) of created products."
    )
    attributes: dict[StrictStr, Any] | None = Field(
        default=None, description="Attributes given to every created product (the category's schema applies)."
    )
    include: list[StrictStr] | None = Field(
        default=None, max_length=100_000, description="Only these channel items (external ids)."
    )
    exclude: list[StrictStr] = Field(default_factory=list, max_length=100_000)
    choose: dict[StrictStr, uuid.UUID] = Field(
        default_factory=dict,
        max_length=100_000,
        description="Settle ambiguous items: external id -> the candidate product to map it to.",
    )


class ApplyOut(BaseModel):
    proposal_id: uuid.UUID
    status: str
    mapped: int
    created: list[dict[str, Any]]
    failed: list[dict[str, Any]] = Field(
        description="Items no product could be created for, with the reason."
    )
    skipped: list[dict[str, Any]] = Field(
        description="Items named in `include` that were not applied (ambiguous, already mapped ...)."
    )
    events: int = Field(description="State events queued to the channel for the newly mapped products.")
