"""Bounces and complaints by mail: real reports through the SMTP listener change what we send.

Each report is a hand-written copy of what the mail system writes (tests/support/reports/),
sent with smtplib, from the null sender as a DSN comes, to the VERP address of our message.
"""

from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest

from leadcapture.delivery import campaigns
from leadcapture.integrations import bounces, inbound, reports
from leadcapture.models import utcnow
from tests.support.admin import signed_in
from tests.support.app import submit
from tests.support.mail import free_port
from tests.support.people import confirmed_person
from tests.support.reports import (
    bounce_rows,
    events_of,
    feedback_of,
    last_sent,
    report,
    suppression_of,
)

JAN = "jan@example.com"
pytestmark = pytest.mark.usefixtures("demo_form")


@pytest.fixture
def listener(services):
    """`leadcapture bounces serve` on a free port: (controller, port)."""
    port = free_port()
    controller = inbound.listener(services, "127.0.0.1", port)
    controller.start()
    yield controller, port
    controller.stop()


@pytest.fixture
def jan(client, worker, mailbox, services):
    """Jan confirmed newsletter and call; the newest message to him is his whitepaper or welcome."""
    confirmed_person(client, worker, mailbox, JAN, purposes=("newsletter", "call"))
    return last_sent(services, mailbox, JAN)


def deliver(port: int, rcpt: str, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail("", [rcpt], data.replace(b"\n", b"\r\n"))  # CRLF on the wire, as an MTA sends it


def test_a_hard_bounce_suppresses_the_address_and_is_a_ledger_event(listener, jan, services, client, worker, mailbox):
    # Given a message to Jan, and a Postfix DSN saying his mailbox does not exist
    _, port = listener
    mails_before = len(mailbox.to(JAN))

    # When the DSN comes back to the message's VERP address
    deliver(port, jan.return_path, report("postfix_dsn", jan))

    # Then the address is suppressed, the message marked, and the ledger says why
    assert suppression_of(services, JAN) == "bounced"
    assert feedback_of(services, jan.row_id) == "bounced"
    assert events_of(services, JAN)[-1] == ("suppressed", "system", None)
    (row,) = bounce_rows(services)
    assert (row.kind, row.status, row.source, row.message_row_id) == ("hard", "5.1.1", "smtp", jan.row_id)
    # and nothing more goes to him, whatever comes in
    submit(client, JAN, ["newsletter"])
    worker.drain()
    assert len(mailbox.to(JAN)) == mails_before


def test_the_person_page_shows_the_bounce_and_why_the_address_is_suppressed(listener, jan, app, services):
    deliver(listener[1], jan.return_path, report("postfix_dsn", jan))

    admin = signed_in(app, services, "privacy")
    page = admin.get(f"/admin/people/{bounce_rows(services)[0].person_id}").get_data(as_text=True)

    assert "Suppressed (the address bounced" in page
    assert "hard bounce" in page and "5.1.1" in page and "User unknown in virtual mailbox table" in page
    assert "<td>suppressed</td><td>system</td>" in page


def test_soft_bounces_suppress_only_when_enough_come_within_the_period(listener, jan, services):
    # Given the default policy: 3 soft bounces within 30 days
    _, port = listener

    def soft(n: int) -> None:
        data = report("postfix_dsn", jan, status="4.2.2", code="452")
        deliver(port, jan.return_path, data.replace(b"4F1A2B3C4D@mail", f"{n}-4F1A2B3C4D@mail".encode()))

    # When two come in
    soft(1)
    soft(2)
    # Then they are counted, and the message marked, but the address still gets mail
    assert suppression_of(services, JAN) is None
    assert feedback_of(services, jan.row_id) == "soft_bounced"
    assert [r.kind for r in bounce_rows(services)] == ["soft", "soft"]

    # When the third comes in
    soft(3)
    # Then the address is suppressed, and the ledger event says after how many
    assert suppression_of(services, JAN) == "bounced"
    assert events_of(services, JAN)[-1] == ("suppressed", "system", None)


def test_soft_bounces_older_than_the_period_do_not_count(jan, services):
    # Given two soft bounces 40 days ago
    with_status = report("postfix_dsn", jan, status="4.4.1", code="451")
    old = utcnow() - timedelta(days=40)
    for n in (1, 2):
        found = reports.parse(with_status.replace(b"4F1A2B3C4D@mail", f"old{n}@mail".encode()), "smtp")
        bounces.process(services, found, now=old)

    # When one more comes today
    bounces.process(services, reports.parse(with_status, "smtp"))

    # Then the address is not suppressed
    assert suppression_of(services, JAN) is None


def test_a_complaint_withdraws_every_purpose_and_suppresses(listener, jan, services):
    # When Yahoo forwards Jan's "this is spam" as an ARF report
    deliver(listener[1], jan.return_path, report("yahoo_arf", jan))

    # Then both purposes are withdrawn by the system, with the reason, and the address suppressed
    events = events_of(services, JAN)
    assert ("withdrawn", "system", "newsletter") in events and ("withdrawn", "system", "call") in events
    assert events[-1] == ("suppressed", "system", None)
    assert suppression_of(services, JAN) == "complaint"
    assert feedback_of(services, jan.row_id) == "complained"
    assert bounce_rows(services)[0].kind == "complaint"


def test_a_microsoft_report_without_the_recipient_finds_the_message_by_its_message_id(jan, services):
    # Given a JMRP report that redacts the recipient and was read from a shared abuse mailbox
    data = report("microsoft_arf", jan, return_path="abuse@voorbeeld.nl")

    # When it is recorded
    outcomes = bounces.process(services, reports.parse(data, "imap"))

    # Then our Message-ID in the returned original names the message and the person
    assert outcomes == {"suppressed": 1}
    assert suppression_of(services, JAN) == "complaint"


def test_a_non_standard_bounce_is_read_with_flufl_bounce(listener, jan, services):
    deliver(listener[1], jan.return_path, report("exim_bounce", jan))

    assert suppression_of(services, JAN) == "bounced"
    assert bounce_rows(services)[0].status is None  # a legacy bounce has no status code


def test_an_auto_reply_to_the_bounce_address_changes_nothing(listener, jan, services):
    deliver(listener[1], jan.return_path, report("out_of_office", jan))

    assert suppression_of(services, JAN) is None
    assert bounce_rows(services) == []
    assert listener[0].handler.outcomes == {"not a bounce": 1}


def test_the_same_report_twice_counts_once(listener, jan, services):
    data = report("postfix_dsn", jan, status="4.2.2", code="452")
    deliver(listener[1], jan.return_path, data)
    deliver(listener[1], jan.return_path, data)

    assert len(bounce_rows(services)) == 1
    assert listener[0].handler.outcomes == {"counted": 1, "duplicate": 1}


def test_a_made_up_dsn_naming_an_address_suppresses_nobody(jan, services):
    # Given a DSN that names Jan but carries neither our VERP token nor one of our Message-IDs
    data = report("postfix_dsn", jan, return_path="bounces@voorbeeld.nl", message_id="<made-up@example.net>")

    # When it arrives in the bounce mailbox
    outcomes = bounces.process(services, reports.parse(data, "imap"))

    # Then nobody is suppressed: anyone can write a DSN naming any address
    assert outcomes == {"unknown": 1}
    assert suppression_of(services, JAN) is None


def test_the_listener_answers_451_while_the_database_is_down_and_loses_nothing(listener, jan, services, tmp_path):
    from leadcapture.db import Database

    # Given the database is unreachable
    working, services.db = services.db, Database(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    try:
        # When a DSN comes in, the sending server is told to try again later
        with pytest.raises(smtplib.SMTPDataError) as later:
            deliver(listener[1], jan.return_path, report("postfix_dsn", jan))
    finally:
        services.db.dispose()
        services.db = working
    assert later.value.smtp_code == 451

    # Then its retry, once the database is back, is recorded
    deliver(listener[1], jan.return_path, report("postfix_dsn", jan))
    assert suppression_of(services, JAN) == "bounced"


def test_the_listener_accepts_only_our_signed_addresses(listener, jan):
    _, port = listener
    forged = jan.return_path.replace("bounces+", "bounces+9")
    for rcpt in (forged, "postmaster@voorbeeld.nl", jan.return_path.replace("voorbeeld.nl", "example.com")):
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp, pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("", [rcpt], b"Subject: x\r\n\r\nx\r\n")


def test_the_listener_refuses_a_report_over_the_size_limit(app, jan):
    from tests.support.settings import reconfigure

    services = app.extensions["leadcapture"]
    reconfigure(app, bounce_max_size=2000)
    port = free_port()
    controller = inbound.listener(services, "127.0.0.1", port)
    controller.start()
    try:
        with pytest.raises(smtplib.SMTPException) as refused:
            deliver(port, jan.return_path, report("postfix_dsn", jan) + b"x" * 3000)
    finally:
        controller.stop()
    assert "552" in str(refused.value) or getattr(refused.value, "smtp_code", None) == 552
    assert bounce_rows(services) == []


def test_campaign_figures_count_bounced_and_complained_messages(app, services):
    # Given a campaign's messages, one bounced and one complained about
    from leadcapture.models import Brand, Campaign, ContentItem, Message

    with services.db.session() as session:
        item = ContentItem(purpose_key="newsletter")
        session.add(item)
        session.flush()
        brand = Brand(slug="b", name="B", controller="B")
        session.add(brand)
        session.flush()
        campaign = Campaign(item_id=item.id, purpose_key="newsletter", brand_id=brand.id)
        session.add(campaign)
        session.flush()
        for n, feedback in enumerate(["bounced", "complained", None, "soft_bounced"]):
            key = f"campaign:{campaign.id}:{n + 1}"
            session.add(Message(dedupe_key=key, kind="campaign", status="sent", feedback=feedback))
        cid = campaign.id

    # When its progress is read
    with services.db.session() as session:
        progress = campaigns.progress(session, cid)

    # Then the figures show them, on the command line and in the admin
    assert (progress.bounced, progress.complained) == (2, 1)
    page = signed_in(app, services, "marketer").get(f"/admin/campaigns/{cid}").get_data(as_text=True)
    assert '<th scope="col">Bounced</th><th scope="col">Spam complaints</th>' in page
    assert "<td>2</td><td>1</td></tr>" in page
