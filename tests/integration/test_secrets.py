"""Secrets at rest: key rotation (old keys open, the first seals), re-sealing every
sealed column in one transaction, the race-free key file, and logs without bound values."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from productsync.domain.channels import ChannelKind, NewChannel
from productsync.services import channels
from productsync.services.secrets import reseal_secrets
from productsync.store.database import create_database
from productsync.store.secrets import (
    SecretBox,
    SecretKeyMissing,
    ensure_key_file,
    load_secret_box,
    parse_keys,
    secret_key_problem,
)
from productsync.store.tables import channels as channels_table
from productsync.store.uow import transaction


def test_a_rotated_box_opens_old_secrets_and_seals_new_ones_with_the_first_key() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    sealed_before = SecretBox(old).seal("whsec_before")
    rotated = SecretBox(parse_keys(f"{new.decode()}, {old.decode()}"))
    assert rotated.open(sealed_before) == "whsec_before"
    sealed_after = rotated.seal("whsec_after")
    assert SecretBox(new).open(sealed_after) == "whsec_after"
    with pytest.raises(RuntimeError):
        SecretBox(old).open(sealed_after)
    assert SecretBox(new).open(rotated.reseal(sealed_before)) == "whsec_before"


def test_a_malformed_key_is_refused_by_position_without_echoing_it() -> None:
    good = Fernet.generate_key().decode()
    with pytest.raises(ValueError) as caught:
        parse_keys(f"{good},not-a-key-at-all")
    assert "key 2 of 2" in str(caught.value) and "not-a-key" not in str(caught.value)


def test_postgresql_without_a_key_is_a_problem_and_sqlite_is_not(tmp_path: Path) -> None:
    problem = secret_key_problem("", "postgresql://postgres@127.0.0.1/x")
    assert problem is not None and "productsync secrets generate-key" in problem
    assert secret_key_problem(Fernet.generate_key().decode(), "postgresql://postgres@127.0.0.1/x") is None
    assert secret_key_problem("", f"sqlite:///{tmp_path / 'hub.db'}") is None
    unconfigured = load_secret_box("", "postgresql://postgres@127.0.0.1/x")
    with pytest.raises(SecretKeyMissing):
        unconfigured.seal("x")


def test_processes_starting_at_once_end_up_with_one_key_file(tmp_path: Path) -> None:
    path = tmp_path / "hub.key"
    barrier = threading.Barrier(16)
    keys: list[bytes] = []

    def start() -> None:
        barrier.wait()
        keys.append(ensure_key_file(path))

    threads = [threading.Thread(target=start) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and keys[0] == path.read_bytes().strip()
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["hub.key"]  # no temporary files left
    Fernet(keys[0])


async def test_reseal_moves_every_sealed_secret_to_the_current_key(database, world) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from productsync.domain.access import Scope

    original = database.secret_box
    old_key = original._keys[0]
    new_key = Fernet.generate_key()
    actor = replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))
    new_channel = NewChannel(
        name="Shop",
        kind=ChannelKind.WEBHOOK,
        owner_partner_id=None,
        url="https://shop.example/h",
        location_ids=(world.loc_a.id,),
        buffer_stock=Decimal(2),
    )
    channel, first_secret = await transaction(
        database, lambda uow: channels.create_channel(uow, actor, new_channel)
    )
    # A rotation with a grace period leaves a previous secret sealed too.
    _, second_secret, _ = await transaction(
        database, lambda uow: channels.rotate_secret(uow, actor, channel.id, grace=timedelta(hours=1))
    )

    async def sealed(uow):  # type: ignore[no-untyped-def]
        q = select(channels_table.c.secret_sealed, channels_table.c.previous_secret_sealed).where(
            channels_table.c.id == channel.id
        )
        return (await uow.stock.conn.execute(q)).one()

    try:
        database.secret_box = SecretBox([new_key, old_key])
        count = await transaction(database, reseal_secrets)
        assert count >= 2
        current, previous = await transaction(database, sealed, readonly=True)
        only_new = SecretBox(new_key)
        assert only_new.open(current) == second_secret and only_new.open(previous) == first_secret
        with pytest.raises(RuntimeError):
            SecretBox(old_key).open(current)
        database.secret_box = only_new  # the old key is gone: signing still works
        assert await transaction(
            database, lambda uow: channels.signing_secrets(uow, channel.id), readonly=True
        ) == [second_secret, first_secret]
    finally:
        # Back to the session's key for the tests that follow.
        database.secret_box = SecretBox([old_key, new_key])
        await transaction(database, reseal_secrets)
        database.secret_box = original


async def test_logged_database_errors_carry_no_bound_values(database_url: str) -> None:
    db = create_database(database_url)
    try:
        with pytest.raises(DBAPIError) as caught:
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT * FROM no_such_table WHERE x = :v"), {"v": "whsec_LEAKED"})
        assert "whsec_LEAKED" not in str(caught.value)
        assert "hidden due to hide_parameters" in str(caught.value)
    finally:
        await db.dispose()
