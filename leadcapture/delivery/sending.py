"""Building and sending each kind of message, exactly once, behind its send-time gate."""

from __future__ import annotations

import logging
from collections.abc import Callable
from email.message import EmailMessage

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leadcapture.consent import gates
from leadcapture.delivery import links
from leadcapture.delivery.mail import PermanentMailError, TransientMailError, compose, render
from leadcapture.i18n import translate
from leadcapture.models import PENDING, PURPOSE, LeadRequest, Message, Submission, utcnow
from leadcapture.services import Services

log = logging.getLogger(__name__)

SENT, SKIPPED, FAILED, SENDING = "sent", "skipped", "failed", "sending"

Prepared = tuple[EmailMessage, int | None, str | None]  # message, person id, purpose key


def deliver(services: Services, dedupe_key: str, kind: str, prepare: Callable[[Session], Prepared | None]) -> str:
    """Send one message at most once per dedupe_key; prepare returns None when the gate is shut.

    The gate is checked in the same transaction that records 'sending', right before the
    transport. The one window for a duplicate: the relay accepted the message and this process
    died before marking it sent; a redelivered job then sends it again.
    """
    try:
        with services.db.session() as session:
            existing = session.scalar(select(Message).where(Message.dedupe_key == dedupe_key))
            if existing is not None and existing.status != SENDING:
                return existing.status
            prepared = prepare(session)
            msg, person_id, purpose_key = prepared if prepared is not None else (None, None, None)
            if existing is None:
                existing = Message(dedupe_key=dedupe_key, kind=kind)
                session.add(existing)
            existing.status = SENDING if msg is not None else SKIPPED
            existing.person_id, existing.purpose_key = person_id, purpose_key
            existing.message_id = msg["Message-ID"] if msg is not None else None
            session.flush()
            message_row_id = existing.id
    except IntegrityError:  # a duplicate job is handling the same message right now
        return "duplicate"
    if msg is None:
        return SKIPPED
    try:
        services.transport.send(msg)
    except PermanentMailError as exc:
        _finish(services, message_row_id, FAILED, str(exc))
        log.warning("message %s failed permanently: %s", dedupe_key, exc)
        return FAILED
    except TransientMailError as exc:
        if _retries_left() == 0:  # the broker will not try again: say so on the row
            _finish(services, message_row_id, FAILED, f"gave up after retries: {exc}")
            log.error("message %s failed, no retries left: %s", dedupe_key, exc)
            return FAILED
        _finish(services, message_row_id, SENDING, f"will retry: {exc}")
        log.warning("message %s not sent yet, will retry: %s", dedupe_key, exc)
        raise
    _finish(services, message_row_id, SENT, None)
    return SENT


def _retries_left() -> int | None:
    try:
        from workers.broker import retries_left
    except ImportError:  # pragma: no cover  (the workers package ships with leadcapture)
        return None
    return retries_left()


def _finish(services: Services, row_id: int, status: str, detail: str | None) -> None:
    sent_at = utcnow() if status != SENDING else None
    with services.db.session() as session:
        session.execute(
            update(Message).where(Message.id == row_id).values(status=status, detail=detail, sent_at=sent_at)
        )


def send_confirmation(services: Services, submission_id: int) -> str:
    """The double opt-in email: one signed token per request, and a 'confirm all'."""

    def prepare(session: Session) -> Prepared | None:
        submission = session.get(Submission, submission_id)
        if not gates.may_send_confirmation(session, submission):
            return None
        version = submission.form_version
        definition = version.definition
        lang = submission.language
        items = []
        for request in submission.requests:
            if request.state != PENDING:
                continue
            if request.kind == PURPOSE:
                purpose = version.purpose(request.purpose_key) or {}
                label = purpose.get("label", request.purpose_key)
            else:
                label = translate("the_whitepaper", lang, title=definition["title"])
            items.append({"label": label, "confirm_url": links.confirm_request(services, request)})
        context = {
            "form": definition,
            "items": items,
            "confirm_all_url": links.confirm_submission(services, submission),
            "not_me_url": links.not_me(services, submission),
            "preferences_url": links.preferences(services, submission.person_id),
            "max_age_days": services.settings.confirm_max_age // 86400,
        }
        msg = compose(
            render("confirmation", lang, context),
            sender=services.settings.mail_from,
            to=services.vault.decrypt(submission.person.email_enc),
            unsubscribe_url=context["not_me_url"],
            unsubscribe_mailto=services.settings.list_unsubscribe_mailto,
            auto_submitted=True,
        )
        return msg, submission.person_id, None

    return deliver(services, f"confirmation:{submission_id}", "confirmation", prepare)


def deliver_asset(services: Services, request_id: int) -> str:
    """The whitepaper email with a signed, expiring download link."""

    def prepare(session: Session) -> Prepared | None:
        request = session.get(LeadRequest, request_id)
        if not gates.may_deliver_asset(session, request):
            return None
        submission = request.submission
        definition = submission.form_version.definition
        context = {
            "form": definition,
            "download_url": links.download(services, request),
            "download_days": services.settings.download_max_age // 86400,
            # The whitepaper mail is not sent under a marketing purpose: its one-click
            # unsubscribe withdraws every purpose of this person.
            "unsubscribe_url": links.unsubscribe(services, submission.person_id, None),
            "preferences_url": links.preferences(services, submission.person_id),
        }
        msg = compose(
            render("asset", submission.language, context),
            sender=services.settings.mail_from,
            to=services.vault.decrypt(submission.person.email_enc),
            unsubscribe_url=context["unsubscribe_url"],
            unsubscribe_mailto=services.settings.list_unsubscribe_mailto,
        )
        return msg, submission.person_id, None

    return deliver(services, f"asset:{request_id}", "asset", prepare)
