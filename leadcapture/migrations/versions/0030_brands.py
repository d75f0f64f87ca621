"""brands: forms belong to a brand (controller); consents and campaigns are per brand

Existing forms get one brand per distinct controller text of their live version: two forms that
name the same controller are one brand, two controllers are never merged into one audience.
Existing consents belong to the brand of the form whose version they point at.

Revision ID: 0030_brands
Revises: 0015_bounces
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from leadcapture.models.base import UTCDateTime

revision = "0030_brands"
down_revision = "0015_bounces"
branch_labels = None
depends_on = None

# Unnamed constraints reflected from SQLite get these names, so the batch rebuild can drop them.
_NAMES = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}


def upgrade() -> None:
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    op.create_table(
        "brands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("controller", sa.String(length=500), nullable=False),
        sa.Column("sender_name", sa.String(length=200), nullable=False),
        sa.Column("sender_address", sa.String(length=254), nullable=False),
        sa.Column("reply_to", sa.String(length=254), nullable=False),
        sa.Column("sales_address", sa.String(length=254), nullable=False),
        sa.Column("colour", sa.String(length=7), nullable=False),
        sa.Column("authority_name", sa.String(length=200), nullable=False),
        sa.Column("authority_url", sa.Text(), nullable=False),
        sa.Column("logo", sa.LargeBinary(), nullable=True),
        sa.Column("logo_type", sa.String(length=32), nullable=True),
        sa.Column("logo_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.add_column("forms", sa.Column("brand_id", sa.Integer(), nullable=True))
    op.add_column("consents", sa.Column("brand_id", sa.Integer(), nullable=True))
    op.add_column("campaigns", sa.Column("brand_id", sa.Integer(), nullable=True))
    _brand_existing_forms(connection)
    connection.execute(
        sa.text(
            "UPDATE consents SET brand_id = (SELECT f.brand_id FROM form_versions v JOIN forms f ON f.id = v.form_id"
            " WHERE v.id = consents.form_version_id)"
        )
    )
    # A campaign reached a purpose across every form; it keeps the brand of the forms that asked it most.
    connection.execute(
        sa.text(
            "UPDATE campaigns SET brand_id = (SELECT c.brand_id FROM consents c WHERE c.purpose_key = campaigns.purpose_key"
            " GROUP BY c.brand_id ORDER BY COUNT(*) DESC, c.brand_id LIMIT 1)"
        )
    )
    if connection.execute(sa.text("SELECT COUNT(*) FROM campaigns WHERE brand_id IS NULL")).scalar():
        default = connection.execute(sa.text("SELECT MIN(id) FROM brands")).scalar() or _new_brand(connection, "", set())
        connection.execute(sa.text("UPDATE campaigns SET brand_id = :brand WHERE brand_id IS NULL"), {"brand": default})
    with op.batch_alter_table("forms", recreate="always" if sqlite else "auto") as batch_op:
        batch_op.alter_column("brand_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index("ix_forms_brand_id", ["brand_id"])
        batch_op.create_foreign_key("fk_forms_brand", "brands", ["brand_id"], ["id"])
    with op.batch_alter_table(
        "consents",
        recreate="always" if sqlite else "auto",
        naming_convention=_NAMES,
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch_op:
        batch_op.alter_column("brand_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint(
            "uq_consents_person_id_purpose_key" if sqlite else "consents_person_id_purpose_key_key", type_="unique"
        )
        batch_op.create_unique_constraint("uq_consents_person_brand_purpose", ["person_id", "brand_id", "purpose_key"])
        batch_op.create_index("ix_consents_brand_id", ["brand_id"])
        batch_op.create_foreign_key("fk_consents_brand", "brands", ["brand_id"], ["id"])
    with op.batch_alter_table("campaigns", recreate="always" if sqlite else "auto") as batch_op:
        batch_op.alter_column("brand_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key("fk_campaigns_brand", "brands", ["brand_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch_op:
        batch_op.drop_constraint("fk_campaigns_brand", type_="foreignkey")
        batch_op.drop_column("brand_id")
    with op.batch_alter_table("consents", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_constraint("fk_consents_brand", type_="foreignkey")
        batch_op.drop_index("ix_consents_brand_id")
        batch_op.drop_constraint("uq_consents_person_brand_purpose", type_="unique")
        batch_op.create_unique_constraint("consents_person_id_purpose_key_key", ["person_id", "purpose_key"])
        batch_op.drop_column("brand_id")
    with op.batch_alter_table("forms") as batch_op:
        batch_op.drop_constraint("fk_forms_brand", type_="foreignkey")
        batch_op.drop_index("ix_forms_brand_id")
        batch_op.drop_column("brand_id")
    op.drop_table("brands")


def slugify(text: str) -> str:
    """A brand slug from a controller's name: ascii lower-case words joined by dashes."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:56].strip("-") or "brand"


def _brand_existing_forms(connection) -> None:
    rows = connection.execute(
        sa.text(
            "SELECT f.id, v.definition_json FROM forms f LEFT JOIN form_versions v ON v.id = f.current_version_id"
            " ORDER BY f.id"
        )
    ).all()
    brands: dict[str, int] = {}
    slugs: set[str] = set()
    for form_id, definition_json in rows:
        controller = (json.loads(definition_json).get("controller", "") if definition_json else "").strip()
        if controller not in brands:
            brands[controller] = _new_brand(connection, controller, slugs)
        connection.execute(
            sa.text("UPDATE forms SET brand_id = :brand WHERE id = :form"), {"brand": brands[controller], "form": form_id}
        )


def _new_brand(connection, controller: str, slugs: set[str]) -> int:
    """A brand named after the controller text's first part (its name), with a slug not taken yet."""
    name = controller.split(",")[0].strip() or "Default"
    slug = base = slugify(name)
    number = 1
    while slug in slugs:
        number += 1
        slug = f"{base}-{number}"
    slugs.add(slug)
    now = datetime.now(UTC)
    return connection.execute(
        sa.insert(_brands)
        .values(
            slug=slug,
            name=name[:200],
            controller=controller[:500] or "Default",
            sender_name="",
            sender_address="",
            reply_to="",
            sales_address="",
            colour="#1f4e79",
            authority_name="Autoriteit Persoonsgegevens",
            authority_url="https://www.autoriteitpersoonsgegevens.nl",
            logo_version=0,
            created_at=now,
            updated_at=now,
        )
        .returning(_brands.c.id)
    ).scalar_one()


_brands = sa.table(
    "brands",
    *(
        sa.column(name)
        for name in (
            "id",
            "slug",
            "name",
            "controller",
            "sender_name",
            "sender_address",
            "reply_to",
            "sales_address",
            "colour",
            "authority_name",
            "authority_url",
            "logo_version",
        )
    ),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
