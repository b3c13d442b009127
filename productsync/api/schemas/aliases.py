"""Product aliases (`scheme:code`) and their lookup."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field, StrictStr

from productsync.api.schemas.common import Input


class AliasIn(Input):
    scheme: StrictStr = Field(min_length=1, max_length=40, examples=["supplier-acme"])
    code: StrictStr = Field(min_length=1, max_length=200, examples=["AC-99812"])


class AliasesIn(Input):
    aliases: list[AliasIn] = Field(max_length=100, description="The full set; replaces the current one.")


class AliasesOut(BaseModel):
    product_id: uuid.UUID
    aliases: list[AliasIn]


class AliasLookupOut(BaseModel):
    scheme: str
    code: str
    product_id: uuid.UUID
