"""Development pages: the local mailbox (Maildir outbox) and an example page embedding a form."""

from __future__ import annotations

from flask import Blueprint, abort, make_response, render_template

from leadcapture.delivery.transports import MaildirTransport
from leadcapture.settings import Settings
from leadcapture.web.context import get_services
from leadcapture.web.public.form import embed_snippet

bp = Blueprint("dev", __name__, url_prefix="/dev")


def enabled(settings: Settings) -> bool:
    """Only outside production."""
    return not settings.production


def _outbox() -> MaildirTransport:
    transport = get_services().transport
    if not isinstance(transport, MaildirTransport):
        abort(404)  # mail goes to an SMTP relay: there is no local mailbox to show
    return transport


@bp.get("/embed/<slug>")
def embed_example(slug: str):
    """A plain page with the embed snippet, as a customer's website would have it."""
    return render_template("dev/embed.html", snippet=embed_snippet(slug), title=f"Embed example: {slug}")


@bp.get("/mail/")
def mailbox():
    """Every message in the outbox, newest first."""
    return render_template("dev/mailbox.html", messages=_outbox().messages(), title="Outbox")


@bp.get("/mail/<key>")
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
