"""The JSON API under /api/v1/: "may we contact X for purpose P", and the contact list per purpose.

Bearer tokens are created by admins in the admin (API tokens) and stored hashed. Every call that
returns personal data is written to the audit log under the token's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from leadcapture.backoffice import accounts, contacts
from leadcapture.consent import brands, gates
from leadcapture.consent.formdefs import CHANNELS
from leadcapture.consent.people import AddressError, find_person, is_suppressed, valid_address
from leadcapture.db import MAX_ID
from leadcapture.models import CONFIRMED, PENDING, PURPOSE, Consent, LeadRequest, Submission, utcnow
from leadcapture.models.backoffice import CONTACTS_READ, MAY_CONTACT_READ
from leadcapture.web.api.openapi import document
from leadcapture.web.context import get_services, get_session

bp = Blueprint("api", __name__, url_prefix="/api/v1")
_PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_PAGE = 1000


class Problem(Exception):
    """A request the API refuses; answered as a JSON error body with its status code."""

    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(status, message)
        self.status, self.message, self.extra = status, message, extra


MAX_BODY_BYTES = 8 * 1024  # a may-contact query is an address and two keys


@bp.before_request
def small_bodies() -> None:
    """Refuse large bodies before reading them, and before any token is checked (413)."""
    request.max_content_length = MAX_BODY_BYTES  # also caps a chunked body while it is read
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise Problem(413, f"the request body must be at most {MAX_BODY_BYTES} bytes")


@bp.errorhandler(Problem)
def problem(exc: Problem):
    """The JSON error body of a refused request."""
    response = jsonify({"error": exc.message, "status": exc.status, **exc.extra})
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="leadcapture"'
    return response


def token_required(scope: str) -> Callable[[Callable], Callable]:
    """Answer 401 unless a valid, unrevoked bearer token is presented, and 403 unless it holds scope."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            row = accounts.find_api_token(get_session(), token.strip()) if scheme.lower() == "bearer" else None
            if row is None:
                raise Problem(401, "a valid API token is required (Authorization: Bearer <token>)")
            if not row.has_scope(scope):
                raise Problem(403, f"this token does not have the scope {scope}; an admin can create one that does")
            row.last_used_at = utcnow()
            g.api_token = row
            return view(*args, **kwargs)

        return wrapper

    return decorate


def _audit(action: str, target: str) -> None:
    token = g.api_token
    entry = accounts.audit(get_session(), None, action, target, ip=request.remote_addr)
    entry.actor = f"api token {token.name} ({token.prefix}…)"[:254]


def _purpose_and_channel(values: Any) -> tuple[str, str | None]:
    """The purpose key and the channel (None: any) a request names; Problem if either is malformed."""
    purpose = str(values.get("purpose") or "")
    channel = values.get("channel") or None
    if not _PURPOSE.match(purpose):
        raise Problem(400, "purpose must be a purpose key like 'newsletter'")
    if channel is not None and channel not in CHANNELS:
        raise Problem(400, f"channel must be one of {', '.join(CHANNELS)}")
    return purpose, channel


def _whole_number(name: str, default: int, low: int, high: int) -> int:
    """A query parameter as a whole number from low to high; Problem if it is anything else."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise Problem(400, f"{name} must be a whole number from {low} to {high}")
    return value


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API."""
    return jsonify(document(get_services().settings.base_url))


@bp.post("/may-contact")
@token_required(MAY_CONTACT_READ)
def may_contact():
    """May we contact this address for this purpose (and channel) now? With the consent behind it."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Problem(400, 'send a JSON object like {"email": "...", "purpose": "newsletter"}')
    purpose, channel = _purpose_and_channel(body)
    try:
        email = valid_address(str(body.get("email") or ""))
    except AddressError as exc:
        raise Problem(400, f"email {exc}") from exc
    session = get_session()
    brand_id = _brand_id(session, body.get("brand"))
    answer: dict[str, Any] = {"email": email, "purpose": purpose, "may_contact": False, "state": "none"}
    person = find_person(session, get_services().vault, email)
    if person is not None and is_suppressed(session, person):
        answer["state"] = "suppressed"
    elif person is not None:
        query = select(Consent).where(Consent.person_id == person.id, Consent.purpose_key == purpose)
        if brand_id is not None:
            query = query.where(Consent.brand_id == brand_id)
        # Of several brands' consents, a current one answers (audiences are per brand: ask with "brand").
        row = session.scalar(query.order_by((Consent.state != CONFIRMED), Consent.id).limit(1))
        if row is not None:
            version = row.form_version
            answer.update(
                state=row.state,
                channel=row.channel,
                may_contact=gates.may_contact(session, person, purpose, channel, brand_id),
                brand=row.brand.slug,
                confirmed_at=row.confirmed_at.isoformat() if row.confirmed_at else None,
                withdrawn_at=row.withdrawn_at.isoformat() if row.withdrawn_at else None,
                form=version.definition["slug"],
                form_version=version.number,
                form_version_hash=version.content_hash,
            )
        elif session.scalar(
            select(LeadRequest.id)
            .join(Submission)
            .where(Submission.person_id == person.id, LeadRequest.kind == PURPOSE)
            .where(LeadRequest.purpose_key == purpose, LeadRequest.state == PENDING)
            .limit(1)
        ):
            answer["state"] = PENDING
    _audit("api.may_contact", purpose)
    session.commit()
    return jsonify(answer)


def _brand_id(session: Any, slug: Any) -> int | None:
    """The brand a request narrows to (None: any brand); 400 for one that does not exist."""
    if slug is None:
        return None
    brand = brands.by_slug(session, str(slug))
    if brand is None:
        raise Problem(400, f"no brand {str(slug)[:64]!r}")
    return brand.id


@bp.get("/contacts")
@token_required(CONTACTS_READ)
def contact_list():
    """People we may contact now for a purpose and channel, a page at a time (keyset cursor)."""
    purpose, channel = _purpose_and_channel(request.args)
    if channel is None:
        raise Problem(400, f"channel is required: one of {', '.join(CHANNELS)}")
    limit = _whole_number("limit", 100, 1, MAX_PAGE)
    after = _whole_number("after", 0, 0, MAX_ID)
    session = get_session()
    brand_id = _brand_id(session, request.args.get("brand"))
    stmt = contacts.contact_details(purpose, channel, brand_id).where(Consent.id > after).limit(limit + 1)
    rows = session.execute(stmt).all()
    vault = get_services().vault
    page = [contacts.decrypt_row(vault, row) for row in rows[:limit]]
    _audit("api.contacts", f"{purpose}/{channel}")
    session.commit()
    return jsonify(
        {
            "purpose": purpose,
            "channel": channel,
            "contacts": page,
            "next_after": rows[limit - 1][0] if len(rows) > limit else None,
        }
    )
