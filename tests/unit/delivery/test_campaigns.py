"""Campaign pages: SMTP failures counted without duplicates, and every recipient once on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from leadcapture.delivery import campaigns, content
from leadcapture.delivery.transports import TransientMailError
from leadcapture.models import Campaign
from tests.support.people import add_person, claimed_by_another_job, progress
from tests.support.settings import reconfigure

BODY = "---\nsubject: Eén tip voor december\nlanguage: nl\n---\n# Tip\n\nBel je beste klanten eerst.\n"


def make_campaign(services) -> tuple[int, int]:
    with services.db.session() as session:
        item = content.create_item(session, "newsletter", [content.parse(BODY)])
        return item.id, campaigns.create_campaign(session, item.id).id


def test_smtp_refusals_are_counted_and_a_retry_sends_no_duplicate(app, services, demo_form, smtp_server, monkeypatch):
    # first recipient accepted, second refused for good, third hits a temporary failure
    handler, url = smtp_server(["250 OK", "550 5.1.1 no such user", "451 4.3.0 try later"])
    reconfigure(app, mail_url=url)
    services._transport = None
    ids = [add_person(services, demo_form, f"p{n}@example.com") for n in range(4)]
    _, campaign_id = make_campaign(services)
    with services.db.session() as session:
        campaigns.start(session, campaign_id)
    monkeypatch.setattr(services, "publish", None)  # the send job is run by hand below
    campaigns.fanout(services, campaign_id)
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
    monkeypatch.setattr(services, "publish", lambda job, args, outbox_id: jobs.append(args))
    campaigns.fanout(services, campaign_id)
    campaigns.fanout(services, campaign_id)  # a redelivered fan-out job
    sends = [args for args in jobs if len(args) == 3]
    assert [(first, last) for _, first, last in sends] == [(1, 3), (5, 7)]
    for campaign, first, last in sends * 2:  # every send job delivered twice
        campaigns.send_page(services, campaign, first, last)
    box = Outbox(postgres_app.config["VAR_DIR"] + "/outbox")
    assert sorted(str(m["To"]) for m in box.messages()) == [f"pg{n}@example.com" for n in (0, 1, 2, 4, 5, 6)]
    p = progress(services, campaign_id)
    assert (p.status, p.sent, p.total) == ("done", 6, 6)


def test_a_row_another_job_is_inserting_on_postgresql_is_left_to_that_job(postgres_app, monkeypatch):
    import threading

    from leadcapture.consent.formdefs import load_toml, save
    from leadcapture.delivery.engine import Attempt, Busy
    from leadcapture.models import CLAIMED, Message
    from tests.support.app import DEMO_FORM, Outbox

    services = postgres_app.extensions["leadcapture"]
    definition, asset = load_toml(DEMO_FORM)
    with services.db.session() as session:
        version, _ = save(session, definition, asset)
    people = [add_person(services, version, f"race{n}@example.com") for n in range(3)]
    _, campaign_id = make_campaign(services)
    with services.db.session() as session:
        campaigns.start(session, campaign_id)
    monkeypatch.setattr(services, "publish", lambda job, args, outbox_id: None)
    campaigns.fanout(services, campaign_id)
    # Given another job's transaction that inserted the second person's message row and has not ended
    other = services.db.sessionmaker()
    other.add(claimed_by_another_job(campaign_id, people[1]))
    other.flush()
    outcome: list[BaseException | None] = []

    def page():
        try:
            campaigns.send_page(services, campaign_id, people[0], people[-1], attempt=Attempt("page-job"))
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    # When the page runs meanwhile (its INSERT waits for that transaction) and the other job commits
    thread = threading.Thread(target=page)
    thread.start()
    thread.join(1.0)
    assert thread.is_alive(), "the page's INSERT should wait for the other transaction"
    other.commit()
    other.close()
    thread.join(30)
    # Then the page sends the two other messages and leaves that one to its job, asking to look again later
    assert len(outcome) == 1 and isinstance(outcome[0], Busy)
    box = Outbox(postgres_app.config["VAR_DIR"] + "/outbox")
    assert sorted(str(m["To"]) for m in box.messages()) == ["race0@example.com", "race2@example.com"]
    with services.db.session() as session:
        held = session.scalars(select(Message).where(Message.claimed_by == "other-job")).one()
        assert held.status == CLAIMED
