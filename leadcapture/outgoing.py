"""Composing content messages fast: each template is rendered once per language and form version.

The per-person parts (the one-click link and the preference-centre link) are stamped into the
pre-rendered text and HTML, so a campaign of a million messages renders its templates a handful
of times instead of a million.
"""

from __future__ import annotations

from email.message import EmailMessage

from markupsafe import escape
from sqlalchemy.orm import Session

from .content import translation_for
from .core import Core
from .mail import Rendered, compose, render
from .models import ContentItem, FormVersion, Person
from .tokens import PREFERENCES, UNSUBSCRIBE

_UNSUBSCRIBE, _PREFERENCES = "LCSLOTUNSUBSCRIBE9F3A", "LCSLOTPREFERENCES9F3A"


class ContentRenderer:
    """Builds the message of one content item for one person at a time."""

    def __init__(self, core: Core, item: ContentItem, purpose_key: str):
        self.core = core
        self.item = item
        self.purpose_key = purpose_key
        self._cache: dict[tuple[str, int | None], Rendered] = {}

    def _rendered(self, session: Session, language: str, version_id: int | None) -> Rendered:
        translation = translation_for(self.item, language)
        cache_key = (translation.language, version_id)
        if cache_key not in self._cache:
            version = session.get(FormVersion, version_id) if version_id is not None else None
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

    def message(self, session: Session, person: Person, version_id: int | None) -> EmailMessage:
        """The complete message for person, in their language where a translation exists."""
        rendered = self._rendered(session, person.language, version_id)
        core = self.core
        unsubscribe = core.link("u", UNSUBSCRIBE, {"p": person.id, "k": self.purpose_key})
        preferences = core.link("p", PREFERENCES, {"p": person.id})
        html_unsubscribe, html_preferences = str(escape(unsubscribe)), str(escape(preferences))
        personal = Rendered(
            subject=rendered.subject,
            text=rendered.text.replace(_UNSUBSCRIBE, unsubscribe).replace(_PREFERENCES, preferences),
            html=rendered.html.replace(_UNSUBSCRIBE, html_unsubscribe).replace(_PREFERENCES, html_preferences),
        )
        return compose(
            personal,
            sender=core.config["MAIL_FROM"],
            to=core.vault.decrypt(person.email_enc),
            unsubscribe_url=unsubscribe,
            unsubscribe_mailto=core.config["LIST_UNSUBSCRIBE_MAILTO"],
        )
