"""Polling a real IMAP bounce mailbox (Dovecot, started by the test): reports in, suppressions out."""

from __future__ import annotations

import imaplib
import shutil

import pytest

from leadcapture import scheduler
from leadcapture.models import utcnow
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.people import confirmed_person
from tests.support.reports import bounce_rows, last_sent, report, suppression_of
from tests.support.settings import reconfigure

from .services import unavailable

ANN, BOB = "ann@example.com", "bob@example.com"
pytestmark = pytest.mark.usefixtures("demo_form")


@pytest.fixture
def dovecot():
    binary = shutil.which("dovecot") or (shutil.which("dovecot", path="/usr/sbin"))
    if binary is None:
        unavailable("dovecot is not installed (make dovecot, or apt-get install dovecot-imapd)")
    server = Dovecot(binary)
    yield server
    server.stop()


def imap(server: Dovecot) -> imaplib.IMAP4:
    conn = imaplib.IMAP4("127.0.0.1", server.port)
    conn.login(USER, PASSWORD)
    conn.select("INBOX")
    return conn


def deliver(server: Dovecot, *messages: bytes) -> None:
    """What the bounce domain's MTA does: put each report in the mailbox, unseen."""
    conn = imap(server)
    for data in messages:
        conn.append("INBOX", None, None, data.replace(b"\n", b"\r\n"))
    conn.logout()


def mailbox_state(server: Dovecot) -> tuple[int, int]:
    """(messages left, of which unseen)."""
    conn = imap(server)
    left = len(conn.uid("SEARCH", None, "ALL")[1][0].split())
    unseen = len(conn.uid("SEARCH", None, "UNSEEN")[1][0].split())
    conn.logout()
    return left, unseen


def test_polling_records_every_report_and_leaves_the_rest_for_a_person(
    dovecot, app, client, worker, mailbox, services, runner
):
    # Given two people with mail from us, and a mailbox holding a DSN, an ARF report and an auto-reply
    confirmed_person(client, worker, mailbox, ANN)
    confirmed_person(client, worker, mailbox, BOB)
    ann, bob = last_sent(services, mailbox, ANN), last_sent(services, mailbox, BOB)
    deliver(dovecot, report("postfix_dsn", ann), report("yahoo_arf", bob), report("out_of_office", ann))
    reconfigure(app, bounce_imap_url=dovecot.url)

    # When the mailbox is polled
    result = runner.invoke(["bounces", "poll"])

    # Then both reports are recorded and deleted; the auto-reply stays, marked seen
    assert result.exit_code == 0, result.output
    assert "bounce mailbox read: 1 not a bounce, 2 suppressed" in result.output
    assert (suppression_of(services, ANN), suppression_of(services, BOB)) == ("bounced", "complaint")
    assert sorted(row.source for row in bounce_rows(services)) == ["imap", "imap"]
    assert mailbox_state(dovecot) == (1, 0)

    # and a second poll finds nothing new
    assert "nothing new" in runner.invoke(["bounces", "poll"]).output


def test_the_scheduler_polls_the_mailbox_on_its_runs(dovecot, app, client, worker, mailbox, services):
    confirmed_person(client, worker, mailbox, ANN)
    deliver(dovecot, report("postfix_dsn", last_sent(services, mailbox, ANN)))
    reconfigure(app, bounce_imap_url=dovecot.url)

    report_of_run = scheduler.run_jobs(services, utcnow())

    assert report_of_run["bounces"] == {"suppressed": 1}
    assert suppression_of(services, ANN) == "bounced"


def test_a_wrong_password_is_one_clear_line_and_exit_1(dovecot, runner):
    url = dovecot.url.replace(PASSWORD, "wrong")

    result = runner.invoke(["bounces", "poll", "--url", url])

    assert result.exit_code == 1
    assert "cannot log in to 127.0.0.1" in result.output
    assert "Traceback" not in result.output
