"""The editor's previews besides the form: the mails and pages a definition's wording shapes.

The mails come from the same functions the worker sends with (delivery.confirmation and
delivery.asset), with example links; the pages are the public templates with example data.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from flask import g, make_response, render_template

from leadcapture.consent import brands
from leadcapture.consent.tokens import DOWNLOAD, PREFERENCES
from leadcapture.consent.wording import WORDING_KEYS
from leadcapture.delivery import asset, confirmation, links
from leadcapture.delivery.wire import OutgoingMessage
from leadcapture.i18n import format_minutes
from leadcapture.models import ASSET
from leadcapture.web.context import get_services, get_session, use_language

EXAMPLE_ADDRESS = "visitor@example.com"
MAILS = {"confirmation": confirmation.preview, "asset": asset.preview}
MAIL_NAMES = {"confirmation": "Confirmation mail", "asset": "Whitepaper mail"}
PAGES = ("check_inbox", "thank_you")
# The preview that shows each wording key: the editor turns to it when the key's field is focused.
SHOWN_IN = {key: next(kind for kind in (*MAILS, *PAGES) if key.startswith(kind)) for key in WORDING_KEYS}
# Mail HTML is inline styles and no scripts; the page holds it in a sandboxed frame of its own.
MAIL_CSP = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src https: data:; frame-ancestors 'self'"


def render_preview(which: str, definition: dict[str, Any]):
    """The preview of a mail (its headers, HTML and text part) or a page, for a validated definition."""
    use_language(definition["language"])
    g.frame_ancestors = "'self'"  # shown inside the editor's frame
    if which in MAILS:
        brand = brands.of_definition(get_session(), definition)
        return _mail_page(which, MAILS[which](get_services(), definition, brand, EXAMPLE_ADDRESS))
    if which == "check_inbox":
        window = format_minutes(get_services().settings.confirmation_window, definition["language"])
        return render_template("check_mail.html", definition=definition, embedded=False, window=window)
    return _thank_you_page(definition)


def _mail_page(which: str, message: OutgoingMessage):
    response = make_response(
        render_template(
            "admin/mail_preview.html",
            name=MAIL_NAMES[which],
            # Every header but those that differ with each send.
            headers=[(name, message[name]) for name in message.keys() if name not in ("Date", "Message-ID")],
            html=message.get_body(("html",)).get_content(),
            text=message.get_body(("plain",)).get_content(),
        )
    )
    response.headers["Content-Security-Policy"] = MAIL_CSP
    return response


def _thank_you_page(definition: dict[str, Any]):
    """The confirm page right after the button: what a person sees who confirmed everything."""
    services = get_services()
    language = definition["language"]
    confirmed = [{"label": confirmation.whitepaper_label(definition["title"], language), "key": None}]
    confirmed += [{"label": p["label"], "key": p["key"]} for p in definition["purposes"]]
    return render_template(
        "confirm.html",
        definition=definition,
        token="example",  # noqa: S106  (no form is shown that would post it)
        chosen=[],
        leaving=[],
        confirmed=confirmed,
        dropped=[],
        details=[],
        details_kept=True,
        details_toggle="",
        left_out=[],
        downloads={definition["title"]: links.example(services, DOWNLOAD)},
        outcome=SimpleNamespace(changed={ASSET}),
        asset_mailed=True,
        preferences_url=links.example(services, PREFERENCES),
    )
