"""The preference centre (R5.5): token-authenticated, no login, in the person's language.

Each purpose with its state and since when; withdraw one or all; re-confirm a lapsed one with
the wording of the form's live version (shown before the button); renew one about to lapse;
confirm an unverified import (the re-permission email sends people here); opt in to the other
purposes of the forms the person used, or again after a withdrawal (the link reaches only the
person's mailbox, so it proves the address: no second mail); "forget me" behind a confirmation
page. GET only shows pages; every POST carries Flask-WTF's
session CSRF token and counts as activity for the consents the person keeps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import gettext
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadcapture.consent import lifecycle
from leadcapture.consent import transitions as consent
from leadcapture.consent.tokens import PREFERENCES
from leadcapture.delivery.links import PREFIXES
from leadcapture.models import (
    CONFIRMED,
    EXPIRED,
    UNVERIFIED,
    WITHDRAWN,
    Brand,
    Consent,
    Form,
    FormVersion,
    Person,
    Submission,
    utcnow,
)
from leadcapture.privacy import rights
from leadcapture.web.context import get_services, get_session, use_language
from leadcapture.web.errors import page
from leadcapture.web.public.common import by_public_id, load_token, visitor

bp = Blueprint("preferences", __name__)


class PreferencesForm(FlaskForm):
    """Only the CSRF token; the pressed button names the action."""


def _person(token: str) -> Person:
    """The person the link names, in their language; InvalidLink once they are gone."""
    person = by_public_id(Person, load_token(PREFERENCES, token).person_public_id)
    use_language(person.language)
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
    consents = _consents(session, person)
    rows = [_row(session, c, utcnow()) for c in consents]
    offers = _offers(session, person)
    for row in rows:
        if row["state"] == WITHDRAWN and row["target"] in offers:
            row["optin"] = _offered(row["key"], offers.pop(row["target"]))
    given = {_target(c.brand_id, c.purpose_key) for c in consents}
    others = [
        {**_offered(target.partition(":")[2], version), "target": target, "brand_id": int(target.partition(":")[0])}
        for target, version in offers.items()
        if target not in given
    ]
    groups = _by_brand(session, rows, others)
    return render_template(
        "preferences.html", groups=groups, rows=rows, others=others, form=form, saved=saved, token=token
    )


def _target(brand_id: int, key: str) -> str:
    """A purpose of a brand as a button names it: audiences are per brand, so a key alone is not enough."""
    return f"{brand_id}:{key}"


def _parse_target(session: Session, person: Person, value: str) -> tuple[int, str] | None:
    """The (brand, purpose) a button names; a bare key (a page from before brands) names the person's only one."""
    brand, colon, key = value.partition(":")
    if colon:
        return (int(brand), key) if brand.isdigit() and key else None
    candidates = set(
        session.scalars(select(Consent.brand_id).where(Consent.person_id == person.id, Consent.purpose_key == value))
    )
    candidates |= {int(t.partition(":")[0]) for t in _offers(session, person) if t.partition(":")[2] == value}
    return (candidates.pop(), value) if len(candidates) == 1 else None


def _by_brand(session: Session, rows: list[dict[str, Any]], others: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The purposes grouped per brand (controller), in the order the brands were made."""
    ids = sorted({row["brand_id"] for row in [*rows, *others]})
    named = {b.id: b for b in session.scalars(select(Brand).where(Brand.id.in_(ids)))}
    return [
        {
            "brand": named[brand_id],
            "rows": [row for row in rows if row["brand_id"] == brand_id],
            "others": [other for other in others if other["brand_id"] == brand_id],
        }
        for brand_id in ids
        if brand_id in named
    ]


def _offers(session: Session, person: Person) -> dict[str, FormVersion]:
    """Each purpose of a brand ("<brand id>:<key>") the live versions of the person's forms offer, with the
    version whose wording is shown.

    The person's forms: those they submitted (the newest first names a purpose), then those of their
    consents (an imported one has no submission). Archived forms offer nothing.
    """
    submitted = session.execute(
        select(FormVersion.form_id)
        .join(Submission, Submission.form_version_id == FormVersion.id)
        .where(Submission.person_id == person.id)
        .group_by(FormVersion.form_id)
        .order_by(func.max(Submission.id).desc())
    ).scalars()
    consented = session.scalars(
        select(FormVersion.form_id)
        .join(Consent, Consent.form_version_id == FormVersion.id)
        .where(Consent.person_id == person.id)
    )
    offers: dict[str, FormVersion] = {}
    for form_id in dict.fromkeys([*submitted, *consented]):
        form = session.get(Form, form_id)
        if form is None or form.archived_at is not None or form.current_version is None:
            continue
        for purpose in form.current_version.definition["purposes"]:
            offers.setdefault(_target(form.brand_id, purpose["key"]), form.current_version)
    return offers


def _offered(key: str, version: FormVersion) -> dict[str, Any]:
    """A purpose the person may opt in to, in the exact wording the opt-in records."""
    purpose = version.purpose(key) or {}
    return {"key": key, "label": purpose.get("label"), "description": purpose.get("description")}


def _consents(session: Session, person: Person) -> list[Consent]:
    return list(
        session.scalars(
            select(Consent).where(Consent.person_id == person.id).order_by(Consent.brand_id, Consent.purpose_key)
        )
    )


def _act(session: Session, person: Person) -> str | None:
    """Carry out the pressed button; None if it names nothing this person can do."""
    services, now = get_services(), utcnow()
    if "withdraw" in request.form:
        action = request.form["withdraw"]
        target = None if action == "__all__" else _parse_target(session, person, action)
        if action != "__all__" and target is None:
            return None
        consent.withdraw(
            session,
            services.vault,
            services.settings,
            person,
            None if target is None else [target[1]],
            method="preference_centre",
            visitor=visitor(),
            brand_id=None if target is None else target[0],
        )
        done = gettext("Saved. Your choices take effect at once.")
    elif "renew" in request.form:
        target = _parse_target(session, person, request.form["renew"])
        row = _consent(session, person, *target) if target else None
        version = lifecycle.live_version(session, row) if row is not None else None
        if row is None or version is None or row.state not in (CONFIRMED, EXPIRED, UNVERIFIED):
            return None
        event = lifecycle.renew(session, services.vault, services.settings, row, version, visitor=visitor(), now=now)
        done = (
            gettext("Thank you: your permission is active again.")
            if event == "confirmed"
            else gettext("Thank you: we keep this permission.")
        )
    elif "optin" in request.form:
        target = _parse_target(session, person, request.form["optin"])
        if target is None:
            return None
        key = target[1]
        version = _offers(session, person).get(_target(*target))
        current = _consent(session, person, *target)
        if version is None or (current is not None and current.state != WITHDRAWN):
            return None  # not offered to this person, or given already (expired: "Yes, again" renews it)
        consent.opt_in(session, services.vault, services.settings, person, version, key, visitor=visitor(), now=now)
        done = gettext("Thank you: your permission is active.")
    else:
        return None
    lifecycle.record_activity(session, person, now)
    session.commit()
    return done


def _consent(session: Session, person: Person, brand_id: int, key: str) -> Consent | None:
    return session.scalar(
        select(Consent).where(Consent.person_id == person.id, Consent.brand_id == brand_id, Consent.purpose_key == key)
    )


def _row(session: Session, c: Consent, now: datetime) -> dict[str, Any]:
    agreed = c.form_version.purpose(c.purpose_key) or {}
    row: dict[str, Any] = {
        "key": c.purpose_key,
        "brand_id": c.brand_id,
        "target": _target(c.brand_id, c.purpose_key),
        "label": agreed.get("label", c.purpose_key),
        "state": c.state,
        "since": (c.withdrawn_at if c.state == WITHDRAWN else c.confirmed_at) or c.last_activity_at,
        "lapses": None,
        "offer": None,
        "optin": None,
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
    return render_template(
        "message.html",
        title=gettext("Your data is erased"),
        body=gettext("Done. We have deleted your data and will not email this address again."),
    )
