"""Brands in the admin: add with a logo, refuse bad settings with reasons, edit, every change audited."""

from __future__ import annotations

import io

from sqlalchemy import select

from leadcapture.models import AuditEntry, Brand, Form
from tests.support.admin import signed_in
from tests.support.images import png

ACME = {
    "slug": "acme",
    "name": "Acme Ltd",
    "controller": "Acme Ltd, 1 Main Street, London",
    "sender_name": "",
    "sender_address": "papers@acme.example",
    "reply_to": "",
    "sales_address": "sales@acme.example",
    "colour": "#ffd700",
    "authority_name": "",
    "authority_url": "",
}


def audited(services) -> list[tuple[str, str]]:
    with services.db.session() as session:
        return [
            (e.action, e.target) for e in session.scalars(select(AuditEntry).where(AuditEntry.action.like("brand.%")))
        ]


def test_an_admin_adds_a_brand_with_a_logo_served_from_our_origin(app, services, demo_form):
    admin = signed_in(app, services, "admin")
    response = admin.post("/admin/brands", {**ACME, "logo": (io.BytesIO(png()), "logo.png")})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/brands/acme")
    logo = admin.get("/b/acme/logo?v=1")
    assert logo.status_code == 200 and logo.mimetype == "image/png" and logo.data == png()
    assert logo.headers["X-Content-Type-Options"] == "nosniff"
    page = admin.get("/admin/brands").get_data(as_text=True)
    assert "Acme Ltd" in page and "with black text" in page
    assert audited(services) == [("brand.add", "acme")]


def test_bad_settings_and_svg_logos_are_refused_with_reasons(app, services, demo_form):
    admin = signed_in(app, services, "admin")
    bad = admin.post("/admin/brands", {**ACME, "colour": "gold", "sales_address": "sales"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "colour must look like" in text and "sales_address is not an email" in text
    assert 'value="gold"' in text  # what was typed stays
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    refused = admin.post("/admin/brands", {**ACME, "logo": (io.BytesIO(svg), "logo.svg")})
    assert refused.status_code == 400 and "SVG logos are refused" in refused.get_data(as_text=True)
    with services.db.session() as session:
        assert session.scalar(select(Brand).where(Brand.slug == "acme")) is None
    assert audited(services) == []


def test_editing_a_brand_is_audited_and_a_new_controller_text_versions_its_forms(app, services, demo_form):
    admin = signed_in(app, services, "admin")
    with services.db.session() as session:
        brand = session.scalars(select(Brand)).one()
        values = {key: getattr(brand, key) for key in ACME if key != "slug"}
        slug = brand.slug
    same = admin.post(f"/admin/brands/{slug}", values)
    assert same.status_code == 302 and audited(services) == []  # nothing changed, nothing to audit
    changed = admin.post(f"/admin/brands/{slug}", {**values, "controller": "Voorbeeld B.V., Utrecht"})
    assert changed.status_code == 302
    assert audited(services) == [("brand.edit", slug)]
    assert "Voorbeeld B.V., Utrecht" in admin.get("/f/sales-machine").get_data(as_text=True)
    with services.db.session() as session:
        assert session.scalar(select(Form).where(Form.slug == "sales-machine")).current_version.number == 2
    assert admin.get("/admin/brands/nobody").status_code == 404


def test_the_form_editor_puts_a_form_under_a_brand(app, services, demo_form):
    from tests.functional.admin.test_forms import editor_data

    admin = signed_in(app, services, "admin")
    assert admin.post("/admin/brands", ACME).status_code == 302
    page = admin.get("/admin/forms/new").get_data(as_text=True)
    assert '<option value="acme">Acme Ltd (acme)</option>' in page
    # A controller other than the brand's is refused with the reason
    other = admin.post("/admin/forms/new", editor_data(brand="acme"))
    assert other.status_code == 400 and "controller differs from brand" in other.get_data(as_text=True)
    # Left empty, the brand's controller text is used and kept in the version
    saved = admin.post("/admin/forms/new", editor_data(brand="acme", controller=""))
    assert saved.status_code == 302
    with services.db.session() as session:
        form = session.scalar(select(Form).where(Form.slug == "webinar"))
        assert form.brand.slug == "acme" and form.current_version.definition["controller"] == ACME["controller"]
    assert admin.post("/admin/forms/new", editor_data(slug="x", controller="")).status_code == 400  # no brand: required
