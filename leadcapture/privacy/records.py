"""Records of processing activities (GDPR Art. 30(1)), generated from the forms and settings.

`build(session, settings)` returns a plain dict (the admin can show it); `to_markdown`,
`to_html` and `to_json` render it. Nothing here is typed in by hand except what cannot be
known from the configuration, which the register says in so many words.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadcapture.consent.customfields import fields_of
from leadcapture.consent.formdefs import asked_fields
from leadcapture.models import Form, WebhookEndpoint, utcnow
from leadcapture.settings import Settings

SCHEMA = "leadcapture.art30-register/1"

LEGAL_BASES = {
    "consent": "consent, GDPR Art. 6(1)(a); for electronic marketing also Telecommunicatiewet art. 11.7",
    "contract": "request of the data subject / contract, GDPR Art. 6(1)(b)",
    "legitimate_interest": "legitimate interest, GDPR Art. 6(1)(f)",
}
FIELD_CATEGORIES = {"name": "name", "company": "company (employer)", "phone": "phone number"}


def build(session: Session, settings: Settings) -> dict[str, Any]:
    """The register as a dict: controllers, activities per form and purpose, recipients, etc."""
    forms = session.scalars(select(Form).order_by(Form.slug)).all()
    controllers: list[str] = []
    activities = []
    for form in forms:
        version = form.current_version
        if version is None:
            continue
        d = version.definition
        if d["controller"] not in controllers:
            controllers.append(d["controller"])
        data = ["email address", *(FIELD_CATEGORIES.get(f, f) for f in asked_fields(d))]
        data += [f"answer to {q['label']!r}" for q in fields_of(d)]
        data.append("referring page (origin and path)")
        technical = _technical_data(settings)
        activities.append(
            {
                "name": f"Deliver the content of form {d['slug']!r} ({d['title']})",
                "form": d["slug"],
                "form_version": version.number,
                "archived": form.archived_at is not None,
                "controller": d["controller"],
                "purpose": "send the requested whitepaper after double opt-in",
                "legal_basis": LEGAL_BASES["contract"],
                "data_subjects": "business contacts who request content through the form",
                "data_categories": [*data, *technical],
                "retention": _unconfirmed_retention(settings)
                + "; the delivery record as long as the ledger (proof of request)",
                "privacy_notice": d["privacy_url"],
            }
        )
        for p in d["purposes"]:
            basis = p.get("legal_basis", "consent")
            activities.append(
                {
                    "name": p["label"],
                    "form": d["slug"],
                    "form_version": version.number,
                    "archived": form.archived_at is not None,
                    "controller": d["controller"],
                    "purpose_key": p["key"],
                    "purpose": p.get("description") or p["label"],
                    "channel": p.get("channel", "email"),
                    "legal_basis": LEGAL_BASES.get(basis, basis),
                    "data_subjects": "business contacts who ticked this purpose and confirmed it",
                    "data_categories": [*data, *technical, "consent record (wording, time, method)"],
                    "retention": (
                        f"consent lapses {p.get('retention_months', 24)} months after the last activity "
                        "(confirmation, renewal, preference-centre action), with a re-permission email one "
                        "month before; withdrawn, expired or erased consents stop all sending at once"
                    ),
                    "privacy_notice": d["privacy_url"],
                }
            )
    return {
        "schema": SCHEMA,
        "generated_at": utcnow().isoformat(timespec="seconds"),
        "controllers": controllers,
        "activities": activities,
        "recipients": _recipients(session, settings),
        "transfers": (
            "None by the application. Check where the processors listed under recipients store data; "
            "any transfer outside the EEA needs an adequacy decision or SCCs (Art. 44-46)."
        ),
        "retention": {
            "unconfirmed_requests": _unconfirmed_retention(settings),
            "consents": "per purpose: retention_months after the last activity, then expired",
            "ledger": (
                "consent events are kept as proof for as long as claims are possible; on erasure their "
                "personal payload is deleted and only hashes remain"
            ),
            "suppression_list": "keyed hashes of erased or blocked addresses, kept so they are never mailed",
            "message_log": "kind, status and Message-ID per email sent; detached from the person on erasure",
            "jobs": "published outbox jobs (ids only) are deleted after 7 days",
        },
        "security_measures": _security(settings),
        "rights": (
            "access and portability (`leadcapture people export`), erasure (`leadcapture people erase` and "
            "the preference centre), withdrawal (one click in every email, preference centre), objection, "
            "complaint to the Autoriteit Persoonsgegevens"
        ),
    }


def _technical_data(settings: Settings) -> list[str]:
    mode = settings.ip_minimisation
    ip = {"full": "IP address", "truncate": "IP address truncated to /24 (IPv6 /48)", "none": None}.get(mode)
    return [x for x in (ip, "browser user agent", "page URL of the form") if x]


def _unconfirmed_retention(settings: Settings) -> str:
    return f"unconfirmed requests are deleted after {settings.unconfirmed_retention_days} days"


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.hostname or url


def _recipients(session: Session, settings: Settings) -> list[dict[str, str]]:
    found = []
    if settings.mail_url:
        found.append({"name": f"mail relay {_host(settings.mail_url)}", "role": "processor: delivers our emails"})
    else:
        found.append({"name": "local mail outbox (development)", "role": "no recipient outside this machine"})
    if settings.broker_url:
        found.append(
            {"name": f"job broker {_host(settings.broker_url)}", "role": "carries job ids only, no personal data"}
        )
    for endpoint in session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)):
        data = "ids, purposes and email addresses" if endpoint.personal_data else "ids and purposes, no addresses"
        state = "" if endpoint.enabled else " (disabled)"
        found.append(
            {
                "name": f"webhook endpoint {_host(endpoint.url)}{state}",
                "role": f"receives {', '.join(endpoint.event_types)}: {data}",
            }
        )
    # Receivers declared in the setting (before endpoints were managed in the admin) stay listed.
    for url in settings.crm_webhook_urls.split(","):
        if url.strip():
            found.append({"name": f"CRM webhook {_host(url.strip())}", "role": "receives consent changes"})
    return found


def _security(settings: Settings) -> list[str]:
    return [
        "email, name, company, phone, IP, user agent, submitted fields and ledger payloads are encrypted at "
        "rest with AES-256-GCM (keys from LEADCAPTURE_DATA_KEY, rotated with `leadcapture keys rotate`)",
        "addresses are looked up by a keyed HMAC-SHA256 blind index, never by plaintext",
        "the consent ledger is append-only and chained with HMAC-SHA256 under a key kept outside the database; "
        "its signed head is anchored outside the system (`leadcapture ledger verify --anchor`)",
        f"IP addresses are minimised ({settings.ip_minimisation}) before storing",
        "links in emails are signed tokens; links never act on GET; forms carry CSRF tokens",
        "HTTPS with HSTS is enforced (production)"
        if settings.production
        else "HTTPS with HSTS is required once LEADCAPTURE_ENV=production",
        "access: operators with server access (CLI); admin users with roles and an audit trail",
        "jobs carry ids only; logs carry no personal data",
    ]


def to_json(register: dict[str, Any]) -> str:
    """The register as indented JSON."""
    return json.dumps(register, indent=2, ensure_ascii=False)


def to_markdown(register: dict[str, Any]) -> str:
    """The register as Markdown."""
    out = ["# Records of processing activities (GDPR Art. 30)", "", f"Generated {register['generated_at']}.", ""]
    out += ["## Controller", "", *(f"- {c}" for c in register["controllers"] or ["(no forms imported)"]), ""]
    out += ["## Processing activities", ""]
    for a in register["activities"]:
        out += [f"### {a['name']}", ""]
        if a["archived"]:
            out += ["*(form archived; existing consents still apply)*", ""]
        rows = [
            ("Form", f"{a['form']} (version {a['form_version']})"),
            ("Purpose", a["purpose"] + (f" [{a['purpose_key']}, by {a['channel']}]" if "purpose_key" in a else "")),
            ("Legal basis", a["legal_basis"]),
            ("Data subjects", a["data_subjects"]),
            ("Personal data", ", ".join(a["data_categories"])),
            ("Retention", a["retention"]),
            ("Privacy notice", a["privacy_notice"]),
        ]
        out += [f"- **{k}:** {v}" for k, v in rows] + [""]
    out += ["## Recipients", "", *(f"- {r['name']}: {r['role']}" for r in register["recipients"]), ""]
    out += ["## Transfers outside the EEA", "", register["transfers"], ""]
    out += ["## Retention", "", *(f"- **{k.replace('_', ' ')}:** {v}" for k, v in register["retention"].items())]
    out += ["", "## Security measures (Art. 32)", "", *(f"- {m}" for m in register["security_measures"]), ""]
    out += ["## Rights of data subjects", "", register["rights"], ""]
    return "\n".join(out)


_HTML = jinja2.Environment(autoescape=True, loader=jinja2.PackageLoader("leadcapture", "templates"))


def to_html(register: dict[str, Any]) -> str:
    """The register as a standalone, printable HTML page."""
    return _HTML.get_template("register.html").render(r=register)
