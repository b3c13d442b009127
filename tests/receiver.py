"""A real HTTP webhook receiver on 127.0.0.1 for tests: verifies Standard Webhooks
signatures, records what it accepted, and answers as scripted (status codes, delays)."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class _Server(ThreadingHTTPServer):
    # The stdlib default backlog (5) resets connections under a burst of concurrent
    # deliveries; a real receiver sits behind a server with a deep accept queue.
    request_queue_size = 256
    daemon_threads = True


class Receiver:
    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.script: deque[tuple[int, float]] = deque()  # (status, delay seconds) for the next requests
        self.accepted: list[dict[str, Any]] = []
        self.refused_signatures = 0
        self.aborted = 0
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                receiver.requests += 1
                expected = int(self.headers.get("content-length", 0))
                body = self.rfile.read(expected)
                if len(body) < expected:  # the sender died mid-request (a killed worker)
                    receiver.aborted += 1
                    return
                status, delay = receiver.script.popleft() if receiver.script else (200, 0.0)
                if delay:
                    time.sleep(delay)
                headers = {k.lower(): v for k, v in self.headers.items()}
                if not any(self._verified(s, body, headers) for s in receiver.secrets):
                    receiver.refused_signatures += 1
                    status = 401
                elif 200 <= status < 300:
                    receiver.accepted.append({"id": headers["webhook-id"], "event": json.loads(body)})
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            @staticmethod
            def _verified(secret: str, body: bytes, headers: dict[str, str]) -> bool:
                try:
                    Webhook(secret).verify(body, headers)
                    return True
                except WebhookVerificationError:
                    return False

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def latest(self) -> dict[tuple[str, str], dict[str, Any]]:
        """What the receiver ends up believing: per (type, subject, location) the state
        with the highest version, the way the README tells receivers to apply events."""
        state: dict[tuple[str, str], dict[str, Any]] = {}
        for item in self.accepted:
            event = item["event"]
            data = event["data"]
            level = data.get("level") if isinstance(data, dict) else None
            where = level["location_id"] if level else data.get("price_list_id", "")
            key = (event["type"], f"{event['subject']}@{where}")
            if key not in state or event["productversion"] >= state[key]["productversion"]:
                state[key] = event
        return state

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
