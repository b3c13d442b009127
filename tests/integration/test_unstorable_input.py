"""Text the database cannot store is the client's error (422), on either database."""

from __future__ import annotations

import pytest

from productsync.domain.errors import InvalidInput
from productsync.services import partners
from productsync.store.uow import transaction
from tests.conftest import ref


async def test_a_nul_byte_in_text_is_invalid_input_and_writes_nothing(database, world) -> None:  # type: ignore[no-untyped-def]
    code = ref("nul-")
    try:
        await transaction(
            database, lambda uow: partners.create_partner(uow, world.admin, code=code, name="a\x00b")
        )
    except InvalidInput:
        pass  # PostgreSQL refuses NUL in text
    else:
        assert database.is_sqlite  # SQLite stores it faithfully; both outcomes are fine, a 500 is not
    with pytest.raises(InvalidInput):
        await transaction(
            database, lambda uow: partners.create_partner(uow, world.admin, code=ref("sur-"), name="x\udc80")
        )
