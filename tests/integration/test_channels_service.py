"""Channel administration on both databases."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from productsync.domain.channels import ChannelKind, NewChannel
from productsync.domain.errors import InvalidInput, NotFound, PreconditionFailed
from productsync.services import channels
from productsync.services.channels import MappingIn
from productsync.store.tables import audit_log
from productsync.store.tables import channels as channels_table
from productsync.store.uow import transaction
from tests.conftest import ref


def _admin_of(world, partner):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from productsync.domain.access import Scope

    return replace(
        world.actor_a if partner is world.a else world.actor_b,
        scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}),
    )


def _new(world, **over):  # type: ignore[no-untyped-def]
    values = dict(
        name="Shop",
        kind=ChannelKind.WEBHOOK,
        owner_partner_id=None,
        url="https://shop.example/h",
        location_ids=(world.loc_a.id,),
        buffer_stock=Decimal(2),
    )
    values.update(over)
    return NewChannel(**values)


async def test_a_channel_is_created_with_a_sealed_secret_and_an_audit_record_without_it(
    database, world
) -> None:
    actor = _admin_of(world, world.a)
    channel, secret = await transaction(
        database, lambda uow: channels.create_channel(uow, actor, _new(world))
    )
    assert secret.startswith("whsec_") and channel.owner_partner_id == world.a.id
    assert channel.partner_ids == (world.a.id,)

    async def raw(uow):  # type: ignore[no-untyped-def]
        stored = (
            await uow.stock.conn.execute(
                select(channels_table.c.secret_sealed).where(channels_table.c.id == channel.id)
            )
        ).scalar_one()
        audit = (
            (
                await uow.stock.conn.execute(
                    select(audit_log.c.after).where(audit_log.c.entity_id == str(channel.id))
                )
            )
            .scalars()
            .all()
        )
        return stored, audit

    stored, audit = await transaction(database, raw, readonly=True)
    assert secret not in stored and secret[6:] not in stored
    assert audit and all(secret not in str(a) for a in audit)
    assert await transaction(database, lambda uow: channels.signing_secrets(uow, channel.id)) == [secret]


async def test_a_channel_cannot_name_what_its_owner_cannot_read(database, world) -> None:
    actor = _admin_of(world, world.a)
    with pytest.raises(NotFound):
        await transaction(
            database, lambda uow: channels.create_channel(uow, actor, _new(world, partner_ids=(world.c.id,)))
        )
    b_actor = _admin_of(world, world.b)
    from productsync.domain.inventory import LocationKind
    from productsync.services import locations

    loc_c = await transaction(
        database,
        lambda uow: locations.create_location(
            uow, world.admin, code=ref("LC-"), name="C", kind=LocationKind.STORE, owner_partner_id=world.c.id
        ),
    )
    with pytest.raises(NotFound):  # C shares nothing with B: its store is invisible to B's channels
        await transaction(
            database, lambda uow: channels.create_channel(uow, b_actor, _new(world, location_ids=(loc_c.id,)))
        )
    # A shares its catalog with B, stock included: B's storefront may count A's store
    await transaction(database, lambda uow: channels.create_channel(uow, b_actor, _new(world)))
    shared, _ = await transaction(
        database,
        lambda uow: channels.create_channel(
            uow, b_actor, _new(world, partner_ids=(world.a.id, world.b.id), location_ids=(world.loc_hub.id,))
        ),
    )
    assert set(shared.partner_ids) == {world.a.id, world.b.id}
    with pytest.raises(NotFound):
        await transaction(database, lambda uow: channels.get_channel(uow, actor, shared.id))


async def test_rotation_keeps_the_old_secret_signing_during_the_grace_period(database, world) -> None:
    actor = _admin_of(world, world.a)
    channel, first = await transaction(database, lambda uow: channels.create_channel(uow, actor, _new(world)))
    _, second, until = await transaction(
        database, lambda uow: channels.rotate_secret(uow, actor, channel.id, grace=timedelta(hours=1))
    )
    assert until is not None
    assert await transaction(database, lambda uow: channels.signing_secrets(uow, channel.id)) == [
        second,
        first,
    ]
    _, third, until = await transaction(
        database, lambda uow: channels.rotate_secret(uow, actor, channel.id, grace=timedelta(0))
    )
    assert until is None
    assert await transaction(database, lambda uow: channels.signing_secrets(uow, channel.id)) == [third]


async def test_edits_honour_the_expected_version(database, world) -> None:
    actor = _admin_of(world, world.a)
    channel, _ = await transaction(database, lambda uow: channels.create_channel(uow, actor, _new(world)))
    paused = await transaction(
        database,
        lambda uow: channels.update_channel(
            uow, actor, channel.id, {"status": "paused", "buffer_stock": Decimal(5)}, expected_version=1
        ),
    )
    assert paused.version == 2 and paused.buffer_stock == 5
    with pytest.raises(PreconditionFailed):
        await transaction(
            database,
            lambda uow: channels.update_channel(uow, actor, channel.id, {"name": "x"}, expected_version=1),
        )


async def test_mappings_are_all_or_nothing_and_resolve_external_ids(database, world) -> None:
    actor = _admin_of(world, world.a)
    channel, _ = await transaction(database, lambda uow: channels.create_channel(uow, actor, _new(world)))
    ext = ref("gid-")
    with pytest.raises(InvalidInput) as err:
        await transaction(
            database,
            lambda uow: channels.upsert_mappings(
                uow,
                actor,
                channel.id,
                [
                    MappingIn(ext, sku=world.product.sku),
                    MappingIn(ref("x-"), sku="SE-DOES-NOT-EXIST"),
                    MappingIn(ext, sku=world.product.sku),
                ],
            ),
        )
    assert [e["index"] for e in err.value.data["errors"]] == [1, 2]
    with pytest.raises(NotFound):
        await transaction(database, lambda uow: channels.resolve_external(uow, channel, ext))
    n = await transaction(
        database,
        lambda uow: channels.upsert_mappings(
            uow, actor, channel.id, [MappingIn(ext, product_id=world.product.id, external_sku="EXT-1")]
        ),
    )
    again = await transaction(
        database,
        lambda uow: channels.upsert_mappings(
            uow, actor, channel.id, [MappingIn(ext, sku=world.product.sku.lower(), external_sku="EXT-2")]
        ),
    )
    assert n == again == 1
    assert (
        await transaction(database, lambda uow: channels.resolve_external(uow, channel, ext))
        == world.product.id
    )
    rows = await transaction(database, lambda uow: uow.mappings.find(channel.id), readonly=True)
    assert [(r.external_id, r.external_sku) for r in rows] == [(ext, "EXT-2")]


async def test_nulls_in_an_edit_are_refused_before_anything_is_looked_up(database, world) -> None:
    actor = _admin_of(world, world.a)
    channel, _ = await transaction(database, lambda uow: channels.create_channel(uow, actor, _new(world)))
    for field in ("category_ids", "partner_ids", "location_ids", "status"):
        with pytest.raises(InvalidInput, match="cannot be null"):
            await transaction(
                database,
                lambda uow, f=field: channels.update_channel(
                    uow, actor, channel.id, {f: None}, expected_version=None
                ),
            )
