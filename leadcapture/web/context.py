"""What a request (or a job run inside the app) reaches through Flask: the services and its DB session."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import Session

from leadcapture.consent import outbox
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
