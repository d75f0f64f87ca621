"""What a request (or a job run inside the app) reaches through Flask: the services and its DB session."""

from __future__ import annotations

from datetime import date, datetime

from babel.support import NullTranslations
from flask import current_app, g
from flask_babel import get_translations, refresh
from sqlalchemy.orm import Session

from leadcapture.consent import outbox
from leadcapture.i18n import DEFAULT_LANGUAGE, format_date, format_number
from leadcapture.services import Services


def get_services() -> Services:
    """The Services of the current app."""
    return current_app.extensions["leadcapture"]


def get_session() -> Session:
    """The session of the current request, created on first use; jobs it enqueues are published at its commit."""
    if "db_session" not in g:
        services = get_services()
        g.db_session = services.db.sessionmaker()
        outbox.publish_on_commit(g.db_session, services)
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    """Close the request's session; uncommitted work is rolled back."""
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def use_language(language: str) -> None:
    """Make language the language of this request's pages (Flask-Babel's locale follows it)."""
    g.language = language
    g.pop("page_translations", None)
    refresh()  # a string translated earlier in the request must not pin the previous locale


def page_translations() -> NullTranslations:
    """Flask-Babel's catalog for this request's pages, looked up once per request and language.

    Templates translate through it: a page has dozens of strings, and Flask-Babel finds the
    catalog again for each one.
    """
    if "page_translations" not in g:
        g.page_translations = get_translations()
    return g.page_translations


def page_language() -> str:
    """The language of this request's pages: its form's or person's, else the default (never the browser's)."""
    return g.get("language") or DEFAULT_LANGUAGE


def local_date(value: date | datetime, language: str | None = None) -> str:
    """The `local_date` filter of pages: a date in the page's language."""
    return format_date(value, language or page_language())


def local_number(value: int | float, language: str | None = None) -> str:
    """The `local_number` filter of pages: a number in the page's language."""
    return format_number(value, language or page_language())
