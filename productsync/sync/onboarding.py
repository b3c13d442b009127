"""Onboard a storefront channel: read its catalog now, store the matching proposal.

Three steps, so no transaction stays open while a platform answers (a store of thousands
of products takes many requests): the caller's right to onboard the channel is checked
and its credentials read (short read-only transaction); the channel's reader
(``catalog_readers.reader_for``) pages through the store, through the SSRF guard; the
proposal is matched and stored (``services.onboarding.propose``, one transaction).

A store that cannot be read is ``ChannelUnreadable`` with the reason (the platform's
answer or the transport failure): the API answers 502/503, never 500.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from productsync.bootstrap import Hub
from productsync.domain.access import Actor
from productsync.domain.channel_catalog import ChannelItem
from productsync.domain.errors import DomainError, InvalidInput
from productsync.services import onboarding
from productsync.store.repositories.onboarding import Proposal
from productsync.store.uow import transaction
from productsync.sync.catalog_readers import reader_for
from productsync.sync.guard import TargetGuard, TargetRefused
from productsync.sync.woocommerce_catalog import CatalogReadError

log = logging.getLogger("productsync.onboarding")

MAX_ITEMS = 200_000  # one proposal holds the whole catalog in memory while it is matched


class ChannelUnreadable(Exception):
    """The channel's platform could not be read; ``unreachable`` when nothing answered."""

    def __init__(self, reason: str, *, unreachable: bool, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable
        self.status_code = status_code


async def onboard(
    hub: Hub,
    actor: Actor,
    channel_id: uuid.UUID,
    *,
    alias_schemes: Sequence[str] | None = None,
    guard: TargetGuard | None = None,
    request_id: str | None = None,
) -> Proposal:
    """Read the channel's catalog and store what matching proposes."""
    channel, credentials = await transaction(
        hub.db, lambda uow: onboarding.channel_to_read(uow, actor, channel_id), readonly=True
    )
    reader = reader_for(channel)
    guard = guard or TargetGuard(hub.settings.target_policy())
    items: list[ChannelItem] = []
    try:
        async for item in reader(
            channel, credentials, guard=guard, timeout=hub.settings.webhook_timeout_seconds
        ):
            items.append(item)
            if len(items) > MAX_ITEMS:
                raise InvalidInput(
                    f"the channel holds more than {MAX_ITEMS} items: too many to onboard at once"
                )
    except CatalogReadError as exc:
        raise ChannelUnreadable(exc.reason, unreachable=exc.unreachable, status_code=exc.status_code) from exc
    except TargetRefused as exc:
        raise ChannelUnreadable(exc.reason, unreachable=exc.unreachable) from exc
    except DomainError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader's own failure: reported with its reason, logged
        log.exception("reading channel %s for onboarding failed", channel.id)
        raise ChannelUnreadable(f"{type(exc).__name__}: {exc}"[:300], unreachable=False) from exc
    return await transaction(
        hub.db,
        lambda uow: onboarding.propose(uow, actor, channel_id, items, alias_schemes=alias_schemes),
        request_id=request_id,
    )
