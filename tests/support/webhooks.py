"""A real HTTP receiver for webhooks: verifies every request with standardwebhooks and records it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Receiver:
    """An HTTP server on 127.0.0.1 in a thread; answers with the queued status codes, then 204."""

    def __init__(self, secret: str | None = None):
        self.secret = secret
        self.received: list[dict] = []  # verified payloads, with their headers under "_headers"
        self.rejected: list[str] = []  # why a request failed verification
        self.statuses: list[int] = []
        self.redirect_to: str | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802  (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.handle(dict(self.headers), body)
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                if receiver.redirect_to:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/leadcapture"

    def handle(self, headers: dict[str, str], body: bytes) -> None:
        if self.secret is None:
            self.rejected.append("no secret set")
            return
        try:
            event = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as exc:
            self.rejected.append(str(exc))
            return
        self.received.append({**event, "_headers": {k.lower(): v for k, v in headers.items()}})

    def types(self) -> list[str]:
        return [e["type"] for e in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __repr__(self) -> str:
        return f"Receiver({json.dumps(self.received)[:300]}, rejected={self.rejected})"
