"""The double opt-in flow end to end: form, confirmation email, confirm page, whitepaper, opt-out."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import func, select

from leadcapture.consent.tokens import FORM, ConfirmRequest
from leadcapture.delivery import links as message_links
from leadcapture.models import (
    Consent,
    LeadRequest,
    LedgerEvent,
    Message,
    Person,
    Submission,
    Suppression,
    new_public_id,
)
from tests.support.app import BASE_URL, form_token, links, path_of, submit, text_part
from tests.support.settings import reconfigure

pytestmark = pytest.mark.usefixtures("demo_form")


def table_counts(services) -> dict:
    """A fingerprint of every table that a state change would touch."""
    with services.db.session() as session:
        return {
            "requests": session.execute(select(LeadRequest.state, func.count()).group_by(LeadRequest.state)).all(),
            "consents": session.execute(select(Consent.purpose_key, Consent.state)).all(),
            "ledger": session.scalar(select(func.count()).select_from(LedgerEvent)),
            "suppressions": session.scalar(select(func.count()).select_from(Suppression)),
            "messages": session.scalar(select(func.count()).select_from(Message)),
        }


def confirmation_for(client, worker, mailbox, email, purposes=()):
    assert submit(client, email, purposes).status_code == 200
    worker.drain()
    (msg,) = mailbox.to(email)
    return msg


def confirm_all_url(msg) -> str:
    text = text_part(msg)
    return re.search(r"(?:bevestigen|to confirm):\s*(\S+)", text).group(1)


def test_the_form_renders_every_purpose_unticked(client):
    page = client.get("/f/sales-machine").get_data(as_text=True)
    boxes = re.findall(r"<input[^>]*type=\"checkbox\"[^>]*>", page)
    assert len(boxes) == 3
    assert not any("checked" in box for box in boxes)
    assert "Voorbeeld B.V., Stationsplein 1" in page
    assert "https://www.example.com/privacy" in page
    assert 'name="website"' in page  # honeypot


def ticked_boxes(page: str) -> list[str]:
    return re.findall(r'<input[^>]*name="(purpose_\w+)"[^>]*\bchecked\b[^>]*>', page)


def test_a_form_sent_back_with_an_error_keeps_the_boxes_the_visitor_ticked(client):
    own = {"Sec-Fetch-Site": "same-origin", "Origin": "null"}  # what Chromium sends under no-referrer
    data = {"csrf_token": form_token(client), "email": "not-an-address", "purpose_newsletter": "y"}
    page = client.post("/f/sales-machine", data=data, headers=own)
    assert page.status_code == 400 and ticked_boxes(page.get_data(as_text=True)) == ["purpose_newsletter"]
    # A box the form does not offer is not drawn, and the first render stays unticked
    assert ticked_boxes(client.get("/f/sales-machine").get_data(as_text=True)) == []


@pytest.mark.parametrize(
    "headers", [{}, {"Sec-Fetch-Site": "cross-site", "Origin": "null"}, {"Sec-Fetch-Site": "same-site"}]
)
def test_a_post_from_anywhere_but_the_forms_pages_never_comes_back_ticked(client, headers):
    data = {"csrf_token": form_token(client), "email": "not-an-address", "purpose_newsletter": "y", "purpose_call": "y"}
    page = client.post("/f/sales-machine", data=data, headers=headers)
    assert page.status_code in (400, 403) and ticked_boxes(page.get_data(as_text=True)) == []


def test_the_form_page_is_in_the_forms_language(client):
    page = client.get("/f/sales-machine").get_data(as_text=True)
    assert '<html lang="nl">' in page and "E-mailadres" in page


def test_unknown_form_is_a_friendly_404(client):
    response = client.get("/f/no-such-form")
    assert response.status_code == 404
    assert "Pagina niet gevonden" in response.get_data(as_text=True)


def test_submitting_sends_exactly_one_confirmation(client, worker, mailbox, services):
    msg = confirmation_for(client, worker, mailbox, "jan@example.com", ["newsletter", "call"])
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["List-Unsubscribe"].startswith(f"<{BASE_URL}/u/")
    body = text_part(msg)
    assert "Stuur mij de maandelijkse nieuwsbrief" in body and "bellen" in body
    assert "nieuwe diensten" not in body  # not ticked, not asked for
    assert len(mailbox.messages()) == 1
    with services.db.session() as session:
        kinds = sorted((r.kind, r.purpose_key) for r in session.scalars(select(LeadRequest)))
    assert kinds == [("asset", None), ("purpose", "call"), ("purpose", "newsletter")]


def test_visitor_text_is_never_echoed_in_the_confirmation(client, worker, mailbox):
    assert submit(client, "jan@example.com", name="BUY CHEAP PILLS", company="spam.example").status_code == 200
    worker.drain()
    (msg,) = mailbox.to("jan@example.com")
    assert "PILLS" not in msg.as_string() and "spam.example" not in msg.as_string()


def test_every_link_in_the_confirmation_is_safe_to_get_and_head(client, worker, mailbox, services):
    msg = confirmation_for(client, worker, mailbox, "jan@example.com", ["newsletter"])
    before = table_counts(services)
    urls = links(msg)
    assert len(urls) >= 4
    for url in urls:
        if not url.startswith(BASE_URL):
            continue
        for method in ("get", "head"):
            response = getattr(client, method)(path_of(url))
            assert response.status_code < 500, url
    worker.drain()
    assert table_counts(services) == before
    assert len(mailbox.messages()) == 1


def test_confirm_page_shows_a_button_and_the_post_confirms(client, worker, mailbox, services):
    msg = confirmation_for(client, worker, mailbox, "jan@example.com", ["newsletter"])
    path = path_of(confirm_all_url(msg))
    page = client.get(path).get_data(as_text=True)
    assert '<form method="post"' in page and ">Bevestig</button>" in page
    response = client.post(path)
    assert response.status_code == 200
    assert "Download de whitepaper nu" in response.get_data(as_text=True)
    worker.drain()
    with services.db.session() as session:
        consent = session.scalar(select(Consent))
        assert (consent.purpose_key, consent.state) == ("newsletter", "confirmed")
        events = session.scalars(select(LedgerEvent.event).order_by(LedgerEvent.id)).all()
    assert events == ["requested", "confirmed"]
    whitepaper = mailbox.to("jan@example.com")[-1]
    assert "whitepaper" in str(whitepaper["Subject"]).lower()
    assert "Auto-Submitted" not in whitepaper
    assert whitepaper["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    download = next(u for u in links(whitepaper) if "/d/" in u)
    pdf = client.get(path_of(download))
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    assert pdf.headers["Content-Disposition"].startswith("attachment")


def test_confirming_twice_sends_nothing_new(client, worker, mailbox, services):
    msg = confirmation_for(client, worker, mailbox, "jan@example.com", ["newsletter"])
    path = path_of(confirm_all_url(msg))
    client.post(path)
    worker.drain()
    after_first = (len(mailbox.messages()), table_counts(services))
    again = client.post(path)
    assert again.status_code == 200 and "Al bevestigd" in again.get_data(as_text=True)
    worker.drain()
    assert (len(mailbox.messages()), table_counts(services)) == after_first


def test_an_older_mails_single_purpose_link_confirms_that_purpose_and_delivers_the_whitepaper(
    client, worker, mailbox, services
):
    # Given a mail from before the one-button design, with a link per purpose
    confirmation_for(client, worker, mailbox, "jan@example.com", ["newsletter", "call"])
    with services.db.session() as session:
        newsletter = session.scalar(select(LeadRequest).where(LeadRequest.purpose_key == "newsletter"))
        link = f"{BASE_URL}/c/{services.tokens.sign(ConfirmRequest(newsletter.public_id))}"
    # When the person confirms that one purpose
    page = client.get(path_of(link)).get_data(as_text=True)
    assert "nieuwsbrief" in page and "Stuur mij de whitepaper" in page and "bellen" not in page
    client.post(path_of(link))
    worker.drain()
    # Then that purpose is confirmed, the other still waits, and the whitepaper comes: the address is proven
    with services.db.session() as session:
        states = dict(session.execute(select(Consent.purpose_key, Consent.state)).all())
        pending = session.scalars(select(LeadRequest.purpose_key).where(LeadRequest.state == "pending")).all()
    assert states == {"newsletter": "confirmed"}
    assert pending == ["call"]
    assert "whitepaper" in str(mailbox.to("jan@example.com")[-1]["Subject"]).lower()


def test_the_response_is_the_same_for_every_address_state(client, worker, mailbox, services):
    def answer(email):
        return submit(client, email).get_data(as_text=True)

    new = answer("new@example.com")
    pending = answer("new@example.com")
    msg = confirmation_for(client, worker, mailbox, "conf@example.com")
    client.post(path_of(confirm_all_url(msg)))
    confirmed = answer("conf@example.com")
    other = confirmation_for(client, worker, mailbox, "blocked@example.com")
    client.post(
        path_of(re.search(r"<(\S+)>", other["List-Unsubscribe"]).group(1)), data={"List-Unsubscribe": "One-Click"}
    )
    suppressed = answer("blocked@example.com")
    assert new == pending == confirmed == suppressed


def test_at_most_one_confirmation_per_address_per_window(client, worker, mailbox):
    for _ in range(5):
        assert submit(client, "Jan@Example.com", ["newsletter"]).status_code == 200
    worker.drain()
    assert len(mailbox.messages()) == 1


@pytest.mark.parametrize(
    ("seconds", "words"), [(900, "één bevestiging per 15 minuten:"), (3600, "per 60 minuten:"), (30, "per 1 minuut:")]
)
def test_the_check_mail_page_names_the_configured_window(app, client, seconds, words):
    reconfigure(app, confirmation_window=seconds)
    page = submit(client, "jan@example.com").get_data(as_text=True)
    assert words in page


@pytest.mark.parametrize(
    "email", ["not-an-address", "jan@", "a" * 300 + "@example.com", "", "jan@example.com\r\nBcc: x@y.z"]
)
def test_a_bad_address_gets_a_400_page_and_nothing_is_stored(client, services, email):
    response = submit(client, email)
    assert response.status_code == 400
    assert "Controleer het formulier" in response.get_data(as_text=True)
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 0


def test_oversized_fields_get_a_400(client, services):
    response = submit(client, "jan@example.com", name="x" * 5000)
    assert response.status_code == 400
    assert "te lang" in response.get_data(as_text=True)


def test_a_huge_body_gets_a_413_page(client):
    response = client.post("/f/sales-machine", data={"email": "x" * 200_000})
    assert response.status_code == 413


def test_a_missing_or_forged_form_token_gets_a_400(client, services):
    for token in (None, "forged", form_token(client).replace("a", "b", 1)):
        data = {"email": "jan@example.com"}
        if token:
            data["csrf_token"] = token
        response = client.post("/f/sales-machine", data=data)
        assert response.status_code == 400
        assert "nog een keer" in response.get_data(as_text=True)


def test_a_filled_honeypot_stores_and_sends_nothing(client, worker, mailbox, services):
    response = submit(client, "bot@example.com", website="http://spam.example")
    assert response.status_code == 200 and "Kijk in je mailbox" in response.get_data(as_text=True)
    worker.drain()
    assert mailbox.messages() == []
    assert table_counts(services)["requests"] == []


def test_a_purpose_the_form_does_not_offer_is_ignored(client, worker, mailbox, services):
    data = {"csrf_token": form_token(client), "email": "jan@example.com", "purpose_other": "y"}
    assert client.post("/f/sales-machine", data=data).status_code == 200
    with services.db.session() as session:
        assert session.scalars(select(LeadRequest.kind)).all() == ["asset"]


def test_tampered_and_unknown_tokens_get_a_friendly_page(client):
    for path in ("/c/garbage", "/u/garbage", "/p/garbage", "/d/garbage"):
        response = client.get(path)
        assert response.status_code == 404
        assert "Deze link werkt niet" in response.get_data(as_text=True)
        assert client.post(path).status_code in (404, 405)


def test_an_expired_confirm_link_offers_to_request_again(client, worker, mailbox, app):
    msg = confirmation_for(client, worker, mailbox, "jan@example.com")
    app.extensions["leadcapture"].tokens._max_ages["confirm"] = -1
    response = client.post(path_of(confirm_all_url(msg)))
    assert response.status_code == 410
    assert "verlopen" in response.get_data(as_text=True)


def test_one_click_withdraws_the_purpose_and_sending_stops(client, worker, mailbox, services):
    msg = confirmation_for(client, worker, mailbox, "jan@example.com", ["newsletter"])
    client.post(path_of(confirm_all_url(msg)))
    worker.drain()
    whitepaper = mailbox.to("jan@example.com")[-1]
    url = re.search(r"<(\S+)>", whitepaper["List-Unsubscribe"]).group(1)
    from leadcapture.consent.gates import may_contact as may_send_purpose
    from leadcapture.models import Person

    with services.db.session() as session:
        assert may_send_purpose(session, session.scalar(select(Person)), "newsletter")
    for _ in range(2):  # repeatable
        response = client.post(path_of(url), data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200 and "Location" not in response.headers
    with services.db.session() as session:
        assert session.scalar(select(Consent.state)) == "withdrawn"
        assert not may_send_purpose(session, session.scalar(select(Person)), "newsletter")
        events = session.execute(select(LedgerEvent.event, LedgerEvent.method).order_by(LedgerEvent.id)).all()
    assert events[-1] == ("withdrawn", "one_click")
    assert [e for e, _ in events].count("withdrawn") == 1


def test_one_click_accepts_multipart_and_needs_no_cookie(app, worker, mailbox, services, client):
    msg = confirmation_for(client, worker, mailbox, "jan@example.com", ["newsletter"])
    client.post(path_of(confirm_all_url(msg)))
    worker.drain()
    url = re.search(r"<(\S+)>", mailbox.to("jan@example.com")[-1]["List-Unsubscribe"]).group(1)
    fresh = app.test_client(use_cookies=False)
    response = fresh.post(path_of(url), data={"List-Unsubscribe": "One-Click"}, content_type="multipart/form-data")
    assert response.status_code == 200
    with services.db.session() as session:
        assert session.scalar(select(Consent.state)) == "withdrawn"


def test_one_click_on_a_confirmation_drops_requests_and_suppresses(client, worker, mailbox, services):
    msg = confirmation_for(client, worker, mailbox, "victim@example.com", ["newsletter"])
    url = re.search(r"<(\S+)>", msg["List-Unsubscribe"]).group(1)
    page = client.get(path_of(url)).get_data(as_text=True)
    assert "Dit was ik niet" in page
    assert client.post(path_of(url), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    with services.db.session() as session:
        assert set(session.scalars(select(LeadRequest.state))) == {"dropped"}
        assert session.scalar(select(func.count()).select_from(Suppression)) == 1
    # The old confirm link no longer confirms, and nothing else is sent.
    response = client.post(path_of(confirm_all_url(msg)))
    assert "geannuleerd" in response.get_data(as_text=True)
    worker.drain()
    assert len(mailbox.messages()) == 1


def test_a_suppressed_address_gets_no_confirmation(client, worker, mailbox, services, app):
    msg = confirmation_for(client, worker, mailbox, "victim@example.com")
    client.post(
        path_of(re.search(r"<(\S+)>", msg["List-Unsubscribe"]).group(1)), data={"List-Unsubscribe": "One-Click"}
    )
    reconfigure(app, confirmation_window=0)
    assert submit(client, "victim@example.com").status_code == 200
    worker.drain()
    assert len(mailbox.messages()) == 1


def test_preferences_list_purposes_and_withdraw_one(client, worker, mailbox, services):
    msg = confirmation_for(client, worker, mailbox, "jan@example.com", ["newsletter", "product_news"])
    client.post(path_of(confirm_all_url(msg)))
    prefs = next(u for u in links(msg) if "/p/" in u)
    page = client.get(path_of(prefs)).get_data(as_text=True)
    assert "Stuur mij de maandelijkse nieuwsbrief" in page and page.count(">Intrekken<") == 2
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(path_of(prefs), data={"csrf_token": token, "withdraw": "newsletter"})
    assert response.status_code == 200 and "Opgeslagen" in response.get_data(as_text=True)
    with services.db.session() as session:
        states = dict(session.execute(select(Consent.purpose_key, Consent.state)).all())
    assert states == {"newsletter": "withdrawn", "product_news": "confirmed"}
    response = client.post(path_of(prefs), data={"csrf_token": token, "withdraw": "__all__"})
    with services.db.session() as session:
        assert set(session.scalars(select(Consent.state))) == {"withdrawn"}


def test_preferences_post_needs_its_csrf_token(client, worker, mailbox, services):
    msg = confirmation_for(client, worker, mailbox, "jan@example.com", ["newsletter"])
    client.post(path_of(confirm_all_url(msg)))
    prefs = next(u for u in links(msg) if "/p/" in u)
    assert client.post(path_of(prefs), data={"withdraw": "__all__"}).status_code == 400
    with services.db.session() as session:
        assert session.scalar(select(Consent.state)) == "confirmed"


def test_a_third_party_resubmission_does_not_weaken_consent(client, worker, mailbox, services, app):
    msg = confirmation_for(client, worker, mailbox, "jan@example.com", ["newsletter"])
    client.post(path_of(confirm_all_url(msg)))
    reconfigure(app, confirmation_window=0)
    assert submit(client, "jan@example.com", name="Someone Else").status_code == 200
    worker.drain()
    with services.db.session() as session:
        assert session.scalar(select(Consent.state)) == "confirmed"


def test_links_use_base_url_not_the_host_header(client, worker, mailbox):
    data = {"csrf_token": form_token(client), "email": "jan@example.com"}
    client.post("/f/sales-machine", data=data, headers={"Host": "evil.example"})
    worker.drain()
    (msg,) = mailbox.to("jan@example.com")
    # Besides our own links: the form's privacy notice and the supervisory authority the brand names.
    external = ("example.com/privacy", "autoriteitpersoonsgegevens.nl")
    assert all(u.startswith(BASE_URL) for u in links(msg) if not any(e in u for e in external))


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["database"] == "ok"


def test_the_dev_mailbox_lists_and_shows_messages(client, worker, mailbox):
    confirmation_for(client, worker, mailbox, "jan@example.com")
    index = client.get("/dev/mail/").get_data(as_text=True)
    assert "Bevestig je aanvraag" in index
    key = re.search(r'href="/dev/mail/([^"]+)"', index).group(1)
    shown = client.get(f"/dev/mail/{key}").get_data(as_text=True)
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in shown


def test_a_form_sent_faster_than_a_person_can_fill_it_is_ignored(client, worker, mailbox, services, app):
    reconfigure(app, min_fill_seconds=30)
    response = submit(client, "fast@example.com")
    assert response.status_code == 200 and "Kijk in je mailbox" in response.get_data(as_text=True)
    worker.drain()
    assert mailbox.messages() == [] and table_counts(services)["requests"] == []


def test_a_person_who_fixes_a_field_right_after_the_error_page_is_not_taken_for_a_bot(
    client, worker, mailbox, services, app
):
    # Given a person who opened the form a minute ago, on a site that wants 30 s of filling in
    reconfigure(app, min_fill_seconds=30)
    shown = services.tokens.make(FORM, {"f": "sales-machine", "t": int(time.time()) - 60, "n": "first"})
    # When they mistype their address, and send the corrected form from the error page at once
    refused = client.post("/f/sales-machine", data={"csrf_token": shown, "email": "jan@example"})
    assert refused.status_code == 400
    again = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', refused.get_data(as_text=True)).group(1)
    response = client.post("/f/sales-machine", data={"csrf_token": again, "email": "jan@example.com"})
    # Then the submission is stored and confirmed by mail like any other
    assert response.status_code == 200
    worker.drain()
    assert len(mailbox.to("jan@example.com")) == 1


def test_every_link_a_message_can_carry_reaches_the_page_that_reads_it(app, services):
    # Given a link of each kind, built the way every message builds them
    request, submission = LeadRequest(public_id=new_public_id()), Submission(public_id=new_public_id())
    person = Person(public_id=new_public_id())
    built = {
        f"{BASE_URL}/c/{services.tokens.sign(ConfirmRequest(request.public_id))}": "links.confirm",  # older mails
        message_links.confirm_submission(services, submission): "links.confirm",
        message_links.download(services, request): "links.download",
        message_links.not_me(services, submission): "links.unsubscribe",
        message_links.unsubscribe(services, person, "newsletter"): "links.unsubscribe",
        message_links.unsubscribe(services, person, None): "links.unsubscribe",
        message_links.preferences(services, person): "preferences.preferences",
    }
    # When the app routes each one
    routes = app.url_map.bind("lc.test")
    # Then it lands on the page for its kind, with the whole token
    for url, endpoint in built.items():
        path = path_of(url)
        assert routes.match(path, method="GET") == (endpoint, {"token": path.rsplit("/", 1)[1]}), url
