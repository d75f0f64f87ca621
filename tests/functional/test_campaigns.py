"""Campaigns (issue 6): only current consent receives, at most once, and a withdrawal is honoured."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from leadcapture.consent import outbox
from leadcapture.delivery import campaigns
from leadcapture.models import (
    CONFIRMED,
    DONE,
    EXPIRED,
    PAUSED,
    PENDING,
    WITHDRAWN,
    Campaign,
    CampaignRecipient,
    Consent,
    Form,
    Message,
    Person,
    utcnow,
)
from tests.support.app import html_part, links, path_of, submit, text_part
from tests.support.people import add_person, progress

NL = """---
subject: Drie salestips voor december
language: nl
---
# Tip 1

Bel **eerst** je [beste klanten](https://example.com/klanten).

<script>alert("x")</script>
"""
EN = """---
subject: Three sales tips for December
language: en
---
# Tip 1

Call your **best** customers [first](https://example.com/customers).
"""


@pytest.fixture
def campaign_id(runner, demo_form, tmp_path) -> int:
    (tmp_path / "nl.md").write_text(NL)
    (tmp_path / "en.md").write_text(EN)
    result = runner.invoke(
        ["campaigns", "create", "--purpose", "newsletter", str(tmp_path / "nl.md"), str(tmp_path / "en.md")]
    )
    assert result.exit_code == 0, result.output
    return int(re.search(r"campaign (\d+) is a draft", result.output).group(1))


def test_only_people_with_current_consent_receive_the_campaign(
    services, runner, demo_form, campaign_id, worker, mailbox
):
    add_person(services, demo_form, "nl@example.com")
    add_person(services, demo_form, "en@example.com", language="en")
    add_person(services, demo_form, "pending@example.com", state=PENDING)
    add_person(services, demo_form, "withdrawn@example.com", state=WITHDRAWN)
    add_person(services, demo_form, "lapsed@example.com", state=EXPIRED)
    add_person(services, demo_form, "suppressed@example.com", suppressed=True)
    add_person(services, demo_form, "nobox@example.com", state=None)
    add_person(services, demo_form, "other@example.com", purpose="product_news")

    result = runner.invoke(["campaigns", "send", str(campaign_id), "--no-wait"])
    assert result.exit_code == 0, result.output
    worker.drain()

    assert sorted(str(m["To"]) for m in mailbox.messages()) == ["en@example.com", "nl@example.com"]
    assert mailbox.to("nl@example.com")[0]["Subject"] == "Drie salestips voor december"
    english = mailbox.to("en@example.com")[0]
    assert english["Subject"] == "Three sales tips for December"
    assert "Call your **best** customers first (https://example.com/customers)." in text_part(english)
    assert "<strong>best</strong>" in html_part(english)
    p = progress(services, campaign_id)
    assert (p.status, p.sent, p.skipped, p.failed, p.pending, p.total) == (DONE, 2, 1, 0, 0, 3)
    with services.db.session() as session:
        stored = session.get(Campaign, campaign_id)
        assert (stored.sent, stored.skipped, stored.failed) == (2, 1, 0)
    status = runner.invoke(["campaigns", "status", str(campaign_id)])
    assert "done; sent 2, skipped (no consent) 1, failed 0" in status.output
    assert "Three sales tips" not in runner.invoke(["campaigns", "list"]).output  # the first language is shown
    assert "Drie salestips voor december" in runner.invoke(["campaigns", "list"]).output


def test_markdown_is_sanitised_and_every_message_has_its_purposes_one_click(
    services, client, runner, demo_form, campaign_id, worker, mailbox
):
    person_id = add_person(services, demo_form, "nl@example.com")
    add_person(services, demo_form, "nl@example.com".replace("nl", "nl2"), purpose="product_news")
    with services.db.session() as session:
        session.add(
            Consent(
                person_id=person_id,
                brand_id=session.get(Form, demo_form.form_id).brand_id,
                purpose_key="product_news",
                channel="email",
                state=CONFIRMED,
                form_version_id=demo_form.id,
                confirmed_at=utcnow(),
            )
        )
    runner.invoke(["campaigns", "send", str(campaign_id), "--no-wait"])
    worker.drain()
    (msg,) = mailbox.to("nl@example.com")
    assert "<script>" not in html_part(msg) and 'href="https://example.com/klanten"' in html_part(msg)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.search(r"<(\S+)>", msg["List-Unsubscribe"]).group(1)
    with services.db.session() as session:
        public_id = session.get(Person, person_id).public_id
        brand_id = session.get(Form, demo_form.form_id).brand_id
    # The one-click withdraws the campaign's audience: the purpose of the brand.
    assert services.tokens.load("unsubscribe", unsubscribe.rsplit("/", 1)[1]) == {
        "p": public_id,
        "k": "newsletter",
        "b": brand_id,
    }
    assert unsubscribe in text_part(msg) and unsubscribe in html_part(msg)
    assert any("/p/" in link for link in links(msg))  # the preference centre
    assert "Voorbeeld B.V." in text_part(msg)  # the shared footer names the controller

    response = client.post(path_of(unsubscribe), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    with services.db.session() as session:
        rows = session.execute(select(Consent.purpose_key, Consent.state).where(Consent.person_id == person_id))
        states = {key: state for key, state in rows}
    assert states == {"newsletter": WITHDRAWN, "product_news": CONFIRMED}


def test_a_second_send_or_a_retried_job_sends_nothing_new(services, runner, demo_form, campaign_id, worker, mailbox):
    for n in range(3):
        add_person(services, demo_form, f"p{n}@example.com")
    runner.invoke(["campaigns", "send", str(campaign_id), "--no-wait"])
    worker.drain()
    assert len(mailbox.messages()) == 3

    again = runner.invoke(["campaigns", "send", str(campaign_id)])
    assert again.exit_code == 0 and "already done: nothing new to send" in again.output
    # A crash after the relay accepted the mail but before the page's statuses were written:
    # the recipients look pending again and the job is redelivered.
    with services.db.session() as session:
        session.execute(CampaignRecipient.__table__.update().values(status=PENDING))
        session.get(Campaign, campaign_id).status = "sending"
    assert campaigns.send_page(services, campaign_id, 0, 10**9) == {"sent": 3, "skipped": 0, "failed": 0}
    worker.drain()
    assert len(mailbox.messages()) == 3
    with services.db.session() as session:
        keys = session.scalars(select(Message.dedupe_key).where(Message.kind == "campaign")).all()
    assert len(keys) == 3 and all(k.startswith(f"campaign:{campaign_id}:") for k in keys)


def test_a_withdrawal_arriving_mid_campaign_stops_that_persons_mail(
    services, client, runner, demo_form, campaign_id, worker, mailbox
):
    leaver = add_person(services, demo_form, "leaver@example.com")
    add_person(services, demo_form, "stayer@example.com")
    from workers.broker import publish

    with worker.paused():
        runner.invoke(["campaigns", "send", str(campaign_id), "--no-wait"])
        outbox.relay(services.db.sessionmaker, publish)
        campaigns.fanout(services, campaign_id)  # recipients written, send job queued
        with services.db.session() as session:
            assert session.scalar(select(CampaignRecipient).where(CampaignRecipient.person_id == leaver)) is not None
            token = services.tokens.make("unsubscribe", {"p": session.get(Person, leaver).public_id, "k": "newsletter"})
        assert client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    worker.drain()

    assert [str(m["To"]) for m in mailbox.messages()] == ["stayer@example.com"]
    p = progress(services, campaign_id)
    assert (p.status, p.sent, p.skipped) == (DONE, 1, 1)


def test_pause_and_resume_send_everyone_exactly_once(
    services, runner, demo_form, campaign_id, worker, mailbox, monkeypatch
):
    monkeypatch.setattr(campaigns, "PAGE", 2)  # several pages, so keyset pagination is exercised
    for n in range(5):
        add_person(services, demo_form, f"p{n}@example.com")
    from workers.broker import publish

    with worker.paused():
        runner.invoke(["campaigns", "send", str(campaign_id), "--no-wait"])
        outbox.relay(services.db.sessionmaker, publish)
        campaigns.fanout(services, campaign_id)
        paused = runner.invoke(["campaigns", "pause", str(campaign_id)])
        assert paused.exit_code == 0 and "paused" in paused.output
    worker.drain()
    assert mailbox.messages() == []
    p = progress(services, campaign_id)
    assert (p.status, p.pending, p.total) == (PAUSED, 5, 5)

    assert runner.invoke(["campaigns", "pause", str(campaign_id)]).exit_code == 1  # not sending
    resumed = runner.invoke(["campaigns", "resume", str(campaign_id), "--no-wait"])
    assert resumed.exit_code == 0, resumed.output
    worker.drain()
    assert sorted(str(m["To"]) for m in mailbox.messages()) == [f"p{n}@example.com" for n in range(5)]
    assert progress(services, campaign_id).status == DONE


def test_send_with_a_progress_bar_runs_to_the_end(services, runner, demo_form, campaign_id, mailbox, dramatiq_worker):
    for n in range(3):
        add_person(services, demo_form, f"p{n}@example.com")
    result = runner.invoke(["campaigns", "send", str(campaign_id)])
    assert result.exit_code == 0, result.output
    assert f"campaign {campaign_id} (newsletter of voorbeeld-b-v): done; sent 3" in result.output
    assert len(mailbox.messages()) == 3


def test_a_welcome_item_goes_out_once_when_the_purpose_is_confirmed(
    services, client, runner, demo_form, worker, mailbox, tmp_path
):
    (tmp_path / "welcome.md").write_text("Welkom! Elke maand **één** tip.\n")
    result = runner.invoke(
        ["campaigns", "create", "--purpose", "newsletter", "--welcome", "--subject", "Welkom", "--language", "nl",
         str(tmp_path / "welcome.md")]
    )  # fmt: skip
    assert result.exit_code == 0 and "welcome item" in result.output
    submit(client, "new@example.com", purposes=["newsletter"])
    worker.drain()
    (confirmation,) = mailbox.to("new@example.com")
    confirm_all = [link for link in links(confirmation) if "/c/" in link][-1]
    client.post(path_of(confirm_all))
    client.post(path_of(confirm_all))  # confirming twice is harmless
    worker.drain()
    welcome = [m for m in mailbox.to("new@example.com") if m["Subject"] == "Welkom"]
    assert len(welcome) == 1
    assert "Elke maand **één** tip." in text_part(welcome[0])


@pytest.mark.parametrize(
    ("text", "args", "problem"),
    [
        ("no front matter\n", [], "language must be one of nl, de, en"),
        ("---\nsubject: Hi\nlanguage: en\n", [], "no closing '---'"),
        ("---\nsubjekt: Hi\n---\nbody\n", [], "expected 'subject: …'"),
        ("---\nlanguage: fr\nsubject: Salut\n---\nbody\n", [], "language must be one of nl, de, en"),
        ("---\nlanguage: en\n---\n\n", ["--subject", "Hi"], "the body is empty"),
    ],
)
def test_bad_content_files_are_refused_with_a_clear_message(runner, demo_form, tmp_path, text, args, problem):
    path = tmp_path / "c.md"
    path.write_text(text)
    result = runner.invoke(["campaigns", "create", "--purpose", "newsletter", *args, str(path)])
    assert result.exit_code == 2
    assert problem in result.output


def test_campaign_commands_name_what_is_wrong(runner, demo_form, tmp_path):
    (tmp_path / "c.md").write_text(EN)
    assert (
        "no live form has a purpose with key 'nope'"
        in runner.invoke(["campaigns", "create", "--purpose", "nope", str(tmp_path / "c.md")]).output
    )
    assert (
        "channel 'phone', not email"
        in runner.invoke(["campaigns", "create", "--purpose", "call", str(tmp_path / "c.md")]).output
    )
    missing = runner.invoke(["campaigns", "send", "99", "--no-wait"])
    assert missing.exit_code == 1 and "no campaign 99" in missing.output
    assert "no campaigns yet" in runner.invoke(["campaigns", "list"]).output
