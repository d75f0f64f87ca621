"""The SMTP dialogue the transport speaks itself, through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest
from aiosmtpd.controller import Controller

from leadcapture.delivery.templates import Rendered, compose
from leadcapture.delivery.transports import PermanentMailError, SMTPTransport, TransientMailError
from tests.support.mail import Recorder, free_port, message


class Refusing(Recorder):
    """Refuses MAIL FROM for one sender and RCPT TO for one recipient, with the given replies."""

    def __init__(self, sender_reply="550 sender refused", rcpt_reply="550 no such user"):
        super().__init__()
        self.sender_reply, self.rcpt_reply = sender_reply, rcpt_reply

    async def handle_MAIL(self, server, session, envelope, address, options):
        if address.startswith("refused"):
            return self.sender_reply
        envelope.mail_from, envelope.mail_options = address, list(options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address.startswith("nobody"):
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_lines_that_start_with_a_dot_arrive_as_written(smtp_server):
    handler, url = smtp_server()
    text = ".one dot\n..two dots\nmiddle . dot\n.\nend"
    transport = SMTPTransport(url)
    transport.send(
        compose(
            Rendered("Dots", text, "<p>.html</p>"),
            sender="a@voorbeeld.nl",
            to="jan@example.com",
            unsubscribe_url="https://lc.test/u/T",
        )
    )
    transport.close()
    (envelope,) = handler.messages
    received = BytesParser(policy=policy.default).parsebytes(envelope.content)
    assert received.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip("\n") == text
    assert received.get_body(("html",)).get_content().strip() == "<p>.html</p>"


def test_the_envelope_holds_bare_addresses_and_the_size(smtp_server):
    handler, url = smtp_server()
    msg = message(to="Jan Jansen <jan@example.com>")
    transport = SMTPTransport(url)
    transport.send(msg)
    transport.close()
    (envelope,) = handler.messages
    assert envelope.mail_from == "hallo@voorbeeld.nl"
    assert envelope.rcpt_tos == ["jan@example.com"]
    assert f"SIZE={len(envelope.content)}" in envelope.mail_options


@pytest.fixture
def refusing_relay():
    """A real SMTP server (aiosmtpd) that refuses the sender refused@… and the recipient nobody@…"""
    recorder = Refusing()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder, f"smtp://127.0.0.1:{port}"
    controller.stop()


@pytest.mark.parametrize(
    ("to", "sender"), [("nobody@example.com", "a@voorbeeld.nl"), ("jan@example.com", "refused@x.nl")]
)
def test_a_refused_sender_or_recipient_fails_that_message_and_the_next_one_goes(refusing_relay, to, sender):
    recorder, url = refusing_relay
    transport = SMTPTransport(url)
    with pytest.raises(PermanentMailError, match="SMTP 550"):
        transport.send(message(to=to, sender=sender))
    transport.send(message(to="next@example.com"))
    transport.close()
    assert [e.rcpt_tos for e in recorder.messages] == [["next@example.com"]]


def test_a_421_reply_is_transient_and_the_next_message_gets_a_new_connection(smtp_server):
    handler, url = smtp_server(["421 closing, try later"])
    transport = SMTPTransport(url)
    with pytest.raises(TransientMailError, match="421"):
        transport.send(message(to="first@example.com"))
    transport.send(message(to="second@example.com"))
    transport.close()
    assert [e.rcpt_tos for e in handler.messages] == [["second@example.com"]]


def test_an_envelope_address_with_angle_brackets_or_line_breaks_is_refused_before_any_command(smtp_server):
    handler, url = smtp_server()
    transport = SMTPTransport(url)
    for bad in ("a@b.nl> RCPT TO:<x@evil.example", "a@b.nl\r\nRCPT TO:<x@evil.example>"):
        msg = message(to="jan@example.com")
        msg.envelope_sender = bad
        with pytest.raises(PermanentMailError, match="not an address"):
            transport.send(msg)
    transport.send(message(to="jan@example.com"))
    transport.close()
    assert [e.rcpt_tos for e in handler.messages] == [["jan@example.com"]]
