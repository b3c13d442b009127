import uuid

import pytest

from productsync.domain.access import Actor, Scope
from productsync.domain.errors import Forbidden, NotFound
from productsync.domain.keys import hash_key, looks_like_key, new_key

A, B, C = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
READ_WRITE = frozenset({Scope.CATALOG_READ, Scope.CATALOG_WRITE})


def partner(pid: uuid.UUID, readable: frozenset[uuid.UUID] = frozenset()) -> Actor:
    return Actor(key_id=uuid.uuid4(), partner_id=pid, scopes=READ_WRITE, readable_partners=readable)


@pytest.mark.parametrize(
    ("actor", "owner", "read", "write"),
    [
        (partner(A), A, True, True),
        (partner(B, frozenset({A})), A, True, False),
        (partner(C), A, False, False),
        (partner(C), None, True, False),
        (Actor(None, None, frozenset({Scope.ADMIN})), A, True, True),
    ],
)
def test_partners_read_their_own_and_shared_data_and_write_only_their_own(
    actor: Actor, owner: uuid.UUID | None, read: bool, write: bool
) -> None:
    assert actor.can_read(owner) is read
    assert actor.can_write(owner) is write


def test_invisible_data_is_not_found_and_shared_data_is_forbidden_to_write() -> None:
    with pytest.raises(NotFound):
        partner(C).check_write(A, "product", "x")
    with pytest.raises(Forbidden):
        partner(B, frozenset({A})).check_write(A, "product", "x")


def test_a_missing_scope_is_forbidden() -> None:
    with pytest.raises(Forbidden, match="stock:write"):
        partner(A).require(Scope.STOCK_WRITE)


def test_keys_are_random_and_only_their_hash_is_kept() -> None:
    (p1, k1), (_, k2) = new_key(), new_key()
    assert k1 != k2 and p1 in k1 and looks_like_key(k1)
    assert len(hash_key(k1)) == 64 and hash_key(k1) != k1
    assert not looks_like_key("psk_short") and not looks_like_key(k1 + "x")


@pytest.mark.parametrize(
    ("actor", "owners"),
    [
        (partner(A), frozenset({A})),
        (partner(B, frozenset({A, C})), frozenset({A, B, C})),
        (Actor(None, None, frozenset({Scope.ADMIN})), None),
    ],
)
def test_readable_owners_are_own_and_sharing_partners_or_everyone_for_an_admin(
    actor: Actor, owners: frozenset[uuid.UUID] | None
) -> None:
    assert actor.readable_owners() == owners
