"""Development mailbox: lists and shows the messages in the local Maildir outbox."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template

from ..config import is_production
from ..core import get_core
from ..mail import MaildirTransport

bp = Blueprint("devmail", __name__, url_prefix="/dev/mail")


def enabled(config: Any) -> bool:
    """Only outside production, and only when mail goes to the local outbox."""
    return not is_production(config) and not config["MAIL_URL"]


def _outbox() -> MaildirTransport:
    transport = get_core().transport
    assert isinstance(transport, MaildirTransport)
    return transport


@bp.get("/")
def index():
    """Every message in the outbox, newest first."""
    return render_template("devmail/index.html", messages=_outbox().messages(), title="Outbox")


@bp.get("/<key>")
def show(key: str):
    """One message: its headers, text part and HTML part."""
    for msg_key, msg in _outbox().messages():
        if msg_key == key:
            text = msg.get_body(("plain",))
            html = msg.get_body(("html",))
            return render_template(
                "devmail/show.html",
                key=key,
                msg=msg,
                headers=[(k, str(v)) for k, v in msg.items()],
                text=text.get_content() if text else "",
                html=html.get_content() if html else "",
                title=str(msg["Subject"]),
            )
    abort(404)
