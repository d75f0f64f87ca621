"""Composing content messages fast: each template is rendered once per language and form version.

The per-person parts (the one-click link and the preference-centre link) are stamped into the
pre-rendered text and HTML, so a campaign of a million messages renders its templates a handful
of times instead of a million; delivery.wire then writes each message's bytes directly.
"""

from __future__ import annotations

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
        text = rendered.text.replace(_UNSUBSCRIBE, unsubscribe).replace(_PREFERENCES, preferences)
        html = rendered.html.replace(_UNSUBSCRIBE, str(escape(unsubscribe)))
        html = html.replace(_PREFERENCES, str(escape(preferences)))
        personal = Rendered(subject=rendered.subject, text=text, html=html)
        return compose_for(self.services, person, personal, unsubscribe_url=unsubscribe, brand=self.brand)

    def test_message(self, to: str, language: str, version_id: int | None, back_url: str) -> OutgoingMessage:
        """The message as recipients would get it, to a colleague's address, marked as a test.

        Its unsubscribe and preference links lead back to `back_url` (the campaign's admin page):
        a test reader is not a recipient, and nothing they click changes anyone's consent.
        """
        rendered = self._rendered(language, version_id)
        text = rendered.text.replace(_UNSUBSCRIBE, back_url).replace(_PREFERENCES, back_url)
        html = rendered.html.replace(_UNSUBSCRIBE, str(escape(back_url))).replace(_PREFERENCES, str(escape(back_url)))
        marked = Rendered(subject=f"[TEST] {rendered.subject}", text=text, html=html)
        settings = self.services.settings
        return compose(
            marked,
            sender=brands.sender(self.brand, settings.mail_from),
            to=to,
            unsubscribe_url=back_url,
            unsubscribe_mailto=settings.list_unsubscribe_mailto,
            reply_to=self.brand.reply_to if self.brand is not None else "",
        )
