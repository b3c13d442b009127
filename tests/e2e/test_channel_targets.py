"""Channel URLs naming addresses the hub may not connect to are refused over HTTP with a
problem+json 422 of a stable type, before anything is stored, resolved or sent. (The
e2e servers allow loopback, as an operator may; link-local and private stay refused.)"""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import Demo, Server

PROBLEM = "/problems/target-not-allowed"


def _webhook(demo: Demo, url: str) -> dict[str, object]:
    return {
        "name": f"Shop {uuid.uuid4().hex[:6]}",
        "kind": "webhook",
        "url": url,
        "location_ids": [demo.locations["WH-BERLIN"]],
    }


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://10.0.0.8:8080/hooks",
        "http://[::ffff:192.168.0.1]/",
        "http://100.100.100.200/latest/meta-data/",
        "http://0.0.0.0:8000/v1/keys",
        # Spellings the HTTP clients turn into those literals (IDNA after NFKC):
        "http://\uff11\uff16\uff19\uff0e\uff12\uff15\uff14\uff0e\uff11\uff16\uff19\uff0e\uff12\uff15\uff14/",
        "http://\u2460\u24ea.0.0.8/",  # circled digits: 10.0.0.8
        "http://169\u3002254\u3002169\u3002254/latest/meta-data/",  # ideographic full stops
        "http://169.254.169.254./",  # trailing dot
        "http://[::FFFF:A9FE:A9FE]/",  # mixed case, mapped 169.254.169.254
        "http://b\u00fc..example/",  # a host IDNA cannot encode
    ],
)
def test_a_channel_cannot_point_at_internal_addresses(server: Server, demo: Demo, url: str) -> None:
    with server.client("nailco") as c:
        before = len(c.get("/v1/channels").json())
        r = c.post("/v1/channels", json=_webhook(demo, url))
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["type"] == PROBLEM and problem["code"] == "target-not-allowed"
        assert problem["field"] == "url" and problem["reason"]
        assert len(c.get("/v1/channels").json()) == before


def test_a_channel_url_cannot_be_changed_to_an_internal_address(server: Server, demo: Demo) -> None:
    with server.client("nailco") as c:
        # A loopback literal (allowed on these servers): no name lookup leaves the host.
        made = c.post("/v1/channels", json=_webhook(demo, "http://127.0.0.1:9/in"))
        assert made.status_code == 201, made.text
        channel = made.json()
        assert c.patch(f"/v1/channels/{channel['id']}", json={"status": "paused"}).status_code == 200
        for url in ("http://169.254.169.254/", "http://[::ffff:10.1.1.1]/", "http://192.168.1.1/"):
            r = c.patch(f"/v1/channels/{channel['id']}", json={"url": url})
            assert r.status_code == 422 and r.json()["type"] == PROBLEM, r.text
        assert c.get(f"/v1/channels/{channel['id']}").json()["url"] == "http://127.0.0.1:9/in"
