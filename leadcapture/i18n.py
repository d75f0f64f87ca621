"""Page and email wording from gettext catalogs; the form's language picks the catalog.

The catalogs are `translations/<language>/LC_MESSAGES/messages.po` (with their compiled `.mo`,
committed: `make translations` extracts, updates and compiles them). A language is offered as
soon as its catalog exists: adding one needs no code. Pages translate through Flask-Babel, whose
locale is the request's language (`web.context.use_language`); mails are rendered by workers
without a Flask app and translate with `gettext_in`. This module imports no Flask: the domain core reads `LANGUAGES`.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_format_date
from babel.numbers import format_decimal
from babel.support import Translations
from babel.units import format_unit

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DEFAULT_LANGUAGE = "nl"
# Every language with a catalog: the default first, then alphabetical.
LANGUAGES: tuple[str, ...] = tuple(
    sorted(
        (p.name for p in TRANSLATIONS_DIR.iterdir() if (p / "LC_MESSAGES" / "messages.po").is_file()),
        key=lambda language: (language != DEFAULT_LANGUAGE, language),
    )
)
# Where a bare language would write dates or numbers differently from its EU reader: British
# English writes the day first. Other languages use their own code as the locale ("de", "fr").
LOCALES = {"en": "en_GB"}


def locale_of(language: str) -> str:
    """The Babel locale that formats dates and numbers for language."""
    return LOCALES.get(language, language if language in LANGUAGES else LOCALES.get(DEFAULT_LANGUAGE, DEFAULT_LANGUAGE))


@cache
def translations(language: str) -> Translations:
    """The compiled catalog of language (an empty one for a language without a catalog)."""
    return Translations.load(str(TRANSLATIONS_DIR), [language if language in LANGUAGES else DEFAULT_LANGUAGE])


def gettext_in(language: str, message: str, **values: object) -> str:
    """message translated into language, its %(name)s placeholders filled from values."""
    text = translations(language).gettext(message)
    return text % values if values else text


def format_date(value: date | datetime, language: str | None = None) -> str:
    """A date as the reader writes it: "27 november 2026", "27 November 2026", "27. November 2026".

    In pages and mails use the Jinja filter `local_date` (`{{ when|local_date }}` in a page, in the
    request's language; `{{ when|local_date(language) }}` in an email template).
    """
    return babel_format_date(value, format="long", locale=locale_of(language or DEFAULT_LANGUAGE))


def format_number(value: int | float, language: str | None = None) -> str:
    """A number as the reader writes it: "1.000" in Dutch and German, "1,000" in English.

    The Jinja filter `local_number` calls this, in pages and mails alike (as `local_date`).
    """
    return format_decimal(value, locale=locale_of(language or DEFAULT_LANGUAGE))


def format_minutes(seconds: int, language: str | None = None) -> str:
    """A duration as whole minutes in words: "15 minuten", "15 minutes" (a part of a minute counts as one)."""
    minutes = max(1, -(-seconds // 60))
    return format_unit(minutes, "duration-minute", locale=locale_of(language or DEFAULT_LANGUAGE), length="long")


def language_name(language: str) -> str:
    """The English name of a language, for the admin ("German"); the code if Babel does not know it."""
    try:
        return Locale.parse(language).get_display_name("en") or language
    except (ValueError, UnknownLocaleError):
        return language


def fill_source(path: str) -> None:
    """Write the source language's catalog: every msgstr is its msgid (English is the code's wording)."""
    from babel.messages.pofile import read_po, write_po

    with open(path, "rb") as f:
        catalog = read_po(f)
    for message in catalog:
        if message.id:
            message.string = message.id
            message.flags.discard("fuzzy")
    with open(path, "wb") as f:
        write_po(f, catalog, width=100)


if __name__ == "__main__":  # `make translations`: python -m leadcapture.i18n fill-source FILE
    import sys

    if sys.argv[1:2] != ["fill-source"] or len(sys.argv) != 3:
        sys.exit("usage: python -m leadcapture.i18n fill-source PO_FILE")
    fill_source(sys.argv[2])
