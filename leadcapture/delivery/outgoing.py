"""Composing content messages fast: each template is rendered once per language and form version.

The per-person parts (the one-click link and the preference-centre link) are stamped into the
pre-rendered text and HTML, so a campaign of a million messages renders its templates a handful
of times instead of a million.
"""

from __future__ import annotations

import binascii
import secrets
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from markupsafe import escape
from sqlalchemy.orm import Session

from leadcapture.delivery import links
from leadcapture.delivery.content import translation_for
from leadcapture.delivery.mail import Rendered, compose, render
from leadcapture.delivery.wire import header_line
from leadcapture.models import ContentItem, FormVersion, Person, utcnow
from leadcapture.services import Services

_UNSUBSCRIBE, _PREFERENCES = "LCSLOTUNSUBSCRIBE9F3A", "LCSLOTPREFERENCES9F3A"


class ContentRenderer:
    """Builds the message of one content item for one person at a time."""

    def __init__(self, services: Services, item: ContentItem, purpose_key: str):
        self.services = services
        self.item = item
        self.purpose_key = purpose_key
        self._cache: dict[tuple[str, int | None], Rendered] = {}
        self._versions: dict[int | None, FormVersion | None] = {}
        self._heads: dict[str, bytes] = {}  # folded From and Subject lines per subject
        self._boundary = f"=_lc{secrets.token_hex(12)}"  # "=_" never occurs in quoted-printable
        self._sender = parseaddr(services.settings.mail_from)[1]
        self._domain = self._sender.rpartition("@")[2] or "localhost"

    def load_versions(self, session: Session, version_ids: set[int | None]) -> None:
        """Read the form versions (controller, privacy notice, label) the footers will name."""
        for version_id in version_ids - self._versions.keys():
            self._versions[version_id] = session.get(FormVersion, version_id) if version_id is not None else None

    def _rendered(self, language: str, version_id: int | None) -> Rendered:
        translation = translation_for(self.item, language)
        cache_key = (translation.language, version_id)
        if cache_key not in self._cache:
            version = self._versions[version_id]
            definition = version.definition if version is not None else {"controller": "", "privacy_url": ""}
            purpose = (version.purpose(self.purpose_key) if version is not None else None) or {}
            context = {
                "form": definition,
                "subject": translation.subject,
                "content_html": translation.body_html,
                "content_text": translation.body_text,
                "purpose_label": purpose.get("label", self.purpose_key),
                "unsubscribe_url": _UNSUBSCRIBE,
                "preferences_url": _PREFERENCES,
            }
            self._cache[cache_key] = render("content", translation.language, context)
        return self._cache[cache_key]

    def message(self, person: Person, version_id: int | None) -> EmailMessage:
        """The complete message for person, in their language where a translation exists."""
        rendered = self._rendered(person.language, version_id)
        services = self.services
        unsubscribe = links.unsubscribe(services, person.id, self.purpose_key)
        preferences = links.preferences(services, person.id)
        html_unsubscribe, html_preferences = str(escape(unsubscribe)), str(escape(preferences))
        text = rendered.text.replace(_UNSUBSCRIBE, unsubscribe).replace(_PREFERENCES, preferences)
        html = rendered.html.replace(_UNSUBSCRIBE, html_unsubscribe).replace(_PREFERENCES, html_preferences)
        to = services.vault.decrypt(person.email_enc)
        mailto = services.settings.list_unsubscribe_mailto
        if not to.isascii() or any(c in to for c in '\r\n,<>"') or not mailto.isascii():
            # An internationalised address needs the email package's encoding: the slow path.
            personal = Rendered(subject=rendered.subject, text=text, html=html)
            return compose(
                personal,
                sender=services.settings.mail_from,
                to=to,
                unsubscribe_url=unsubscribe,
                unsubscribe_mailto=mailto,
            )
        return self._wire(rendered.subject, to, unsubscribe, mailto, text, html)

    def _head(self, subject: str) -> bytes:
        """The From and Subject lines, folded and encoded once by the email package."""
        if subject not in self._heads:
            sample = compose(
                Rendered(subject, "", ""), sender=self.services.settings.mail_from, to="x@x", unsubscribe_url="x"
            )
            self._heads[subject] = b"".join(
                header_line(name, sample[name]).replace("\n", "\r\n").encode()  # folded, RFC 2047
                for name in ("From", "Subject")
            )
        return self._heads[subject]

    def _wire(self, subject: str, to: str, unsubscribe: str, mailto: str, text: str, html: str) -> WireMessage:
        """The same message compose() builds, serialised directly: headers, then two QP parts."""
        message_id = make_msgid(domain=self._domain)
        targets = f"<{unsubscribe}>" + (f", <mailto:{mailto}?subject=unsubscribe>" if mailto else "")
        boundary = self._boundary
        head = (
            f"To: {to}\r\nDate: {format_datetime(utcnow())}\r\nMessage-ID: {message_id}\r\n"
            f"List-Unsubscribe: {targets}\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            f'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        ).encode()
        part = (
            '--{b}\r\nContent-Type: text/{kind}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        )
        data = b"".join(
            (
                self._head(subject),
                head,
                part.format(b=boundary, kind="plain").encode(),
                _qp(text),
                b"\r\n",
                part.format(b=boundary, kind="html").encode(),
                _qp(html),
                f"\r\n--{boundary}--\r\n".encode(),
            )
        )
        # Transports read From and To for the envelope only: give them the bare addresses.
        return WireMessage(data, {"From": self._sender, "To": to, "Message-ID": message_id})


def _qp(text: str) -> bytes:
    """Quoted-printable (RFC 2045) with CRLF line endings; binascii does it in C."""
    encoded = binascii.b2a_qp(text.replace("\r\n", "\n").encode("utf-8"), istext=True)
    return encoded.replace(b"\n", b"\r\n")


class WireMessage(EmailMessage):
    """A message serialised once on the fast path, with the few headers the transports read.

    Transports call as_bytes() (and DKIM signs those bytes), and read From, To and Message-ID;
    building a full EmailMessage per recipient costs milliseconds, this costs microseconds.
    """

    def __init__(self, data: bytes, headers: dict[str, str]):
        super().__init__()
        self._wire = data
        self._known = {name.lower(): value for name, value in headers.items()}

    def __getitem__(self, name: str) -> str | None:  # type: ignore[override]
        return self._known.get(name.lower())

    def get(self, name: str, failobj: object = None) -> object:  # type: ignore[override]
        """A header the fast path set, else failobj."""
        return self._known.get(name.lower(), failobj)

    def as_bytes(self, unixfrom: bool = False, policy: object = None) -> bytes:  # type: ignore[override]
        """The wire form (CRLF line endings), whatever policy is asked for."""
        return self._wire

    __bytes__ = as_bytes
