"""Brands in the admin: the controllers forms belong to, their sender, look, sales address and
supervisory authority. Admin role only; every change is audited."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from leadcapture.consent import brands, formdefs
from leadcapture.consent.brands import FIELDS, BrandError
from leadcapture.models import Brand, Form
from leadcapture.web.admin.auth import audit, bp, require
from leadcapture.web.context import get_session
from leadcapture.web.public.brand import forget_form_brands


def _values() -> dict[str, str]:
    return {key: request.form.get(key, "") for key in FIELDS}


def _logo() -> bytes | None:
    """The uploaded logo, read one byte past the limit so a larger file is refused, not cut."""
    upload = request.files.get("logo")
    if upload is None or not upload.filename:
        return None
    return upload.stream.read(brands.MAX_LOGO_BYTES + 1)


def _list_page(problems: list[str] | None = None, values: dict[str, str] | None = None, status: int = 200):
    session = get_session()
    rows = session.scalars(select(Brand).order_by(Brand.name)).all()
    counts = dict(session.execute(select(Form.brand_id, func.count()).group_by(Form.brand_id)).all())
    looks = {b.id: brands.look(b) for b in rows}
    return render_template(
        "admin/brands.html", rows=rows, counts=counts, looks=looks, problems=problems or [], values=values or {}
    ), status


@bp.get("/brands")
@require("brands")
def brands_list():
    """Every brand, and a form to add one."""
    return _list_page()


@bp.post("/brands")
@require("brands")
def brands_add():
    """Add a brand (with its logo, if one is uploaded)."""
    session = get_session()
    values = {"slug": request.form.get("slug", ""), **_values()}
    try:
        brand = brands.add(session, values)
        logo = _logo()
        if logo is not None:
            brands.set_logo(brand, logo)
    except BrandError as exc:
        session.rollback()
        return _list_page(exc.problems, values, 400)
    audit("brand.add", brand.slug)
    session.commit()
    flash(f"Brand {brand.name!r} added.")
    return redirect(url_for("admin.brand_edit", slug=brand.slug))


@bp.route("/brands/<slug>", methods=["GET", "POST"])
@require("brands")
def brand_edit(slug: str):
    """One brand's settings; a new controller text makes new versions of its forms."""
    session = get_session()
    brand = brands.by_slug(session, slug)
    if brand is None:
        abort(404)
    problems: list[str] = []
    if request.method == "POST":
        try:
            changed = brands.edit(session, brand, _values())
            logo = _logo()
            if logo is not None or request.form.get("remove_logo"):
                brands.set_logo(brand, logo)
                changed.append("logo")
            versions = formdefs.rebrand(session, brand) if "controller" in changed else []
        except BrandError as exc:
            session.rollback()
            problems = exc.problems
        else:
            if changed:
                audit("brand.edit", slug, changed=changed, new_form_versions=len(versions))
            session.commit()
            forget_form_brands()  # this process shows the change at once; others within BRAND_TTL
            flash(f"Saved: {', '.join(changed)}." if changed else "Nothing changed.")
            return redirect(url_for("admin.brand_edit", slug=slug))
    forms = session.scalars(select(Form).where(Form.brand_id == brand.id).order_by(Form.slug)).all()
    values = {key: request.form.get(key, "") for key in FIELDS} if problems else None
    return render_template(
        "admin/brand.html",
        b=brand,
        look=brands.look(brand),
        contrast=brands.contrast(brand.colour, brands.look(brand).text),
        forms=forms,
        problems=problems,
        values=values,
        max_logo_kb=brands.MAX_LOGO_BYTES // 1024,
    ), (400 if problems else 200)
