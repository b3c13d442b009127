"""Probing channels that stopped answering, so a recovered channel does not sit out a
long back-off.

A delivery that failed twice waits 30 s, then 2 min, 10 min...: right for a receiver that
is down for hours, wrong for a broker restarted in ten seconds. The dispatcher tells the
``Prober`` every outcome; a channel whose last try got no answer at all (``Attempt.
unreachable``: refused, reset, timed out, broker away) is probed with a cheap connect
(TCP for HTTP channels, connect + declare for RabbitMQ) at a short, growing interval
(``first`` doubling to ``longest``). When the probe connects, the channel's oldest waiting
delivery is made due at once; when it is delivered, the rest of the backlog follows
(``record_attempts``). A probe costs no delivery attempt while the channel is still away.
A channel that accepts connections but still does not answer (the released delivery
fails unreachable again) is released less and less often (x4 each time, up to
``AFTER_RELEASE_LONGEST``), so a flapping receiver cannot use up a delivery's tries.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass

from productsync.bootstrap import Hub
from productsync.domain.channels import Channel
from productsync.services.dispatch import Attempt, Claimed, channel_answers_again, failing_channels
from productsync.store.uow import UnitOfWork, transaction
from productsync.sync.connectors import Connectors

log = logging.getLogger("productsync.dispatcher")

FIRST = 0.5
LONGEST = 5.0
AFTER_RELEASE_LONGEST = 300.0


@dataclass
class _Away:
    channel: Channel
    delay: float
    due: float  # time.monotonic() of the next probe


class Prober:
    def __init__(
        self, hub: Hub, connectors: Connectors, *, first: float = FIRST, longest: float = LONGEST
    ) -> None:
        self._hub = hub
        self._connectors = connectors
        self._first = first
        self._longest = longest
        self._away: dict[uuid.UUID, _Away] = {}
        self._after_release: dict[uuid.UUID, float] = {}  # first delay if it fails again after a release
        self.released = 0  # channels found back (for tests and logs)

    @property
    def away(self) -> set[uuid.UUID]:
        return set(self._away)

    def suspect(self, channel: Channel) -> None:
        if channel.id not in self._away:
            delay = self._after_release.get(channel.id, self._first)
            self._away[channel.id] = _Away(channel, delay, time.monotonic() + delay)

    def observe(self, claimed: Claimed, attempt: Attempt) -> None:
        """An outcome: no answer makes the channel a probe candidate; any answer (even an
        HTTP error, which the normal schedule handles) ends its probing."""
        if not attempt.ok and attempt.unreachable:
            self.suspect(claimed.channel)
        else:
            self._away.pop(claimed.channel.id, None)
            if attempt.ok:
                self._after_release.pop(claimed.channel.id, None)

    async def seed(self) -> None:
        """Channels already failing when this dispatcher starts are probed once at least."""
        for channel in await transaction(self._hub.db, failing_channels, readonly=True):
            self.suspect(channel)

    async def probe_due(self) -> int:
        """Probe every channel whose time has come; returns how many answered."""
        now = time.monotonic()
        due = [a for a in self._away.values() if a.due <= now]
        if not due:
            return 0
        answers = await asyncio.gather(
            *(self._connectors.probe(a.channel) for a in due), return_exceptions=True
        )
        back: list[uuid.UUID] = []
        for away, answer in zip(due, answers, strict=True):
            if answer is True:
                if self._away.get(away.channel.id) is away:
                    del self._away[away.channel.id]
                back.append(away.channel.id)
                previous = self._after_release.get(away.channel.id)
                self._after_release[away.channel.id] = (
                    self._first if previous is None else min(previous * 4, AFTER_RELEASE_LONGEST)
                )
            else:
                away.delay = min(away.delay * 2, self._longest)
                away.due = time.monotonic() + away.delay
        if back:

            async def release(uow: UnitOfWork) -> None:
                for channel_id in back:
                    await channel_answers_again(uow, channel_id)

            await transaction(self._hub.db, release)
            self.released += len(back)
            log.info("%d channel(s) answer again; their waiting deliveries go now", len(back))
        return len(back)

    async def run(self, *, tick: float = 0.25) -> None:
        """Until cancelled."""
        try:
            await self.seed()
        except Exception:  # noqa: BLE001 - probing is an optimisation; deliveries go on without it
            log.exception("reading failing channels failed")
        while True:
            try:
                await self.probe_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - as above
                log.exception("probing channels failed")
            await asyncio.sleep(tick)
