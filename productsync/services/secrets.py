"""Key rotation for the secrets the hub seals at rest."""

from __future__ import annotations

from productsync.store.uow import UnitOfWork


async def reseal_secrets(uow: UnitOfWork) -> int:
    """Every sealed secret (channel signing secrets, previous secrets still signing,
    platform credentials) sealed again with the current key, in one transaction: after
    it commits, the old keys can leave ``PRODUCTSYNC_SECRET_KEY``. A secret no
    configured key opens fails the whole run, so nothing is left half-moved. Returns
    how many values were re-sealed."""
    box = uow.secrets
    count = 0
    for channel_id, sealed in await uow.channels.all_sealed():
        fresh: dict[str, str | None] = {
            name: box.reseal(value) for name, value in sealed.items() if value is not None
        }
        if fresh:
            await uow.channels.set_sealed(channel_id, fresh)
            count += len(fresh)
    return count
