"""The command line: secrets required when scaled out, key generation and re-sealing,
partner keys with every partner scope, and key listings that show codes in full."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.e2e.conftest import cli

NO_SUCH_PG = "postgresql://postgres@127.0.0.1:5432/productsync_never_created"


def _env(**over: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PRODUCTSYNC_SECRET_KEY"}
    env.update(over)
    return env


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_scaled_out_processes_refuse_to_start_without_a_secret_key(command: str) -> None:
    env = _env(PRODUCTSYNC_DATABASE_URL=NO_SUCH_PG)
    done = cli(env, command)
    assert done.returncode != 0
    message = " ".join(done.stderr.split())
    assert "PRODUCTSYNC_SECRET_KEY is required on PostgreSQL" in message
    assert "productsync secrets generate-key" in message


def test_a_malformed_secret_key_is_refused_at_start() -> None:
    done = cli(_env(PRODUCTSYNC_DATABASE_URL=NO_SUCH_PG, PRODUCTSYNC_SECRET_KEY="nope"), "serve")
    assert done.returncode != 0 and "not a Fernet key" in " ".join(done.stderr.split())


def test_generate_key_prints_a_fernet_key() -> None:
    done = cli(_env(), "secrets", "generate-key")
    assert done.returncode == 0
    Fernet(done.stdout.strip().encode())


def test_partner_keys_get_every_partner_scope_and_listings_show_the_partner_code(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    env = _env(PRODUCTSYNC_DATABASE_URL=url)

    async def seed() -> None:
        from productsync.bootstrap import start_hub
        from productsync.config import Settings
        from productsync.domain.access import system_actor
        from productsync.services import partners
        from productsync.store.uow import transaction

        hub = await start_hub(Settings(database_url=url, secret_key=""))
        try:
            await transaction(
                hub.db,
                lambda uow: partners.create_partner(
                    uow, system_actor("test"), code="a-rather-long-partner-code", name="Long"
                ),
            )
        finally:
            await hub.close()

    asyncio.run(seed())
    created = cli(env, "keys", "create", "--partner", "a-rather-long-partner-code", "--name", "integration")
    assert created.returncode == 0, created.stderr
    listed = cli({**env, "COLUMNS": "60"}, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    (line,) = [ln for ln in listed.stdout.splitlines() if "integration" in ln]
    assert "a-rather-long-partner-code" in line
    assert "catalog:read,catalog:write,stock:write,prices:write,channels:admin" in line
    assert "admin " not in line.split("channels:admin")[1]
    # The embedded hub sealed with its key file; re-sealing works without the variable.
    resealed = cli(env, "secrets", "reseal")
    assert resealed.returncode == 0 and "re-sealed 0 secret(s)" in resealed.stdout
    assert (tmp_path / "hub.key").exists()
