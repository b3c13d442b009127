import ipaddress

import httpx
import pytest
import yarl

from productsync.domain.errors import ErrorCode, InvalidInput
from productsync.domain.targets import (
    BadHost,
    TargetPolicy,
    address_refusal,
    check_targets,
    check_url_target,
    client_host,
    literal_address,
    refusal,
    url_refusal,
)


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


STRICT_VERDICTS = [
    # (address, refused by default because ..., allowed with loopback opt-in, with private opt-in)
    ("93.184.216.34", None, True, True),
    ("8.8.8.8", None, True, True),
    ("2606:4700::1111", None, True, True),
    ("64:ff9b::5db8:d822", None, True, True),  # NAT64 of a public address
    ("2002:5db8:d822::1", None, True, True),  # 6to4 of a public address
    ("127.0.0.1", "loopback", True, False),
    ("127.8.9.10", "loopback", True, False),
    ("::1", "loopback", True, False),
    ("::ffff:127.0.0.1", "loopback", True, False),
    ("10.1.2.3", "private", False, True),
    ("172.16.0.1", "private", False, True),
    ("192.168.0.10", "private", False, True),
    ("::ffff:10.0.0.1", "private", False, True),
    ("fc00::1", "private", False, True),
    ("fd12:3456::1", "private", False, True),
    ("100.64.0.1", "shared address space", False, True),
    ("169.254.169.254", "link-local", False, False),
    ("fe80::1", "link-local", False, False),
    ("fe80::1%eth0", "link-local", False, False),
    ("192.0.0.8", "IETF protocol assignments", False, False),
    ("192.0.0.9", "IETF protocol assignments", False, False),
    ("198.18.0.1", "benchmarking", False, False),
    ("198.19.255.254", "benchmarking", False, False),
    ("192.0.2.1", "documentation", False, False),
    ("198.51.100.7", "documentation", False, False),
    ("203.0.113.9", "documentation", False, False),
    ("2001:db8::1", "documentation", False, False),
    ("64:ff9b::7f00:1", "NAT64 form of 127.0.0.1", False, False),
    ("64:ff9b::a9fe:a9fe", "NAT64 form of 169.254.169.254", False, False),
    ("64:ff9b:1::1", "not a unicast", False, False),  # local-use NAT64
    ("2002:7f00:1::", "6to4 form of 127.0.0.1", False, False),
    ("2001::1", "Teredo", False, False),
    ("::7f00:1", "not a unicast", False, False),  # IPv4-compatible (deprecated)
    ("0.0.0.0", "unicast", False, False),
    ("0.1.2.3", "this network", False, False),
    ("::", "unicast", False, False),
    ("224.0.0.1", "unicast", False, False),
    ("ff02::1", "unicast", False, False),
    ("255.255.255.255", "unicast", False, False),
    ("240.0.0.1", "unicast", False, False),
    ("192.88.99.1", "6to4 relay", False, False),
    ("fec0::1", "site-local", False, False),
]


@pytest.mark.parametrize(("address", "why", "with_loopback", "with_private"), STRICT_VERDICTS)
def test_only_globally_routable_addresses_pass_by_default(
    address: str, why: str | None, with_loopback: bool, with_private: bool
) -> None:
    verdict = address_refusal(address)
    assert (verdict is None) if why is None else (why in (verdict or "")), verdict
    assert (address_refusal(address, TargetPolicy(allow_loopback=True)) is None) is with_loopback
    assert (address_refusal(address, TargetPolicy(allow_private=True)) is None) is with_private


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://hooks.example.com/in", None),  # a name: judged when resolved, at delivery
        ("https://93.184.216.34/in", None),
        ("http://127.0.0.1:8000/", "loopback"),
        ("http://127.0.0.1.:8000/", "loopback"),
        ("http://127.1/", "loopback"),  # inet_aton forms the system resolver accepts
        ("http://2130706433/", "loopback"),
        ("http://0x7f.0.0.1/", "loopback"),
        ("http://017700000001/", "loopback"),
        ("http://[::1]:9/", "loopback"),
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://localhost/", "localhost"),
        ("http://api.localhost./", "localhost"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fd00::1]/", "private"),
        ("http://0/", "unicast"),  # 0.0.0.0 reaches the hub itself on Linux
        # Written as the HTTP clients read them: yarl and httpx map Unicode hosts through
        # IDNA (NFKC first), so these are the literal 127.0.0.1 (or localhost) on the wire.
        ("http://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11/", "loopback"),  # full-width
        ("http://\u2460\u2461\u2466.0.0.1/", "loopback"),  # circled digits
        ("http://127\u30020\u30020\u30021/", "loopback"),  # ideographic full stops
        ("http://127.0.0.1\uff0e/", "loopback"),  # a full-width trailing dot
        ("http://\uff11\uff12\uff17.1/", "loopback"),  # full-width legacy numeric form
        ("http://\uff11\uff16\uff19.254.169.254/", "link-local"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::FFFF:A9FE:A9FE]/", "link-local"),  # mixed case, mapped 169.254.169.254
        ("http://0X7F.0.0.1/", "loopback"),
        ("http://LocalHost./", "localhost"),
        ("http://\uff2c\uff2f\uff23\uff21\uff2c\uff28\uff2f\uff33\uff34/", "localhost"),  # full-width
        ("http://\u24db\u24de\u24d2\u24d0\u24db\u24d7\u24de\u24e2\u24e3:9/", "localhost"),  # circled
        ("http://b\u00fc..example/", "not a valid host name"),  # IDNA refuses an empty label
        ("https://B\u00fccher.example/shop", None),  # a Unicode name: judged when resolved
    ],
)
def test_channel_urls_with_internal_address_literals_are_refused_before_any_lookup(
    url: str, why: str | None
) -> None:
    verdict = url_refusal(url)
    assert (verdict is None) if why is None else (why in (verdict or "")), verdict
    if why is None:
        check_url_target(url)
    else:
        with pytest.raises(InvalidInput) as caught:
            check_url_target(url)
        assert caught.value.code is ErrorCode.TARGET_NOT_ALLOWED and caught.value.data["field"] == "url"


def test_check_targets_returns_exactly_the_addresses_it_judged() -> None:
    assert check_targets(["93.184.216.34", "2606:4700::1111"]) == ["93.184.216.34", "2606:4700::1111"]
    with pytest.raises(InvalidInput) as caught:
        check_targets(["93.184.216.34", "100.64.0.1"])
    assert caught.value.code is ErrorCode.TARGET_NOT_ALLOWED and caught.value.data["address"] == "100.64.0.1"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11", "127.0.0.1"),
        ("\u2460\u2461\u2466.0.0.1", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", str(ipaddress.ip_address("::ffff:127.0.0.1"))),
        ("Hooks.Example.COM.", "hooks.example.com."),
        ("B\u00fccher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
)
def test_hosts_are_written_the_way_yarl_and_httpx_write_them(host: str, expected: str) -> None:
    assert client_host(host) == expected
    url = f"http://{host}/"
    assert client_host(yarl.URL(url).raw_host or "") == expected  # aiohttp's reading agrees
    try:
        read = httpx.URL(url).raw_host.decode()
    except httpx.InvalidURL:  # httpx refuses some of these outright (IDNA 2008): nothing to connect
        return
    assert client_host(read) == expected


def test_a_host_idna_cannot_encode_is_not_a_literal_and_is_refused_when_saved() -> None:
    with pytest.raises(BadHost):
        client_host("b\u00fc..example")
    assert literal_address("b\u00fc..example") is None
    with pytest.raises(InvalidInput) as caught:
        check_url_target("http://b\u00fc..example/")
    assert caught.value.code is ErrorCode.TARGET_NOT_ALLOWED
