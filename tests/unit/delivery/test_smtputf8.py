"""Internationalised addresses through a real SMTP server (aiosmtpd) with and without SMTPUTF8."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest
from sqlalchemy import select

from leadcapture.delivery.transports import MaildirTransport, PermanentMailError, SMTPTransport
from leadcapture.models import Message
from tests.support.app import submit
from tests.support.mail import message
from tests.support.settings import reconfigure

IDN_DOMAIN = "joran@bücher.example"
IDN_LOCAL = "jöran@bücher.example"


def parsed(envelope):
    return BytesParser(policy=policy.SMTPUTF8).parsebytes(envelope.content)


def test_an_idn_domain_goes_as_a_labels_to_a_relay_without_smtputf8(smtp_server):
    # Given a relay that does not offer SMTPUTF8
    handler, url = smtp_server(enable_SMTPUTF8=False)
    transport = SMTPTransport(url)
    # When we send to an ASCII local part at an IDN domain
    transport.send(message(to=IDN_DOMAIN))
    transport.close()
    # Then it goes as plain ASCII: the domain in A-labels, in the envelope and the header
    (envelope,) = handler.messages
    assert envelope.rcpt_tos == ["joran@xn--bcher-kva.example"]
    assert "SMTPUTF8" not in envelope.mail_options
    assert envelope.content.isascii()
    assert parsed(envelope)["To"] == "joran@xn--bcher-kva.example"


def test_a_non_ascii_local_part_goes_with_smtputf8_when_the_relay_offers_it(smtp_server):
    handler, url = smtp_server(enable_SMTPUTF8=True)
    transport = SMTPTransport(url)
    transport.send(message(to=IDN_LOCAL))
    transport.close()
    (envelope,) = handler.messages
    assert "SMTPUTF8" in envelope.mail_options
    assert envelope.rcpt_tos == ["jöran@xn--bcher-kva.example"]
    # The To header is UTF-8 (RFC 6532), not RFC 2047 words, which an address may not hold.
    assert "To: jöran@xn--bcher-kva.example\r\n".encode() in envelope.content
    assert b"=?utf-8?" not in envelope.content.split(b"\r\n\r\n")[0].split(b"Subject")[0]
    assert parsed(envelope)["To"] == "jöran@xn--bcher-kva.example"


def test_a_relay_without_smtputf8_fails_that_message_clearly_and_sends_the_next(smtp_server):
    # Given a relay without SMTPUTF8 and one kept connection
    handler, url = smtp_server(enable_SMTPUTF8=False)
    transport = SMTPTransport(url)
    transport.send(message(to="first@example.com"))
    # When a message to a non-ASCII local part is sent, it fails permanently, saying why
    with pytest.raises(PermanentMailError, match="SMTPUTF8"):
        transport.send(message(to=IDN_LOCAL))
    # Then the next message on the same transport goes through (no "503 nested MAIL command")
    transport.send(message(to="next@example.com"))
    transport.close()
    assert [e.rcpt_tos for e in handler.messages] == [["first@example.com"], ["next@example.com"]]
    assert len(handler.sessions) == 1  # the connection was never left mid-transaction


def test_a_refused_idn_message_leaves_the_connection_clean_for_the_next(smtp_server):
    # Given a relay that offers SMTPUTF8 and refuses the first message's data
    handler, url = smtp_server(["554 5.6.0 no thanks"], enable_SMTPUTF8=True)
    transport = SMTPTransport(url)
    with pytest.raises(PermanentMailError):
        transport.send(message(to=IDN_LOCAL))
    # Then an ASCII message after it is sent
    transport.send(message(to="next@example.com"))
    transport.close()
    assert [e.rcpt_tos for e in handler.messages] == [["next@example.com"]]


@pytest.mark.usefixtures("demo_form")
def test_the_form_takes_an_idn_address_and_the_next_persons_confirmation_still_goes(
    app, client, worker, services, smtp_server
):
    # Given a relay without SMTPUTF8, and the worker's one kept connection
    handler, url = smtp_server(enable_SMTPUTF8=False)
    reconfigure(app, mail_url=url)
    services._transport = None
    # When someone submits a non-ASCII address and the next visitor an ordinary one
    assert submit(client, IDN_LOCAL).status_code == 200
    worker.drain()
    assert submit(client, "next@example.com").status_code == 200
    worker.drain()
    services.transport.close()
    # Then the first confirmation is failed for good, with the reason kept; the second is sent
    with services.db.session() as session:
        rows = session.execute(select(Message.status, Message.detail).order_by(Message.id)).all()
    assert rows[0].status == "failed" and "SMTPUTF8" in rows[0].detail
    assert rows[1].status == "sent"
    assert [e.rcpt_tos for e in handler.messages] == [["next@example.com"]]


@pytest.mark.usefixtures("demo_form")
def test_an_idn_confirmation_arrives_through_a_relay_with_smtputf8(app, client, worker, services, smtp_server):
    handler, url = smtp_server(enable_SMTPUTF8=True)
    reconfigure(app, mail_url=url)
    services._transport = None
    submit(client, IDN_LOCAL)
    worker.drain()
    services.transport.close()
    (envelope,) = handler.messages
    assert envelope.rcpt_tos == ["jöran@xn--bcher-kva.example"]
    assert parsed(envelope)["To"] == "jöran@xn--bcher-kva.example"


def test_erasure_finds_an_idn_address_in_the_local_outbox(tmp_path):
    outbox = MaildirTransport(tmp_path / "outbox")
    outbox.send(message(to=IDN_LOCAL))
    outbox.send(message(to="jan@example.com"))
    assert outbox.forget(IDN_LOCAL) == 1
    assert [str(m["To"]) for _key, m in outbox.messages()] == ["jan@example.com"]
