"""The form versions a process has read, and which one is live per slug.

Versions are immutable, so a process keeps the ones it has read, keyed by id and content hash
(an id alone could name another version in another database, as in the tests' fresh ones).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session, object_session

from leadcapture.models import Form, FormVersion

_LIVE = (
    select(FormVersion.id, FormVersion.content_hash)
    .join(Form, Form.current_version_id == FormVersion.id)
    .where(Form.slug == bindparam("slug"), Form.archived_at.is_(None))
)
_OF_FORM = select(FormVersion.id, FormVersion.content_hash).where(
    FormVersion.id == bindparam("id"), FormVersion.form_id == bindparam("form_id")
)
_CACHE_SIZE = 256
_versions: dict[tuple[int, str], FormVersion] = {}
_versions_lock = threading.Lock()

# Which version is live, per slug, is read at most every LIVE_TTL seconds per process: every form
# page and every post asks, and a page needs the database for nothing else. A form saved,
# archived or restored in this process is read afresh once that commits; in another process
# within LIVE_TTL. A post is stored with the version its page showed (its form token names it),
# so a page shown just before a new version went live still records what its visitor read.
LIVE_TTL = 5.0
_live: dict[tuple[str, str], tuple[float, int, str]] = {}


def current_version(session: Session, slug: str) -> FormVersion | None:
    """The live version of a form that is not archived, from this process's caches (see LIVE_TTL).

    The version returned is detached from the session and shared by every thread: read it, never change it.
    """
    key = (str(session.get_bind().url), slug)
    known = _live.get(key)
    if known is not None and known[0] > time.monotonic():
        version = _versions.get(known[1:])
        if version is not None:
            return version
    live = session.connection().execute(_LIVE, {"slug": slug}).first()
    if live is None:
        _live.pop(key, None)
        return None
    with _versions_lock:
        if len(_live) >= _CACHE_SIZE:
            _live.clear()
        _live[key] = (time.monotonic() + LIVE_TTL, live.id, live.content_hash)
    return cached(session, live.id, live.content_hash)


@event.listens_for(Form, "after_insert")
@event.listens_for(Form, "after_update")
def _form_written(_mapper: Any, _connection: Any, form: Form) -> None:
    session = object_session(form)
    if session is not None:
        session.info.setdefault("forms_written", set()).add(form.slug)


@event.listens_for(Session, "after_commit")
def _forget_live(session: Session) -> None:
    slugs = session.info.pop("forms_written", None)
    if slugs:
        with _versions_lock:
            for key in [key for key in _live if key[1] in slugs]:
                del _live[key]


@event.listens_for(Session, "after_rollback")
def _nothing_written(session: Session) -> None:
    session.info.pop("forms_written", None)


def version_of_form(session: Session, form_id: int, version_id: int) -> FormVersion | None:
    """A version of this form by id, live or not (None: no such version of this form), like current_version."""
    row = session.connection().execute(_OF_FORM, {"id": version_id, "form_id": form_id}).first()
    return None if row is None else cached(session, row.id, row.content_hash)


def cached(session: Session, version_id: int, chash: str) -> FormVersion | None:
    """The version with this id and content hash, read once per process (None: deleted meanwhile).

    Detached from the session and shared by every thread: read it, never change it.
    """
    key = (version_id, chash)
    version = _versions.get(key)
    if version is None:
        row = session.get(FormVersion, version_id)
        if row is None:  # deleted since the caller's query
            return None
        version = FormVersion(
            id=row.id,
            form_id=row.form_id,
            number=row.number,
            content_hash=row.content_hash,
            definition_json=row.definition_json,
            created_at=row.created_at,
        )
        version.definition  # noqa: B018  (parsed once, before other threads share it)
        with _versions_lock:
            if len(_versions) >= _CACHE_SIZE:
                _versions.clear()
            _versions[key] = version
    return version
