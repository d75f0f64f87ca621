"""hardening: confirmation window per mailbox, page URLs without query, one form of admin emails

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from alembic import op
from email_validator import EmailNotValidError, validate_email

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The window moves from each address to its mailbox (every +tag spelling shares one). Open
    # windows are not carried over: they last minutes, and the index needs the data key.
    op.create_table(
        "mailbox_windows",
        sa.Column("mailbox_index", sa.String(length=64), nullable=False),
        sa.Column("last_confirmation_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("mailbox_index"),
    )
    # Not batch mode: on SQLite that rebuilds `people`, and dropping the old table with foreign
    # keys on would cascade to every submission and consent. ALTER TABLE DROP COLUMN needs SQLite 3.35.
    op.drop_column("people", "last_confirmation_at")
    connection = op.get_bind()
    _strip_page_url_queries(connection)
    _normalise_admin_emails(connection)


def downgrade() -> None:
    op.add_column("people", sa.Column("last_confirmation_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_table("mailbox_windows")


def _strip_page_url_queries(connection) -> None:
    """Stored page URLs lose their query, fragment and user info, as new ones are stored."""
    rows = connection.execute(
        sa.text(
            "SELECT id, page_url FROM submissions"
            " WHERE page_url LIKE '%?%' OR page_url LIKE '%#%' OR page_url LIKE '%@%'"
        )
    ).all()
    for row_id, url in rows:
        try:
            parts = urlsplit(url)
            clean = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
        except ValueError:
            clean = url.split("?", 1)[0].split("#", 1)[0]
        connection.execute(
            sa.text("UPDATE submissions SET page_url = :url WHERE id = :id"), {"url": clean or None, "id": row_id}
        )


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text.strip()).casefold())


def _normalise_admin_emails(connection) -> None:
    """Account emails take the form sign-in now looks up (NFKC, case-folded); a clash keeps the old form."""
    rows = connection.execute(sa.text("SELECT id, email FROM admin_users")).all()
    taken = {email for _id, email in rows}
    for user_id, email in rows:
        try:
            new = _fold(validate_email(_fold(email), check_deliverability=False).normalized)
        except EmailNotValidError:
            continue
        if new != email and new not in taken:
            connection.execute(sa.text("UPDATE admin_users SET email = :e WHERE id = :id"), {"e": new, "id": user_id})
            taken.add(new)
