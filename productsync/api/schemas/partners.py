"""Partners and catalog shares."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from productsync.api.schemas.common import Input


class PartnerIn(Input):
    code: StrictStr = Field(min_length=3, max_length=40, examples=["nailco"])
    name: StrictStr = Field(min_length=1, max_length=200, examples=["NailCo Lacquers"])


class PartnerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    code: str
    name: str
    created_at: datetime


class ShareIn(Input):
    grantee_partner_id: uuid.UUID


class ShareOut(BaseModel):
    owner_partner_id: uuid.UUID
    grantee_partner_id: uuid.UUID
    created: bool
