"""Brands: audiences per brand, every mail under its brand, lead notifications to sales, the CLI."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from leadcapture.consent import brands
from leadcapture.consent.formdefs import load_toml, save
from leadcapture.models import Brand, Consent, Form, Message
from tests.support.app import DEMO_FORM, html_part, links, path_of, submit, text_part
from tests.support.images import png
from tests.support.sql import statements_on

NEWS = """---
subject: Nieuws van {brand}
language: nl
---
Het laatste nieuws.
"""


def confirm_all(client, worker, mailbox, email, purposes, slug="sales-machine", **fields):
    """Submit a form and press "confirm all" in the mail, as the person would."""
    submit(client, email, purposes, slug=slug, **fields)
    worker.drain()
    link = re.search(r"bevestigen:\s*(\S+)", text_part(mailbox.to(email)[-1])).group(1)
    client.post(path_of(link))
    worker.drain()


@pytest.fixture
def config(config):
    """One person uses the forms of two brands in a row: each confirmation mail goes at once."""
    return {**config, "CONFIRMATION_WINDOW": 0}


@pytest.fixture
def two_brands(runner, services, demo_form):
    """The demo form (brand of its controller text) and a copy of it under a second brand, Acme."""
    result = runner.invoke(
        [
            *("brands", "add", "acme", "--name", "Acme Ltd"),
            *("--controller", "Acme Ltd, 1 Main Street, London, privacy@acme.example"),
            *("--sender-name", "Acme Whitepapers", "--sender-address", "papers@acme.example"),
            *("--reply-to", "hello@acme.example", "--sales-address", "sales@acme.example"),
            *("--colour", "#ffd700", "--authority-name", "Information Commissioner's Office"),
            *("--authority-url", "https://ico.org.uk"),
        ]
    )
    assert result.exit_code == 0, result.output
    definition, asset = load_toml(DEMO_FORM)
    definition.update(slug="acme-form", brand="acme", controller="")
    with services.db.session() as session:
        save(session, definition, asset)
        return {b.slug: b.id for b in session.scalars(select(Brand))}


def test_a_form_without_brand_joins_the_brand_of_its_controller_text(services, demo_form):
    with services.db.session() as session:
        (brand,) = session.scalars(select(Brand)).all()
        assert brand.controller == demo_form.definition["controller"] and brand.slug == "voorbeeld-b-v"
        assert session.get(Form, demo_form.form_id).brand_id == brand.id


def test_the_same_purpose_at_two_brands_is_two_audiences(
    client, runner, services, two_brands, worker, mailbox, tmp_path
):
    # Given Jan consents to the newsletter at the demo brand, Piet at Acme, and Kees at both
    confirm_all(client, worker, mailbox, "jan@example.com", ["newsletter"])
    confirm_all(client, worker, mailbox, "piet@example.com", ["newsletter"], slug="acme-form")
    confirm_all(client, worker, mailbox, "kees@example.com", ["newsletter"])
    confirm_all(client, worker, mailbox, "kees@example.com", ["newsletter"], slug="acme-form")
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Consent).where(Consent.purpose_key == "newsletter")) == 4
    (tmp_path / "news.md").write_text(NEWS.format(brand="Acme"))
    # When a campaign without a brand is made while there are two brands, it is refused with a clear line
    refused = runner.invoke(["campaigns", "create", "--purpose", "newsletter", str(tmp_path / "news.md")])
    assert refused.exit_code == 2 and "--brand" in refused.output
    # And one for Acme's newsletter is sent
    made = runner.invoke(
        ["campaigns", "create", "--purpose", "newsletter", "--brand", "acme", str(tmp_path / "news.md")]
    )
    assert made.exit_code == 0, made.output
    campaign_id = re.search(r"campaign (\d+) is a draft", made.output).group(1)
    assert runner.invoke(["campaigns", "send", campaign_id, "--no-wait"]).exit_code == 0
    worker.drain()
    # Then only Acme's audience gets it, from Acme's sender
    got = {m["To"] for m in mailbox.messages() if m["Subject"] == "Nieuws van Acme"}
    assert got == {"piet@example.com", "kees@example.com"}
    (msg,) = [m for m in mailbox.to("piet@example.com") if m["Subject"] == "Nieuws van Acme"]
    assert msg["From"] == "Acme Whitepapers <papers@acme.example>" and msg["Reply-To"] == "hello@acme.example"
    assert "Information Commissioner's Office" in text_part(msg) and "https://ico.org.uk" in text_part(msg)
    assert "background:#ffd700;color:#000000" in html_part(msg)  # gold takes black text (WCAG)
    # And Kees's one-click withdraws Acme's newsletter only: the demo brand may still mail him
    unsubscribe = re.search(
        r"<(\S+)>",
        [m for m in mailbox.to("kees@example.com") if m["Subject"] == "Nieuws van Acme"][0]["List-Unsubscribe"],
    ).group(1)
    assert client.post(path_of(unsubscribe), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    with services.db.session() as session:
        states = dict(
            session.execute(
                select(Brand.slug, Consent.state)
                .join(Brand, Brand.id == Consent.brand_id)
                .where(
                    Consent.person_id
                    == session.scalar(select(Consent.person_id).where(Consent.state == "withdrawn").limit(1))
                )
            ).all()
        )
    assert states == {"acme": "withdrawn", "voorbeeld-b-v": "confirmed"}


def test_the_admin_campaign_editor_offers_a_purpose_of_a_brand(client, services, two_brands, worker, mailbox):
    from tests.support.admin import signed_in

    confirm_all(client, worker, mailbox, "piet@example.com", ["newsletter"], slug="acme-form")
    admin = signed_in(client.application, services, "marketer")
    page = admin.get("/admin/campaigns/new").get_data(as_text=True)
    assert f'value="{two_brands["acme"]}:newsletter"' in page and "Acme Ltd / newsletter" in page
    assert "(1 person now)" in page and "(0 people now)" in page


def test_mail_uses_its_brand_and_the_default_sender_is_the_fallback(client, services, two_brands, worker, mailbox):
    submit(client, "jan@example.com", ["newsletter"])
    submit(client, "piet@example.com", ["newsletter"], slug="acme-form")
    worker.drain()
    (demo,) = mailbox.to("jan@example.com")
    (acme,) = mailbox.to("piet@example.com")
    assert demo["From"].addresses[0].addr_spec == "hallo@voorbeeld.nl" and demo["Reply-To"] is None  # MAIL_FROM
    assert acme["From"] == "Acme Whitepapers <papers@acme.example>" and acme["Reply-To"] == "hello@acme.example"
    assert "Acme Ltd, 1 Main Street" in text_part(acme) and "Autoriteit Persoonsgegevens" in text_part(demo)
    assert acme["Auto-Submitted"] == "auto-generated" and acme["List-Unsubscribe-Post"]


def test_a_confirmed_phone_purpose_mails_the_brand_sales_address_once(client, services, two_brands, worker, mailbox):
    # Given a person who asks Acme to call them and confirms
    confirm_all(
        client,
        worker,
        mailbox,
        "piet@example.com",
        ["call", "newsletter"],
        slug="acme-form",
        name="Piet Post",
        company="Post BV",
    )
    # Then Acme's sales address gets one notification with the lead's details and a link to the admin
    (lead,) = mailbox.to("sales@acme.example")
    assert lead["From"] == "Acme Whitepapers <papers@acme.example>" and lead["To"] == "sales@acme.example"
    assert lead["Auto-Submitted"] == "auto-generated" and lead["List-Unsubscribe"] is None
    assert lead["Cc"] is None and lead["Bcc"] is None and lead["Reply-To"] is None
    body = text_part(lead)
    assert "Piet Post" in body and "Post BV" in body and "+31 30 123 4567" in body
    assert "Jullie mogen mij bellen over sales outsourcing." in body and "acme-form" in body
    with services.db.session() as session:
        person_id = session.scalar(select(Consent.person_id).where(Consent.purpose_key == "call"))
        (row,) = session.scalars(select(Message).where(Message.kind == "lead")).all()
        assert row.person_id is None  # a bounce of the sales mailbox never suppresses the lead
    assert f"http://lc.test/admin/people/{person_id}" in links(lead)
    assert "piet@example.com" not in lead.as_string()  # nothing beyond what sales needs
    # When the confirmation is pressed again and the jobs run again, nothing more is sent
    link = re.search(r"bevestigen:\s*(\S+)", text_part(mailbox.to("piet@example.com")[0])).group(1)
    client.post(path_of(link))
    worker.drain()
    assert len(mailbox.to("sales@acme.example")) == 1
    # And a brand without a sales address gets none (the demo brand)
    confirm_all(client, worker, mailbox, "jan@example.com", ["call"])
    assert [m["To"] for m in mailbox.messages() if m["Subject"].startswith("Bellen")] == ["sales@acme.example"]


def test_the_lead_mail_is_not_sent_once_the_call_is_withdrawn_before_the_worker_runs(
    client, services, two_brands, worker, mailbox
):
    # Given a confirmed call whose notification job has not run yet
    submit(client, "piet@example.com", ["call"], slug="acme-form")
    worker.drain()
    confirmation = mailbox.to("piet@example.com")[-1]
    prefs = path_of(next(u for u in links(confirmation) if "/p/" in u))
    with worker.paused():
        client.post(path_of(re.search(r"bevestigen:\s*(\S+)", text_part(confirmation)).group(1)))
        # When the person withdraws it in the preference centre first
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(prefs).get_data(as_text=True))
        client.post(prefs, data={"csrf_token": token.group(1), "withdraw": f"{two_brands['acme']}:call"})
    worker.drain()
    # Then sales is not told (the gate runs at send time)
    assert mailbox.to("sales@acme.example") == []
    with services.db.session() as session:
        assert session.scalar(select(Message.status).where(Message.kind == "lead")) == "skipped"


def test_the_preference_centre_groups_purposes_per_brand(client, services, two_brands, worker, mailbox):
    confirm_all(client, worker, mailbox, "kees@example.com", ["newsletter"])
    confirm_all(client, worker, mailbox, "kees@example.com", ["newsletter"], slug="acme-form")
    prefs = next(u for u in links(mailbox.to("kees@example.com")[-1]) if "/p/" in u)
    page = client.get(path_of(prefs)).get_data(as_text=True)
    assert page.count('class="brand-heading"') == 2 and "Acme Ltd" in page and "Voorbeeld B.V." in page
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    acme = two_brands["acme"]
    assert f'name="withdraw" value="{acme}:newsletter"' in page
    # Withdrawing Acme's newsletter leaves the demo brand's
    client.post(path_of(prefs), data={"csrf_token": token.group(1), "withdraw": f"{acme}:newsletter"})
    with services.db.session() as session:
        states = dict(session.execute(select(Consent.brand_id, Consent.state)).all())
    assert states[acme] == "withdrawn" and sorted(states.values()) == ["confirmed", "withdrawn"]
    # A bare key that names two brands is refused, never guessed
    page = client.get(path_of(prefs)).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert client.post(path_of(prefs), data={"csrf_token": token.group(1), "optin": "newsletter"}).status_code == 400


def test_a_mail_shows_the_brand_logo_by_url_and_its_job_never_reads_the_logo_bytes(
    client, services, two_brands, worker, mailbox
):
    with services.db.session() as session:
        brands.set_logo(session.scalar(select(Brand).where(Brand.slug == "acme")), png())
    with statements_on(services.db.engine) as statements:
        submit(client, "piet@example.com", ["newsletter"], slug="acme-form")
        worker.drain()
    read = [s for s in statements if re.search(r"brands(_\d+)?\.logo\b(?!_)", s)]
    assert any("brands" in s for s in statements) and not read
    (mail,) = mailbox.to("piet@example.com")
    logo = re.search(r'<img src="([^"]+/b/acme/logo\?v=1)"', html_part(mail)).group(1)
    assert client.get(path_of(logo)).data == png()


def test_the_form_page_shows_the_brand_look_and_authority(client, services, two_brands):
    page = client.get("/f/acme-form").get_data(as_text=True)
    assert "Acme Ltd, 1 Main Street" in page and "Information Commissioner&#39;s Office" in page
    style = re.search(r'href="(/b/acme/style\.css[^"]*)"', page).group(1)
    css = client.get(style.replace("&amp;", "&"))
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert "--brand: #ffd700; --brand-text: #000000; --accent: #0b5cab" in css.get_data(as_text=True)
    demo = client.get("/f/sales-machine").get_data(as_text=True)
    assert "Autoriteit Persoonsgegevens" in demo
    assert client.get("/b/nobody/style.css").status_code == 404
    assert client.get("/b/acme/logo").status_code == 404  # no logo yet


def test_brands_cli_refuses_bad_input_with_clear_lines(runner, services, two_brands, tmp_path):
    bad = runner.invoke(
        ["brands", "add", "Bad Slug", "--name", "", "--controller", "x", "--colour", "red", "--sales-address", "no"]
    )
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    for fragment in ("slug must be", "name is required", "colour must look like", "sales_address is not an email"):
        assert fragment in bad.output
    assert runner.invoke(["brands", "add", "acme", "--name", "A", "--controller", "A"]).exit_code == 2
    missing = runner.invoke(["brands", "edit", "nobody", "--name", "X"])
    assert missing.exit_code == 1 and "no brand 'nobody'" in missing.output
    svg = tmp_path / "logo.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    refused = runner.invoke(["brands", "edit", "acme", "--logo", str(svg)])
    assert refused.exit_code == 2 and "SVG logos are refused" in refused.output
    header = runner.invoke(["brands", "edit", "acme", "--sender-name", "Evil\r\nBcc: x@example.com"])
    assert header.exit_code == 2 and "must be one line" in header.output
    listed = runner.invoke(["brands", "list"])
    assert "acme: Acme Ltd" in listed.output and "from: Acme Whitepapers <papers@acme.example>" in listed.output


def test_a_new_controller_text_makes_a_new_version_of_the_brand_forms(runner, services, two_brands):
    result = runner.invoke(["brands", "edit", "acme", "--controller", "Acme Ltd, 2 High Street, London"])
    assert result.exit_code == 0 and "form 'acme-form' now at version 2" in result.output
    with services.db.session() as session:
        form = session.scalar(select(Form).where(Form.slug == "acme-form"))
        assert form.current_version.definition["controller"] == "Acme Ltd, 2 High Street, London"
        assert form.current_version.number == 2


def test_a_form_naming_an_unknown_brand_is_not_imported(runner, tmp_path):
    source = DEMO_FORM.read_text().replace('slug = "sales-machine"', 'slug = "x"\nbrand = "nobody"')
    (tmp_path / "x.toml").write_text(source)
    (tmp_path / "sales-machine.pdf").write_bytes((DEMO_FORM.parent / "sales-machine.pdf").read_bytes())
    result = runner.invoke(["forms", "import", str(tmp_path / "x.toml")])
    assert result.exit_code == 2 and "brand 'nobody' does not exist" in result.output


def test_who_may_we_contact_is_per_brand_in_the_admin_and_the_api(app, client, services, two_brands, worker, mailbox):
    from tests.support.admin import signed_in

    confirm_all(client, worker, mailbox, "jan@example.com", ["newsletter"])
    confirm_all(client, worker, mailbox, "piet@example.com", ["newsletter"], slug="acme-form")
    admin = signed_in(app, services, "admin")
    page = admin.get("/admin/contacts/").get_data(as_text=True)
    assert "Acme Ltd" in page and "/admin/contacts/newsletter/email.csv?brand=acme" in page
    acme_csv = admin.get("/admin/contacts/newsletter/email.csv?brand=acme").get_data(as_text=True)
    assert "piet@example.com" in acme_csv and "jan@example.com" not in acme_csv
    assert admin.get("/admin/contacts/newsletter/email.csv?brand=nobody").status_code == 404
    # The API answers per brand when asked, and refuses a brand that does not exist
    scopes = {"scope_may-contact:read": "y", "scope_contacts:read": "y"}
    created = admin.post("/admin/tokens", {"action": "create", "name": "CRM", **scopes}).get_data(as_text=True)
    token = re.search(r'id="new-token">([^<]+)<', created).group(1)
    headers = {"Authorization": f"Bearer {token}"}
    listed = client.get("/api/v1/contacts?purpose=newsletter&channel=email&brand=acme", headers=headers).get_json()
    assert [c["email"] for c in listed["contacts"]] == ["piet@example.com"]
    ask = {"email": "piet@example.com", "purpose": "newsletter"}
    assert client.post("/api/v1/may-contact", json={**ask, "brand": "acme"}, headers=headers).get_json()["may_contact"]
    other = client.post("/api/v1/may-contact", json={**ask, "brand": "voorbeeld-b-v"}, headers=headers).get_json()
    assert other["may_contact"] is False
    unknown = client.post("/api/v1/may-contact", json={**ask, "brand": "nobody"}, headers=headers)
    assert unknown.status_code == 400 and "no brand 'nobody'" in unknown.get_json()["error"]
