"""Documentation and testing names (RFC 2606/6761) are refused without a DNS query, so a
channel pointed at ``shop.example`` or ``hooks.invalid`` never makes the hub send a packet."""

import asyncio
import socket

import pytest

from productsync.sync import guard


@pytest.mark.parametrize(
    ("host", "special"),
    [
        ("shop.example", True),
        ("receiver.invalid", True),
        ("hooks.test", True),
        ("Shop.Example.", True),
        ("api.example.com", True),
        ("example.org", True),
        ("invalid", True),
        ("shop.example.co", False),
        ("examples.com", False),
        ("mytest", False),
        ("shop.testing", False),
        ("hub.productsync.io", False),
    ],
)
def test_special_use_names_are_recognised(host: str, special: bool) -> None:
    assert guard.is_special_use_name(host) is special


def test_a_special_use_name_fails_before_any_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    async def getaddrinfo(self: object, host: str, *args: object, **kwargs: object) -> list[object]:
        asked.append(host)
        raise AssertionError("a lookup was made")

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)
    with pytest.raises(socket.gaierror, match="special-use"):
        asyncio.run(guard.system_resolve("storefront.example", 443))
    assert asked == []
