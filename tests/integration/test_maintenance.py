from __future__ import annotations

import uuid
from datetime import timedelta

from productsync.services.maintenance import purge_idempotency_records
from productsync.store.uow import transaction


async def test_expired_idempotency_records_are_purged_and_live_ones_kept(database) -> None:  # type: ignore[no-untyped-def]
    owner = f"key-{uuid.uuid4().hex[:8]}"

    async def seed(uow):  # type: ignore[no-untyped-def]
        for name, age in (("old", timedelta(hours=25)), ("fresh", timedelta(hours=1))):
            await uow.idempotency.add(
                key_id=owner,
                idempotency_key=name,
                request_hash="h",
                status_code=200,
                body="{}",
                headers={},
                at=uow.now - age,
            )

    await transaction(database, seed)
    await transaction(database, lambda uow: purge_idempotency_records(uow, timedelta(hours=24)))

    async def left(uow):  # type: ignore[no-untyped-def]
        return [k for k in ("old", "fresh") if await uow.idempotency.get(owner, k) is not None]

    assert await transaction(database, left, readonly=True) == ["fresh"]
