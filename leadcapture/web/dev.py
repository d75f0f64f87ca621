"""Development pages: an index at `/`, the local mailbox (Maildir outbox) and an example page embedding a form."""

from __future__ import annotations

from flask import Blueprint, abort, make_response, render_template
from sqlalchemy import func, select

from leadcapture.consent.versions import current_version
from leadcapture.delivery.transports import MaildirTransport
from leadcapture.models import AdminUser, Form
from leadcapture.settings import Settings
from leadcapture.web.context import get_services, get_session
from leadcapture.web.public.form import embed_snippet

bp = Blueprint("dev", __name__)


def enabled(settings: Settings) -> bool:
    """Only outside production."""
    return not settings.production


def _outbox() -> MaildirTransport:
    transport = get_services().transport
    if not isinstance(transport, MaildirTransport):
        abort(404)  # mail goes to an SMTP relay: there is no local mailbox to show
    return transport


@bp.get("/")
def index():
    """Where to go on a development server: the forms, the admin, the mailbox, the first account."""
    session = get_session()
    forms = session.scalars(select(Form.slug).where(Form.archived_at.is_(None)).order_by(Form.slug)).all()
    has_users = bool(session.scalar(select(func.count()).select_from(AdminUser)))
    mailbox = isinstance(get_services().transport, MaildirTransport)
    return render_template("dev/index.html", forms=forms, has_users=has_users, mailbox=mailbox, title="leadcapture")


@bp.get("/dev/embed/<slug>")
def embed_example(slug: str):
    """A plain page with the embed snippet, as a customer's website would have it."""
    if current_version(get_session(), slug) is None:
        abort(404)
    return render_template("dev/embed.html", snippet=embed_snippet(slug), title=f"Embed example: {slug}")


@bp.get("/dev/mail/")
def mailbox():
    """Every message in the outbox, newest first."""
    return render_template("dev/mailbox.html", messages=_outbox().messages(), title="Outbox")


@bp.get("/dev/mail/<key>")
def message(key: str):
    """One message: its headers, text part and HTML part."""
    for msg_key, msg in _outbox().messages():
        if msg_key == key:
            text = msg.get_body(("plain",))
            html = msg.get_body(("html",))
            page = render_template(
                "dev/message.html",
                key=key,
                msg=msg,
                headers=[(k, str(v)) for k, v in msg.items()],
                text=text.get_content() if text else "",
                html=html.get_content() if html else "",
                title=str(msg["Subject"]),
            )
            response = make_response(page)
            # The HTML part is shown in a sandboxed srcdoc frame, which inherits this policy:
            # allow the inline styles that email HTML is made of, still no scripts.
            response.headers["Content-Security-Policy"] = (
                "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                "script-src 'none'; frame-ancestors 'none'"
            )
            return response
    abort(404)
