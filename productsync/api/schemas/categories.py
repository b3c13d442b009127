"""Categories: attribute schemas and lot tracking."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from productsync.api.schemas.common import Input


class CategoryIn(Input):
    code: StrictStr = Field(min_length=2, max_length=40)
    name: StrictStr = Field(min_length=1, max_length=200)
    sku_prefix: StrictStr | None = Field(default=None, max_length=9, examples=["COS-"])
    attribute_schema: dict[str, Any] = Field(description="JSON Schema (2020-12) for product attributes.")
    lot_tracked: StrictBool = False


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    code: str
    name: str
    sku_prefix: str | None
    attribute_schema: dict[str, Any]
    lot_tracked: bool
