"""A channel's locale picks the product texts of what it is sent, on both databases:
webhook deliveries (the dispatcher's claim) and stream channels (SSE reads)."""

from __future__ import annotations

from dataclasses import replace

from productsync.config import Settings
from productsync.domain.access import Scope
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.services import catalog, channels, dispatch, logs
from productsync.store.uow import transaction


class _Rollback(Exception):
    """Carries what a read-and-discard transaction saw (leases must not outlive the test)."""


async def test_product_payloads_use_the_channel_locale(database, world) -> None:
    admin_a = replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))
    policy = Settings(webhook_allow_loopback=True).target_policy()

    async def channel(kind, locale, url=None):  # type: ignore[no-untyped-def]
        made, _ = await transaction(
            database,
            lambda uow: channels.create_channel(
                uow,
                admin_a,
                NewChannel(
                    name=f"{kind.value}-{locale}",
                    kind=kind,
                    owner_partner_id=None,
                    url=url,
                    locale=locale,
                    location_ids=(world.loc_a.id,),
                ),
                targets=policy,
            ),
        )
        return made

    german = await channel(ChannelKind.WEBHOOK, "de-DE", "http://127.0.0.1:9/hook")
    plain = await channel(ChannelKind.WEBHOOK, None, "http://127.0.0.1:9/hook")
    stream = await channel(ChannelKind.SSE, "de")
    start = await transaction(database, logs.latest_seq, readonly=True)
    await transaction(
        database,
        lambda uow: catalog.update_product(
            uow,
            world.actor_a,
            world.product.id,
            {"texts": {"de": {"name": "Schläger", "description": "Aus Carbon"}}},
        ),
    )

    async def claimed(uow):  # type: ignore[no-untyped-def]
        await logs.sequence_events(uow)
        while await dispatch.fan_out(uow):
            pass
        raise _Rollback(await dispatch.claim(uow, limit=100_000))

    try:
        await transaction(database, claimed)
    except _Rollback as seen:
        got = seen.args[0]
    names = {
        c.channel.id: c.event["data"]["product"]["name"]
        for c in got
        if c.channel.id in (german.id, plain.id) and c.event["type"] == "productsync.product.updated"
    }
    assert names == {german.id: "Schläger", plain.id: "Test racket"}
    by_channel = {
        c.channel.id: c.event["data"]["product"] for c in got if c.event["type"].endswith("updated")
    }
    assert by_channel[german.id]["description"] == "Aus Carbon" and by_channel[german.id]["locale"] == "de"
    assert "locale" not in by_channel[plain.id]

    async def streamed(uow):  # type: ignore[no-untyped-def]
        await logs.sequence_events(uow)
        return await logs.channel_events(uow, admin_a, stream.id, after=start, limit=10_000)

    _, events = await transaction(database, streamed)
    updated = [e for _, e in events if e["type"] == "productsync.product.updated"]
    assert updated and updated[-1]["data"]["product"]["name"] == "Schläger"
