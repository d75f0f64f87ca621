"""Messages and a real SMTP server (aiosmtpd) for the mail tests."""

from __future__ import annotations

import socket

from leadcapture.delivery.templates import Rendered, compose


class Recorder:
    def __init__(self, replies=None):
        self.sessions, self.messages = set(), []
        self.replies = list(replies or [])

    async def handle_DATA(self, server, session, envelope):
        self.sessions.add(id(session))
        if self.replies:
            return self.replies.pop(0)
        self.messages.append(envelope)
        return "250 OK"


def message(**kw):
    args = dict(
        sender="Voorbeeld B.V. <hallo@voorbeeld.nl>", to="jan@example.com", unsubscribe_url="https://lc.test/u/TOKEN"
    )
    args.update(kw)
    return compose(Rendered("Onderwerp", "tekst", "<p>html</p>"), **args)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
