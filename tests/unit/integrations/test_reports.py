"""Reading reports: which DSN blocks and ARF reports are bounces or complaints, and what they name."""

from __future__ import annotations

from leadcapture.integrations import reports
from tests.support.reports import Sent, report

SENT = Sent(7, "bounces+7-abcdefghijklmnop@voorbeeld.nl", "<m7@voorbeeld.nl>", "jan@example.com")


def test_a_failed_dsn_block_is_a_hard_bounce_naming_the_return_path_and_the_original():
    (found,) = reports.parse(report("postfix_dsn", SENT), "imap")

    assert (found.kind, found.status, found.recipient) == ("hard", "5.1.1", "jan@example.com")
    assert SENT.return_path in found.return_paths
    assert found.message_id == SENT.message_id
    assert found.detail.startswith("smtp; 550 5.1.1 <jan@example.com>: Recipient address rejected:")


def test_a_delay_warning_is_not_a_bounce():
    data = report("postfix_dsn", SENT, status="4.4.1", code="451").replace(b"Action: failed", b"Action: delayed")

    assert reports.parse(data, "imap") == []


def test_a_failure_with_a_4xx_status_is_a_soft_bounce():
    (found,) = reports.parse(report("postfix_dsn", SENT, status="4.2.2", code="452"), "smtp")

    assert (found.kind, found.status) == ("soft", "4.2.2")


def test_an_arf_report_carries_the_original_mail_from_and_recipient():
    (found,) = reports.parse(report("yahoo_arf", SENT), "imap")

    assert found.kind == "complaint"
    assert found.recipient == "jan@example.com"
    assert SENT.return_path in found.return_paths
    assert found.detail == "abuse report from Yahoo!-Mail-Feedback/2.0"


def test_a_not_spam_report_is_not_a_complaint():
    data = report("yahoo_arf", SENT).replace(b"Feedback-Type: abuse", b"Feedback-Type: not-spam")

    assert reports.parse(data, "imap") == []


def test_the_same_report_always_gets_the_same_key_and_another_report_another():
    first = reports.parse(report("postfix_dsn", SENT), "smtp")[0].dedupe_key
    again = reports.parse(report("postfix_dsn", SENT), "smtp")[0].dedupe_key
    other = reports.parse(report("postfix_dsn", SENT).replace(b"4F1A2B3C4D@mail", b"other@mail"), "smtp")[0]

    assert first == again != other.dedupe_key


def test_garbage_is_no_report():
    assert reports.parse(b"\x00\xff not a message at all", "smtp") == []
    assert reports.parse(b"Content-Type: multipart/report; report-type=delivery-status\n\n", "smtp") == []
