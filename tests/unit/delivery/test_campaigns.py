"""Campaign messages on the wire: the fast serialisation, and SMTP failures without duplicates."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest
from sqlalchemy import select

from leadcapture.delivery import campaigns, content
from leadcapture.delivery.mail import TransientMailError
from leadcapture.delivery.outgoing import ContentRenderer, WireMessage
from leadcapture.models import Campaign, ContentItem, Person
from tests.support.people import add_person, progress
from tests.support.settings import reconfigure

LONG = "Eén voorspelbare pijplijn begint bij de klanten die je al hebt; bel ze vóór je concurrent het doet. " * 5
BODY = f"---\nsubject: Één tip voor december — €0\nlanguage: nl\n---\n# Tip\n\n{LONG}\n\n[Lees meer](https://example.com/x)\n"


def make_campaign(services) -> tuple[int, int]:
    with services.db.session() as session:
        item = content.create_item(session, "newsletter", [content.parse(BODY)])
        return item.id, campaigns.create_campaign(session, item.id).id


def render_for(services, item_id, person_id, version_id):
    with services.db.session() as session:
        item = session.get(ContentItem, item_id)
        _ = item.translations
        person = session.get(Person, person_id)
        renderer = ContentRenderer(services, item, "newsletter")
        renderer.load_versions(session, {version_id})
    return renderer.message(person, version_id)


def test_the_fast_serialisation_is_a_correct_mime_message(services, demo_form):
    person_id = add_person(services, demo_form, "lees@example.com")
    item_id, _ = make_campaign(services)
    wire = render_for(services, item_id, person_id, demo_form.id)
    assert isinstance(wire, WireMessage)
    data = wire.as_bytes()
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    msg = BytesParser(policy=policy.default).parsebytes(data)
    assert msg["Subject"] == "Één tip voor december — €0"
    (sender,) = msg["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Voorbeeld B.V.", "hallo@voorbeeld.nl")
    assert msg["To"] == "lees@example.com" and msg["Message-ID"] == wire["Message-ID"]
    assert msg["Date"] is not None and msg["MIME-Version"] == "1.0"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert LONG.strip() in text.replace("\r\n", "\n")
    assert "<h1>Tip</h1>" in html and "vóór" in html
    unsubscribe = msg["List-Unsubscribe"].strip("<>")
    assert unsubscribe in text and unsubscribe in html


def test_an_internationalised_address_takes_the_email_package_path(services, demo_form):
    person_id = add_person(services, demo_form, "jürgen@bücher.example")
    item_id, _ = make_campaign(services)
    msg = render_for(services, item_id, person_id, demo_form.id)
    assert not isinstance(msg, WireMessage)
    assert "jürgen@bücher.example" in str(msg["To"])


def test_smtp_refusals_are_counted_and_a_retry_sends_no_duplicate(app, services, demo_form, smtp_server):  # noqa: F811
    # first recipient accepted, second refused for good, third hits a temporary failure
    handler, url = smtp_server(["250 OK", "550 5.1.1 no such user", "451 4.3.0 try later"])
    reconfigure(app, mail_url=url)
    services._transport = None
    ids = [add_person(services, demo_form, f"p{n}@example.com") for n in range(4)]
    _, campaign_id = make_campaign(services)
    with services.db.session() as session:
        campaigns.start(session, campaign_id)
    campaigns.fanout(services, campaign_id, lambda actor, args: None)
    with pytest.raises(TransientMailError):  # the job fails; dramatiq would retry it
        campaigns.send_page(services, campaign_id, ids[0], ids[-1])
    p = progress(services, campaign_id)
    assert (p.sent, p.failed, p.pending) == (1, 1, 2)
    assert campaigns.send_page(services, campaign_id, ids[0], ids[-1]) == {"sent": 2, "skipped": 0, "failed": 0}
    services.transport.close()
    delivered = [e.rcpt_tos[0] for e in handler.messages] + ["p0@example.com"]  # the first reply was scripted
    assert sorted(delivered) == ["p0@example.com", "p2@example.com", "p3@example.com"]
    p = progress(services, campaign_id)
    assert (p.status, p.sent, p.failed, p.pending) == ("done", 3, 1, 0)
    with services.db.session() as session:
        assert session.scalar(select(Campaign.failed).where(Campaign.id == campaign_id)) == 1


@pytest.fixture
def postgres_app(tmp_path):
    """An app on its own database on the local PostgreSQL (dropped afterwards)."""
    import secrets

    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    name = f"lc_issue6_test_{secrets.token_hex(4)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    from leadcapture import create_app
    from leadcapture.migrations import upgrade
    from tests.support.app import make_config

    app = create_app(make_config(tmp_path, DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"))
    upgrade(app.extensions["leadcapture"].db)
    yield app
    app.extensions["leadcapture"].db.dispose()
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.mark.integration
def test_a_campaign_on_postgresql_pages_through_everyone_once(postgres_app, monkeypatch):
    from leadcapture.consent.formdefs import load_toml, save
    from tests.support.app import DEMO_FORM, Outbox

    monkeypatch.setattr(campaigns, "PAGE", 3)
    services = postgres_app.extensions["leadcapture"]
    definition, asset = load_toml(DEMO_FORM)
    with services.db.session() as session:
        version, _ = save(session, definition, asset)
    for n in range(7):
        add_person(services, version, f"pg{n}@example.com", state="confirmed" if n != 3 else "withdrawn")
    _, campaign_id = make_campaign(services)
    jobs = []
    with services.db.session() as session:
        campaigns.start(session, campaign_id)
    campaigns.fanout(services, campaign_id, lambda actor, args, *_outbox_id: jobs.append(args))
    campaigns.fanout(
        services, campaign_id, lambda actor, args, *_outbox_id: jobs.append(args)
    )  # a redelivered fan-out job
    sends = [args for args in jobs if len(args) == 3]
    assert [(first, last) for _, first, last in sends] == [(1, 3), (5, 7)]
    for campaign, first, last in sends * 2:  # every send job delivered twice
        campaigns.send_page(services, campaign, first, last)
    box = Outbox(postgres_app.config["VAR_DIR"] + "/outbox")
    assert sorted(str(m["To"]) for m in box.messages()) == [f"pg{n}@example.com" for n in (0, 1, 2, 4, 5, 6)]
    p = progress(services, campaign_id)
    assert (p.status, p.sent, p.total) == ("done", 6, 6)
