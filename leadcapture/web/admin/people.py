"""Admin people (lookup, proof of consent, export, erasure) and "who may we contact" CSV exports."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from leadcapture.backoffice.contacts import contact_rows
from leadcapture.consent import brands
from leadcapture.consent.formdefs import CHANNELS
from leadcapture.consent.gates import contactable
from leadcapture.consent.people import AddressError, find_person, valid_address
from leadcapture.crypto import normalise_email
from leadcapture.models import Brand, Consent, Person, Suppression
from leadcapture.privacy import rights
from leadcapture.web.admin.auth import audit, bp, download, require
from leadcapture.web.context import get_services, get_session

PROOF_SCHEMA = "leadcapture.proof-of-consent/1"


def _person(person_id: int) -> Person:
    person = get_session().get(Person, person_id)
    if person is None:
        abort(404)
    return person


def _json_download(data: dict[str, Any], filename: str) -> Response:
    return download(json.dumps(data, indent=2, ensure_ascii=False), "application/json", filename)


def _exported(person_id: int, action: str, **detail: Any) -> dict[str, Any]:
    """The person's export, the access written to the audit log."""
    data = rights.export_person(get_session(), get_services().vault, _person(person_id))
    audit(action, f"person {person_id}", **detail)
    get_session().commit()
    return data


def proof_of(export: dict[str, Any]) -> dict[str, Any]:
    """The proof-of-consent part of an export: who, each purpose's notice and events, the ledger."""
    return {
        "schema": PROOF_SCHEMA,
        "generated_at": export["generated_at"],
        "subject": {"email": export["subject"]["email"]},
        "consents": export["consents"],
        "ledger": export["ledger"],
    }


@bp.route("/people/", methods=["GET", "POST"])
@require("people")
def people():
    """Look a person up by email address (a POST: addresses stay out of URLs and logs)."""
    email = ""
    if request.method == "POST":
        email = request.form.get("email", "").strip()[:254]
        person = find_person(get_session(), get_services().vault, email) if email else None
        if person is not None:
            return redirect(url_for("admin.person", person_id=person.id))
        suppressed = bool(email) and get_session().get(
            Suppression, get_services().vault.blind_index(normalise_email(email))
        )
        nothing = "We hold nothing for that address."
        try:
            valid_address(email)
        except AddressError as exc:  # looked up as typed all the same: such an address may predate the rule
            if exc.suggestion:
                nothing += f" It {exc}."
        flash("That address was erased and is suppressed." if suppressed else nothing, "error")
    return render_template("admin/people.html", email=email)


@bp.get("/people/<int:person_id>")
@require("people")
def person(person_id: int):
    """Everything about one person: details, every purpose with its proof, submissions."""
    data = rights.export_person(get_session(), get_services().vault, _person(person_id))
    return render_template("admin/person.html", person_id=person_id, data=data)


@bp.get("/people/<int:person_id>/proof.json")
@require("people")
def proof_json(person_id: int):
    """Proof of consent as JSON."""
    data = _exported(person_id, "person.proof", format="json")
    return _json_download(proof_of(data), f"proof-of-consent-{person_id}.json")


@bp.get("/people/<int:person_id>/proof")
@require("people")
def proof_html(person_id: int):
    """Proof of consent as a printable page."""
    data = _exported(person_id, "person.proof", format="html")
    return render_template("admin/proof.html", person_id=person_id, data=proof_of(data))


@bp.get("/people/<int:person_id>/export.json")
@require("people")
def person_export(person_id: int):
    """All data held about the person (access and portability, Art. 15 and 20)."""
    data = _exported(person_id, "person.export")
    return _json_download(data, f"person-{person_id}.json")


@bp.route("/people/<int:person_id>/erase", methods=["GET", "POST"])
@require("erase")
def person_erase(person_id: int):
    """Erase a person after typing their address to confirm; the ledger stays verifiable."""
    target = _person(person_id)
    services = get_services()
    email = services.vault.decrypt(target.email_enc)
    error = None
    if request.method == "POST":
        typed = request.form.get("confirm_email", "").strip()
        if typed and normalise_email(typed) == normalise_email(email):
            counts = rights.erase_person(
                get_session(), services.vault, target, method="admin", forget_mail=services.forget_mail
            )
            audit("person.erase", f"person {person_id}", **counts)
            get_session().commit()
            flash(f"Erased person {person_id}: their data is gone and the address is suppressed.")
            return redirect(url_for("admin.people"))
        error = "The address you typed does not match. Nothing was erased."
    status = 400 if error else 200
    return render_template("admin/erase.html", person_id=person_id, email=email, error=error), status


@bp.get("/contacts/")
@require("contacts")
def contacts():
    """Each purpose and channel with the number of people we may contact now."""
    stmt = (
        select(Brand.slug, Brand.name, Consent.purpose_key, Consent.channel, func.count())
        .join(Person, Consent.person_id == Person.id)
        .join(Brand, Brand.id == Consent.brand_id)
        .where(contactable())
        .group_by(Brand.slug, Brand.name, Consent.purpose_key, Consent.channel)
        .order_by(Brand.name, Consent.purpose_key, Consent.channel)
    )
    rows = get_session().execute(stmt).all()
    return render_template("admin/contacts.html", rows=rows)


@bp.get("/contacts/<purpose>/<channel>.csv")
@require("contacts")
def contacts_csv(purpose: str, channel: str):
    """People with a current consent for this purpose and channel (of the brand ?brand=, else of any), as CSV."""
    if channel not in CHANNELS or not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", purpose):
        abort(404)
    slug = request.args.get("brand")
    brand = brands.by_slug(get_session(), slug) if slug else None
    if slug and brand is None:
        abort(404)
    audit("contacts.export", f"{purpose}/{channel}", **({"brand": slug} if slug else {}))
    get_session().commit()
    rows = contact_rows(get_services(), purpose, channel, brand_id=brand.id if brand else None)
    response = Response(rows, mimetype="text/csv")
    name = f"contacts-{slug}-{purpose}-{channel}" if slug else f"contacts-{purpose}-{channel}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response
