import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from productsync.domain import channels as rules
from productsync.domain.channels import ChannelKind, ChannelStatus, NewChannel
from productsync.domain.errors import InvalidInput

NOW = datetime(2026, 11, 23, tzinfo=UTC)
A, B, CAT = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def webhook(**over: object) -> rules.Channel:
    values: dict[str, object] = {
        "name": " Shop ",
        "kind": ChannelKind.WEBHOOK,
        "owner_partner_id": A,
        "url": "https://shop.example/hooks",
    }
    values.update(over)
    return rules.create_channel(NewChannel(**values), now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        (ChannelKind.WEBHOOK, None),
        (ChannelKind.SHOPIFY, "ftp://x"),
        (ChannelKind.WEBHOOK, "/relative"),
        (ChannelKind.WOOCOMMERCE, "https://user:pw@shop.example/"),
    ],
)
def test_push_channels_need_a_plain_absolute_http_url(kind: ChannelKind, url: str | None) -> None:
    with pytest.raises(InvalidInput):
        webhook(kind=kind, url=url)


def test_a_stream_channel_needs_no_url_and_starts_enabled_at_version_1() -> None:
    c = webhook(kind=ChannelKind.SSE, url=None)
    assert (c.name, c.status, c.version) == ("Shop", ChannelStatus.ENABLED, 1)


def test_available_to_sell_holds_back_the_buffer_and_never_goes_negative() -> None:
    c = webhook(buffer_stock=Decimal(3))
    assert c.available_to_sell(Decimal(10)) == 7
    assert c.available_to_sell(Decimal(2)) == 0
    with pytest.raises(InvalidInput):
        webhook(buffer_stock=Decimal(-1))


def test_a_channel_sees_its_partners_and_categories_only() -> None:
    c = webhook(partner_ids=(A,), category_ids=(CAT,))
    assert c.sees(owner_partner_id=A, category_id=CAT)
    assert not c.sees(owner_partner_id=B, category_id=CAT)
    assert not c.sees(owner_partner_id=A, category_id=uuid.uuid4())
    assert webhook(partner_ids=(A, B)).sees(owner_partner_id=B, category_id=uuid.uuid4())


def test_patches_bump_the_version_only_when_something_changes() -> None:
    c = webhook()
    assert rules.patch_channel(c, {"name": "Shop"}, now=NOW) is c
    paused = rules.patch_channel(c, {"status": "paused"}, now=NOW + timedelta(seconds=1))
    assert paused.status is ChannelStatus.PAUSED and paused.version == 2
    with pytest.raises(InvalidInput, match="cannot be changed"):
        rules.patch_channel(c, {"kind": "sse"}, now=NOW)


def test_secrets_follow_the_standard_webhooks_format_and_rotation_verifies_with_either() -> None:
    old, new = rules.new_signing_secret(), rules.new_signing_secret()
    assert old.startswith("whsec_") and old != new
    payload, msg_id, at = '{"a":1}', "evt_1", datetime.now(UTC)
    both = " ".join(Webhook(s).sign(msg_id, at, payload) for s in (new, old))
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": both}
    assert Webhook(old).verify(payload, headers) == {"a": 1}
    assert Webhook(new).verify(payload, headers) == {"a": 1}
    with pytest.raises(WebhookVerificationError):
        Webhook(rules.new_signing_secret()).verify(payload, headers)


def test_the_grace_period_is_bounded() -> None:
    assert rules.rotation_grace(None) == rules.DEFAULT_ROTATION_GRACE
    for bad in (timedelta(seconds=-1), timedelta(days=31)):
        with pytest.raises(InvalidInput):
            rules.rotation_grace(bad)


@pytest.mark.parametrize(
    "field", ["buffer_stock", "name", "status", "partner_ids", "conflict_policy", "config"]
)
def test_fields_that_must_have_a_value_refuse_null(field: str) -> None:
    with pytest.raises(InvalidInput, match="cannot be null"):
        rules.patch_channel(webhook(), {field: None}, now=NOW)


def test_optional_fields_may_be_cleared_but_a_push_channel_keeps_its_url() -> None:
    cleared = rules.patch_channel(webhook(locale="de-DE"), {"locale": None}, now=NOW)
    assert cleared.locale is None
    with pytest.raises(InvalidInput, match="needs a url"):
        rules.patch_channel(webhook(), {"url": None}, now=NOW)


@pytest.mark.parametrize("buffer", [Decimal("1.8e71"), Decimal("0.0001"), Decimal("NaN")])
def test_a_buffer_beyond_what_can_be_stored_is_refused(buffer: Decimal) -> None:
    with pytest.raises(InvalidInput):
        webhook(buffer_stock=buffer)


@pytest.mark.parametrize(
    ("named", "location", "counted"),
    [
        ((), A, True),
        ((), None, True),
        ((A,), A, True),
        ((A,), str(A), True),
        ((A,), B, False),
        ((A,), None, False),
    ],
)
def test_a_channel_counts_the_locations_it_names_or_all_when_it_names_none(
    named: tuple[uuid.UUID, ...], location: uuid.UUID | str | None, counted: bool
) -> None:
    assert webhook(location_ids=named).counts_location(location) is counted
