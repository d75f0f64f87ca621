"""The gettext catalogs: complete in every language, placeholders intact, compiled files current."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from leadcapture.i18n import LANGUAGES, TRANSLATIONS_DIR, format_date, format_number, gettext_in
from tests.support.app import ROOT

# The same extraction as `make translations`.
EXTRACT = ["pybabel", "-q", "extract", "-F", "babel.cfg", "-k", "gettext_in:2", "-k", "_l"]
PLACEHOLDER = re.compile(r"%\((\w+)\)s|\{(\w+)\}")


def catalog(language: str):
    with open(TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=language)


def template():
    with open(TRANSLATIONS_DIR / "messages.pot", "rb") as f:
        return read_po(f)


def placeholders(text: str) -> list[str]:
    return sorted(a or b for a, b in PLACEHOLDER.findall(text))


def test_the_languages_are_the_catalogs_dutch_first():
    assert LANGUAGES[0] == "nl" and set(LANGUAGES) == {"nl", "en", "de"}


def test_the_template_holds_every_string_of_the_code(tmp_path, monkeypatch):
    # Given a fresh extraction of the pages, mails and Python code
    monkeypatch.chdir(ROOT)
    fresh = tmp_path / "fresh.pot"
    CommandLineInterface().run([*EXTRACT, "-o", str(fresh), "."])
    with open(fresh, "rb") as f:
        extracted = {(m.context, m.id) for m in read_po(f) if m.id}
    # Then the committed template has exactly those (run `make translations` when this fails)
    assert extracted == {(m.context, m.id) for m in template() if m.id}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_string_is_translated_and_none_is_fuzzy(language):
    po = catalog(language)
    wanted = {(m.context, m.id) for m in template() if m.id}
    entries = {(m.context, m.id): m for m in po if m.id}
    assert wanted - entries.keys() == set(), f"{language}: missing, run `make translations`"
    untranslated = [m.id for m in entries.values() if not m.string]
    fuzzy = [m.id for m in entries.values() if m.fuzzy]
    assert untranslated == [] and fuzzy == [], f"{language}: untranslated {untranslated}, fuzzy {fuzzy}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders_of_their_source(language):
    for message in catalog(language):
        if not message.id:
            continue
        assert placeholders(message.string) == placeholders(message.id), (language, message.id)
        values = dict.fromkeys(placeholders(message.id), "x")
        message.string % values  # no stray % that would break the formatting (raises)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalog_matches_its_source(language):
    # The .mo files are committed (a checkout and a wheel run without a build step): they must be current.
    with open(TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.mo", "rb") as f:
        compiled = {(m.context, m.id): m.string for m in read_mo(f) if m.id}
    source = {(m.context, m.id): m.string for m in catalog(language) if m.id and m.string and not m.fuzzy}
    assert compiled == source, f"{language}: run `make translations`"


def test_a_string_is_looked_up_in_the_language_asked():
    assert gettext_in("de", "Confirm your request: %(title)s", title="X") == "Bitte bestätigen Sie Ihre Anfrage: X"
    assert gettext_in("nl", "Confirm your request: %(title)s", title="X") == "Bevestig je aanvraag: X"
    assert gettext_in("en", "Confirm your request: %(title)s", title="X") == "Confirm your request: X"


def test_dates_and_numbers_read_as_each_language_writes_them():
    day = date(2026, 3, 5)
    assert [format_date(day, lang) for lang in ("nl", "en", "de")] == ["5 maart 2026", "5 March 2026", "5. März 2026"]
    assert [format_number(12345, lang) for lang in ("nl", "en", "de")] == ["12.345", "12,345", "12.345"]


def test_the_catalogs_ship_with_the_package():
    pyproject = (Path(ROOT) / "pyproject.toml").read_text()
    assert '"translations/*/LC_MESSAGES/*"' in pyproject
