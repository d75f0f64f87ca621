"""Campaigns in the admin: compose with a preview, test to yourself, start, schedule, pause, cancel."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from leadcapture.delivery import campaign_admin
from leadcapture.models import CANCELLED, DONE, DRAFT, SENDING_CAMPAIGN, AuditEntry, Campaign, utcnow
from tests.support.admin import signed_in
from tests.support.app import html_part, text_part
from tests.support.people import add_person

BODY = "# Drie tips\n\nBel **eerst** je beste klanten.\n\n<script>alert(1)</script>\n"


def compose(marketer, **extra):
    form = {"purpose": "newsletter", "subject_nl": "Drie salestips", "body_nl": BODY, "subject_en": "", "body_en": ""}
    return marketer.post("/admin/campaigns/new", {**form, **extra})


def campaign_of(response) -> int:
    return int(re.search(r"/admin/campaigns/(\d+)$", response.headers["Location"]).group(1))


def stored(services, campaign_id: int) -> Campaign:
    with services.db.session() as session:
        row = session.get(Campaign, campaign_id)
        session.expunge(row)
        return row


def test_a_marketer_composes_tests_and_sends_a_campaign(app, services, demo_form, worker, mailbox):
    add_person(services, demo_form, "reader@example.com")
    add_person(services, demo_form, "other@example.com", purpose="product_news")
    marketer = signed_in(app, services, "marketer")
    # The compose page counts who the purpose reaches now
    page = marketer.get("/admin/campaigns/new").get_data(as_text=True)
    assert "newsletter: Stuur mij de maandelijkse nieuwsbrief met salestips. (1 person now)" in page
    # The preview shows the sanitised HTML with the legal footer, inside the admin's frame only
    preview = marketer.post(
        "/admin/campaigns/preview", {"purpose": "newsletter", "subject_nl": "Drie", "body_nl": BODY}
    )
    assert "<strong>eerst</strong>" in preview.get_data(as_text=True)
    assert "<script>" not in preview.get_data(as_text=True)
    assert "Voorbeeld B.V." in preview.get_data(as_text=True)
    assert "frame-ancestors 'self'" in preview.headers["Content-Security-Policy"]
    # Saving makes a draft; a test goes to the marketer only, marked, and is not counted
    campaign_id = campaign_of(compose(marketer))
    marketer.post(f"/admin/campaigns/{campaign_id}", {"action": "test"})
    test = mailbox.to("marketer@staff.example.com")
    assert len(test) == 1 and test[0]["Subject"] == "[TEST] Drie salestips"
    assert f"/admin/campaigns/{campaign_id}" in str(test[0]["List-Unsubscribe"])
    assert mailbox.to("reader@example.com") == []
    # Starting sends to the consented reader only
    marketer.post(f"/admin/campaigns/{campaign_id}", {"action": "start"})
    worker.drain()
    [sent] = mailbox.to("reader@example.com")
    assert sent["Subject"] == "Drie salestips" and "<strong>eerst</strong>" in html_part(sent)
    assert mailbox.to("other@example.com") == []
    assert stored(services, campaign_id).status == DONE
    figures = marketer.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    assert "<td>1</td><td>1</td>" in figures.replace("\n", "").replace("    ", "")  # 1 recipient, 1 sent
    assert "Bel **eerst** je beste klanten." in figures
    with services.db.session() as session:
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"content.create", "campaign.test", "campaign.start"} <= actions
    assert "Bel **eerst**" in text_part(sent)


def test_a_scheduled_campaign_starts_when_its_time_comes(app, services, demo_form):
    add_person(services, demo_form, "reader@example.com")
    marketer = signed_in(app, services, "marketer")
    campaign_id = campaign_of(compose(marketer))
    past = marketer.post(f"/admin/campaigns/{campaign_id}", {"action": "schedule", "when": "2001-01-01T09:00"})
    assert past.status_code == 302 and stored(services, campaign_id).scheduled_at is None
    when = (utcnow() + timedelta(hours=2)).replace(second=0, microsecond=0)
    marketer.post(f"/admin/campaigns/{campaign_id}", {"action": "schedule", "when": when.strftime("%Y-%m-%dT%H:%M")})
    assert "starts by itself at" in marketer.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    with services.db.session() as session:
        assert campaign_admin.start_due(session, utcnow()) == 0
    assert stored(services, campaign_id).status == DRAFT
    with services.db.session() as session:
        assert campaign_admin.start_due(session, when + timedelta(seconds=1)) == 1
    assert stored(services, campaign_id).status == SENDING_CAMPAIGN


def test_a_cancelled_campaign_sends_nothing_more(app, services, demo_form, worker, mailbox):
    add_person(services, demo_form, "reader@example.com")
    marketer = signed_in(app, services, "marketer")
    campaign_id = campaign_of(compose(marketer))
    marketer.post(f"/admin/campaigns/{campaign_id}", {"action": "cancel"})
    assert stored(services, campaign_id).status == CANCELLED
    again = marketer.post(f"/admin/campaigns/{campaign_id}", {"action": "start"})
    assert again.status_code == 302
    worker.drain()
    assert mailbox.to("reader@example.com") == []
    assert "nothing left to cancel" in marketer.post(
        f"/admin/campaigns/{campaign_id}", {"action": "cancel"}, follow_redirects=True
    ).get_data(as_text=True)


def test_the_welcome_message_is_written_here_too(app, services, demo_form):
    marketer = signed_in(app, services, "marketer")
    response = compose(marketer, welcome="1")
    assert response.headers["Location"] == "/admin/campaigns"
    listing = marketer.get("/admin/campaigns").get_data(as_text=True)
    assert "Drie salestips" in listing and "Write a new" in listing


def test_bad_content_is_refused_with_the_reason(app, services, demo_form):
    marketer = signed_in(app, services, "marketer")
    empty = compose(marketer, subject_nl="", body_nl="")
    assert empty.status_code == 400 and "at least one language" in empty.get_data(as_text=True)
    phone = compose(marketer, purpose="call")
    assert phone.status_code == 400 and "not email" in phone.get_data(as_text=True)
    assert marketer.get("/admin/campaigns/999").status_code == 404
    assert signed_in(app, services, "privacy").get("/admin/campaigns").status_code == 403
