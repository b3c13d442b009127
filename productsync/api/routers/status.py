"""What the background jobs of this process are doing (admin)."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter

from productsync.api.deps import ActorDep, HubDep
from productsync.api.schemas.common import PROBLEM_RESPONSES
from productsync.domain.access import Scope

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, tags=["health"])


@router.get("/status/sweeps")
async def sweeps(hub: HubDep, actor: ActorDep) -> dict[str, Any]:
    """Per background job (reservation expiry, lot expiry, near-expiry, idempotency purge,
    ...): rounds run, rows processed, the job's last error, and the rows it is skipping
    because they failed (id, failures, error, when it tries again). Kept in the memory of
    the process that answers: with several API processes or workers, each reports its
    own (`process` says which)."""
    actor.require(Scope.ADMIN)
    return {"process": os.getpid(), "jobs": hub.sweeps.report()}
