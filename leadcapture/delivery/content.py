"""Content items per purpose: Markdown with a small front matter, rendered to HTML and text once.

Markdown is rendered with Python-Markdown and the HTML is then cleaned with nh3 (ammonia) to a
fixed allow-list: content comes from marketers, who are trusted, but the admin UI will accept
it over the web too, and a stray <script> or tracking <img onerror> must never reach a mailbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import markdown
import nh3
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from leadcapture.i18n import LANGUAGES
from leadcapture.models import ContentItem, ContentTranslation, Form, FormVersion

_FRONT_KEYS = {"subject", "language"}
_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "hr", "i", "img",
    "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"}}


class ContentError(ValueError):
    """A content file or item that cannot be used; the message says what to fix."""


@dataclass
class Draft:
    """One language of a content item, as written by the marketer."""

    language: str
    subject: str
    body_markdown: str


def parse(text: str, *, subject: str | None = None, language: str | None = None, where: str = "file") -> Draft:
    """Read Markdown with optional front matter (`---` lines around `subject:` / `language:`)."""
    meta: dict[str, str] = {}
    body = text.lstrip("\ufeff")
    if body.startswith("---\n") or body.startswith("---\r\n"):
        head, sep, rest = body.partition("\n---")
        if not sep:
            raise ContentError(f"{where}: front matter starts with '---' but has no closing '---' line")
        for number, line in enumerate(head.splitlines()[1:], start=2):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            key, colon, value = line.partition(":")
            key = key.strip().lower()
            if not colon or key not in _FRONT_KEYS:
                raise ContentError(f"{where}, line {number}: expected 'subject: …' or 'language: …', got {line!r}")
            meta[key] = value.strip().strip("\"'")
        body = rest.partition("\n")[2]
    draft = Draft(
        language=(language or meta.get("language") or "").strip().lower(),
        subject=" ".join((subject or meta.get("subject") or "").split()),
        body_markdown=body.strip() + "\n",
    )
    check(draft, where)
    return draft


def check(draft: Draft, where: str = "content") -> None:
    """Raise ContentError naming every problem of a draft."""
    problems = []
    if draft.language not in LANGUAGES:
        problems.append(f"language must be one of {', '.join(LANGUAGES)} (front matter or --language)")
    if not draft.subject:
        problems.append("a subject is required (front matter 'subject:' or --subject)")
    elif len(draft.subject) > 200:
        problems.append("the subject is longer than 200 characters")
    if not draft.body_markdown.strip():
        problems.append("the body is empty")
    if problems:
        raise ContentError(f"{where}: " + "; ".join(problems))


def load_file(path: Path, *, subject: str | None = None, language: str | None = None) -> Draft:
    """Parse a Markdown file; unreadable files raise ContentError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentError(f"{path}: cannot read it as UTF-8 text ({exc})") from exc
    return parse(text, subject=subject, language=language, where=str(path))


def to_html(body_markdown: str) -> str:
    """Markdown to sanitised HTML."""
    html = markdown.markdown(body_markdown, extensions=["extra", "sane_lists"], output_format="html")
    return nh3.clean(html, tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRIBUTES, url_schemes={"http", "https", "mailto"})


_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def to_text(body_markdown: str) -> str:
    """The plain-text part: the Markdown itself, with inline links written out as 'text (url)'."""
    return _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})" if m.group(1) else m.group(2), body_markdown)


def live_version_with(session: Session, key: str, brand_id: int | None = None) -> FormVersion | None:
    """The live form version (of the brand, if given) that has a purpose with this key (the newest form wins)."""
    query = select(Form).where(Form.archived_at.is_(None)).order_by(Form.id.desc())
    forms = session.scalars(query.where(Form.brand_id == brand_id) if brand_id is not None else query)
    for form in forms:
        if form.current_version is not None and form.current_version.purpose(key):
            return form.current_version
    return None


def purpose_of(session: Session, key: str) -> dict[str, Any] | None:
    """The purpose with this key in any live form (the newest form's wording wins)."""
    version = live_version_with(session, key)
    return version.purpose(key) if version is not None else None


def brand_email_purposes(session: Session) -> list[tuple[int, str, str]]:
    """(brand id, key, label) of every email purpose of the live forms: the audiences a campaign can have."""
    seen: dict[tuple[int, str], str] = {}
    for form in session.scalars(select(Form).where(Form.archived_at.is_(None)).order_by(Form.id.desc())):
        for purpose in form.current_version.definition["purposes"] if form.current_version else []:
            if purpose["channel"] == "email":
                seen.setdefault((form.brand_id, purpose["key"]), purpose["label"])
    return [(brand_id, key, label) for (brand_id, key), label in sorted(seen.items())]


def email_purposes(session: Session) -> list[tuple[str, str]]:
    """(key, label) of every email purpose of the live forms, for choosing a campaign's audience."""
    seen: dict[str, str] = {}
    for form in session.scalars(select(Form).where(Form.archived_at.is_(None)).order_by(Form.id.desc())):
        for purpose in form.current_version.definition["purposes"] if form.current_version else []:
            if purpose["channel"] == "email":
                seen.setdefault(purpose["key"], purpose["label"])
    return sorted(seen.items())


def create_item(session: Session, purpose_key: str, drafts: list[Draft], *, welcome: bool = False) -> ContentItem:
    """Store a content item with one translation per draft; the purpose must exist and be email."""
    purpose = purpose_of(session, purpose_key)
    if purpose is None:
        raise ContentError(f"no live form has a purpose with key {purpose_key!r}")
    if purpose.get("channel", "email") != "email":
        raise ContentError(f"purpose {purpose_key!r} is for channel {purpose['channel']!r}, not email")
    if not drafts:
        raise ContentError("write the message in at least one language (a Markdown file each)")
    languages = [d.language for d in drafts]
    if len(set(languages)) != len(languages):
        raise ContentError(f"one file per language, please: got {', '.join(languages)}")
    item = ContentItem(purpose_key=purpose_key, welcome=welcome)
    for draft in drafts:
        check(draft)
        item.translations.append(
            ContentTranslation(
                language=draft.language,
                subject=draft.subject,
                body_markdown=draft.body_markdown,
                body_html=to_html(draft.body_markdown),
                body_text=to_text(draft.body_markdown),
            )
        )
    session.add(item)
    session.flush()
    return item


def translation_for(item: ContentItem, language: str) -> ContentTranslation:
    """The translation in the person's language, else the first one written."""
    return next((t for t in item.translations if t.language == language), item.translations[0])


def welcome_item(session: Session, purpose_key: str) -> ContentItem | None:
    """The newest welcome item of a purpose, if any."""
    return session.scalar(
        select(ContentItem)
        .where(ContentItem.purpose_key == purpose_key, ContentItem.welcome.is_(True))
        .order_by(ContentItem.id.desc())
        .limit(1)
        .options(selectinload(ContentItem.translations))
    )
