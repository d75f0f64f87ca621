"""The preference centre (R5.5): token-authenticated, no login, in the person's language.

Each purpose with its state and since when; withdraw one or all; re-confirm a lapsed one with
the wording of the form's live version (shown before the button); renew one about to lapse;
confirm an unverified import (the re-permission email sends people here);
"forget me" behind a confirmation page. GET only shows pages; every POST carries Flask-WTF's
session CSRF token and counts as activity for the consents the person keeps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, g, render_template, request
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadcapture.consent import lifecycle
from leadcapture.consent import transitions as consent
from leadcapture.consent.tokens import PREFERENCES
from leadcapture.delivery.links import PREFIXES
from leadcapture.i18n import translate
from leadcapture.models import CONFIRMED, EXPIRED, UNVERIFIED, WITHDRAWN, Consent, Person, utcnow
from leadcapture.privacy import rights
from leadcapture.web.context import get_services, get_session
from leadcapture.web.errors import page
from leadcapture.web.public.common import by_public_id, load_token, visitor

bp = Blueprint("preferences", __name__)


class PreferencesForm(FlaskForm):
    """Only the CSRF token; the pressed button names the action."""


def _person(token: str) -> Person:
    """The person the link names, in their language; InvalidLink once they are gone."""
    person = by_public_id(Person, load_token(PREFERENCES, token).person_public_id)
    g.language = person.language
    return person


@bp.route(f"/{PREFIXES[PREFERENCES]}/<token>", methods=["GET", "POST"])
def preferences(token: str):
    """Every purpose with its state; withdraw one or all; renew or re-confirm."""
    person = _person(token)
    session = get_session()
    form = PreferencesForm()
    saved = None
    if request.method == "POST":
        if not form.validate():
            return page(400)
        saved = _act(session, person)
        if saved is None:
            return page(400)
    rows = [_row(session, c, utcnow()) for c in _consents(session, person)]
    return render_template("preferences.html", rows=rows, form=form, saved=saved, token=token)


def _consents(session: Session, person: Person) -> list[Consent]:
    return list(session.scalars(select(Consent).where(Consent.person_id == person.id).order_by(Consent.purpose_key)))


def _act(session: Session, person: Person) -> str | None:
    """Carry out the pressed button; None if it names nothing this person can do."""
    services, now = get_services(), utcnow()
    if "withdraw" in request.form:
        action = request.form["withdraw"]
        keys = None if action == "__all__" else [action]
        consent.withdraw(
            session, services.vault, services.settings, person, keys, method="preference_centre", visitor=visitor()
        )
        done = "saved"
    elif "renew" in request.form:
        row = session.scalar(
            select(Consent).where(Consent.person_id == person.id, Consent.purpose_key == request.form["renew"])
        )
        version = lifecycle.live_version(session, row) if row is not None else None
        if row is None or version is None or row.state not in (CONFIRMED, EXPIRED, UNVERIFIED):
            return None
        event = lifecycle.renew(session, services.vault, services.settings, row, version, visitor=visitor(), now=now)
        done = "reconfirmed" if event == "confirmed" else "renewed"
    else:
        return None
    lifecycle.record_activity(session, person, now)
    session.commit()
    return done


def _row(session: Session, c: Consent, now: datetime) -> dict[str, Any]:
    agreed = c.form_version.purpose(c.purpose_key) or {}
    row: dict[str, Any] = {
        "key": c.purpose_key,
        "label": agreed.get("label", c.purpose_key),
        "state": c.state,
        "since": (c.withdrawn_at if c.state == WITHDRAWN else c.confirmed_at) or c.last_activity_at,
        "lapses": None,
        "offer": None,
    }
    if c.state in (CONFIRMED, UNVERIFIED):
        row["lapses"] = lifecycle.lapses_at(c)
        # Offer "keep it" in the last month, where the re-permission email sends people.
        renewable = row["lapses"] <= lifecycle.add_months(now, lifecycle.REPERMISSION_MONTHS_BEFORE)
    else:
        renewable = c.state == EXPIRED
    if c.state == EXPIRED:
        row["since"] = lifecycle.lapses_at(c)
    version = lifecycle.live_version(session, c) if renewable else None
    if version is not None:
        live = version.purpose(c.purpose_key) or {}
        row["offer"] = {"label": live.get("label"), "description": live.get("description")}
    return row


@bp.route(f"/{PREFIXES[PREFERENCES]}/<token>/forget", methods=["GET", "POST"])
def forget(token: str):
    """'Forget me': GET explains what happens; the POST from its button erases (R6.2)."""
    person = _person(token)
    form = PreferencesForm()
    if request.method != "POST":
        return render_template("forget.html", form=form, token=token)
    if not form.validate():
        return page(400)
    services = get_services()
    session = get_session()
    rights.erase_person(session, services.vault, person, method="preference_centre", forget_mail=services.forget_mail)
    session.commit()
    return render_template("message.html", title=translate("forgotten_title"), body=translate("forgotten_body"))
