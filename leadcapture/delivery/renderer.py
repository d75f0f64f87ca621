"""Composing content messages fast: each template is rendered once per language and form version.

The per-person parts (the one-click link and the preference-centre link) are stamped into the
pre-rendered text and HTML, so a campaign of a million messages renders its templates a handful
of times instead of a million; delivery.wire then writes each message's bytes directly.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

from markupsafe import escape
from sqlalchemy.orm import Session

from leadcapture.consent import brands
from leadcapture.delivery import links
from leadcapture.delivery.content import translation_for
from leadcapture.delivery.templates import MailBrand, Rendered, compose, compose_for, mail_brand, render
from leadcapture.delivery.wire import OutgoingMessage
from leadcapture.models import Brand, ContentItem, FormVersion, Person
from leadcapture.services import Services

_UNSUBSCRIBE, _PREFERENCES = "LCSLOTUNSUBSCRIBE9F3A", "LCSLOTPREFERENCES9F3A"
_ONCE_SIZE = 512
_once: dict[tuple[Hashable, ...], Rendered] = {}
_once_lock = threading.Lock()


def render_once(name: str, language: str, key: Hashable, context: dict[str, Any], urls: dict[str, str]) -> Rendered:
    """What render(name, language, {**context, **urls}) gives, its templates rendered once per (name, language, key).

    key stands for everything in context: the same key, the same context (a form version's id and
    content hash, the brand's look, what the mail lists). The urls differ per message: they are
    rendered as markers and stamped in. A link stands on a line of its own in the text and in an
    attribute or a catalog's %(url)s in the HTML, so the result is the same, byte for byte.
    """
    cache_key = (name, language, key)
    rendered = _once.get(cache_key)
    if rendered is None:
        rendered = render(name, language, {**context, **{field: _slot(field) for field in urls}})
        with _once_lock:
            if len(_once) >= _ONCE_SIZE:
                _once.clear()
            _once[cache_key] = rendered
    return stamp(rendered, {_slot(field): url for field, url in urls.items()})


def stamp(rendered: Rendered, urls: dict[str, str]) -> Rendered:
    """The rendered message with each marker replaced by its url (HTML-escaped in the HTML)."""
    text, html = rendered.text, rendered.html
    for marker, url in urls.items():
        text, html = text.replace(marker, url), html.replace(marker, str(escape(url)))
    return Rendered(subject=rendered.subject, text=text, html=html)


def _slot(field: str) -> str:
    return f"LCSLOT{field.upper()}9F3A"  # a marker no template, catalog or wording holds


class ContentRenderer:
    """Builds the message of one content item for one person at a time."""

    def __init__(self, services: Services, item: ContentItem, purpose_key: str, brand_id: int | None = None):
        self.services = services
        self.item = item
        self.purpose_key = purpose_key
        self.brand_id = brand_id  # the audience: the purpose of this brand (None: a welcome queued before brands)
        self.brand: Brand | None = None
        self._look = MailBrand()
        self._cache: dict[tuple[str, int | None], Rendered] = {}
        self._versions: dict[int | None, FormVersion | None] = {}

    def load_versions(self, session: Session, version_ids: set[int | None]) -> None:
        """Read the form versions (controller, privacy notice, label) the footers will name, and the brand."""
        if self.brand_id is not None and self.brand is None:
            self.brand = session.get(Brand, self.brand_id)
            self._look = mail_brand(self.services, self.brand)
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
                "brand": self._look,
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

    def message(self, person: Person, version_id: int | None) -> OutgoingMessage:
        """The complete message for person, in their language where a translation exists."""
        rendered = self._rendered(person.language, version_id)
        unsubscribe = links.unsubscribe(self.services, person, self.purpose_key, self.brand_id)
        preferences = links.preferences(self.services, person)
        personal = stamp(rendered, {_UNSUBSCRIBE: unsubscribe, _PREFERENCES: preferences})
        return compose_for(self.services, person, personal, unsubscribe_url=unsubscribe, brand=self.brand)

    def test_message(self, to: str, language: str, version_id: int | None, back_url: str) -> OutgoingMessage:
        """The message as recipients would get it, to a colleague's address, marked as a test.

        Its unsubscribe and preference links lead back to `back_url` (the campaign's admin page):
        a test reader is not a recipient, and nothing they click changes anyone's consent.
        """
        rendered = stamp(self._rendered(language, version_id), {_UNSUBSCRIBE: back_url, _PREFERENCES: back_url})
        marked = Rendered(subject=f"[TEST] {rendered.subject}", text=rendered.text, html=rendered.html)
        settings = self.services.settings
        return compose(
            marked,
            sender=brands.sender(self.brand, settings.mail_from),
            to=to,
            unsubscribe_url=back_url,
            unsubscribe_mailto=settings.list_unsubscribe_mailto,
            reply_to=self.brand.reply_to if self.brand is not None else "",
        )
