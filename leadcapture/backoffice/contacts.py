"""Who may we contact: people with a current consent for a purpose and channel, as CSV or pages."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from leadcapture.consent.gates import contactable
from leadcapture.models import Consent, Form, FormVersion, Person

CSV_COLUMNS = (
    "email",
    "name",
    "company",
    "phone",
    "purpose",
    "channel",
    "consented_at",
    "form",
    "form_version",
    "form_version_hash",
)
COLUMNS = (
    Person.email_enc,
    Person.name_enc,
    Person.company_enc,
    Person.phone_enc,
    Consent.confirmed_at,
    Form.slug,
    FormVersion.number,
    FormVersion.content_hash,
)


def contact_query(purpose: str, channel: str, *columns: Any, brand_id: int | None = None) -> Any:
    """Consents that allow contact now (of one brand's audience, if given): confirmed, address not suppressed."""
    return (
        select(*columns)
        .select_from(Consent)
        .join(Person, Consent.person_id == Person.id)
        .where(contactable(purpose, channel, brand_id))
    )


def contact_details(purpose: str, channel: str, brand_id: int | None = None) -> Any:
    """The columns the exports show, in consent order (the id is the keyset for paging)."""
    return (
        contact_query(purpose, channel, Consent.id, *COLUMNS, brand_id=brand_id)
        .join(FormVersion, Consent.form_version_id == FormVersion.id)
        .join(Form, FormVersion.form_id == Form.id)
        .order_by(Consent.id)
    )


def decrypt_row(vault: Any, row: Any) -> dict[str, Any]:
    """One exported person, decrypted."""
    _id, email, name, company, phone, at, slug, number, chash = row
    return {
        "email": vault.decrypt(email),
        "name": vault.decrypt(name),
        "company": vault.decrypt(company),
        "phone": vault.decrypt(phone),
        "consented_at": at.isoformat() if at else None,
        "form": slug,
        "form_version": number,
        "form_version_hash": chash,
    }


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def contact_rows(
    services: Any,
    purpose: str,
    channel: str,
    batch: int = 1000,
    chunk_bytes: int = 64 * 1024,
    brand_id: int | None = None,
) -> Iterator[str]:
    """The CSV, a chunk at a time, from its own session; rows are fetched and decrypted in batches."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    stmt = contact_details(purpose, channel, brand_id).execution_options(yield_per=batch)
    with services.db.sessionmaker() as session:
        for row in session.execute(stmt):
            person = decrypt_row(services.vault, row)
            writer.writerow(
                [csv_cell(person[c]) for c in ("email", "name", "company", "phone")]
                + [purpose, channel, person["consented_at"] or ""]
                + [person[c] for c in ("form", "form_version", "form_version_hash")]
            )
            if buffer.tell() > chunk_bytes:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()
