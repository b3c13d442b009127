import pytest

from productsync.domain.errors import InvalidInput
from productsync.domain.targets import check_targets, refusal


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("0.0.0.0", "unicast"),
        ("224.0.0.1", "unicast"),
    ],
)
def test_internal_addresses_are_refused_by_default(address: str, why: str) -> None:
    assert why in (refusal(address) or "")


def test_public_addresses_pass_and_loopback_only_when_allowed() -> None:
    assert refusal("93.184.216.34") is None
    assert refusal("2606:4700::1111") is None
    assert refusal("127.0.0.1", allow_loopback=True) is None
    assert refusal("169.254.169.254", allow_loopback=True) is not None
    assert refusal("10.0.0.5", allow_private=True) is None


def test_one_bad_address_among_several_refuses_the_target() -> None:
    with pytest.raises(InvalidInput, match="not allowed"):
        check_targets(["93.184.216.34", "127.0.0.1"])
    with pytest.raises(InvalidInput, match="does not resolve"):
        check_targets([])
