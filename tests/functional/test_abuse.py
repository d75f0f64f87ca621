"""Abuse resistance (R3.5): rate limits, the per-address window, honeypot, fill time, proof of work."""

from __future__ import annotations

import re
import secrets
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from forms import pow as proof_of_work
from leadcapture import create_app
from leadcapture.consent.tokens import FORM
from leadcapture.models import Submission
from leadcapture.settings import load_settings
from tests.support.app import Drainer, Outbox, form_token, make_config

VICTIM = "victim@example.com"


@pytest.fixture
def mailbox_for():
    """Run every queued job of app with the real worker, then read its outbox."""

    def read(app, dramatiq_worker) -> Outbox:
        Drainer(app, dramatiq_worker).drain()
        return Outbox(Path(app.config["VAR_DIR"]) / "outbox")

    return read


def submissions(app) -> int:
    with app.extensions["leadcapture"].db.session() as session:
        return session.scalar(select(func.count()).select_from(Submission))


def post(client, token, email=VICTIM, ip="203.0.113.7", **extra):
    data = {"csrf_token": token, "email": email, **extra}
    return client.post("/f/sales-machine", data=data, environ_base={"REMOTE_ADDR": ip})


def fresh_token(app, slug: str = "sales-machine") -> str:
    """A form token of its own, as each visitor's page has: a token stores one submission."""
    payload = {"f": slug, "t": int(time.time()), "n": secrets.token_urlsafe(9)}
    return app.extensions["leadcapture"].tokens.make(FORM, payload)


def victim_spellings(n: int) -> list[str]:
    """The same mailbox written the ways a bot varies it."""
    forms = [VICTIM, VICTIM.upper(), "Victim@Example.com", "victim@EXAMPLE.com", "VICTIM@example.COM"]
    return [forms[i % len(forms)] for i in range(n)]


def test_the_address_window_alone_holds_a_burst_of_1000(make_app, dramatiq_worker, mailbox_for):
    """Limits off: 1,000 submissions for one victim are stored, and one email goes out."""
    app = make_app(RATELIMIT_ENABLED=False)
    client = app.test_client()
    statuses = {post(client, fresh_token(app), email).status_code for email in victim_spellings(1000)}
    assert statuses == {200}
    assert submissions(app) == 1000  # every one stored: it is the window that stops the mail
    outbox = mailbox_for(app, dramatiq_worker)
    assert len(outbox.to(VICTIM)) == 1


def test_a_concurrent_burst_sends_one_email(make_app, dramatiq_worker, mailbox_for):
    """Limits off, eight clients at once: the window's slot is claimed atomically."""
    app = make_app(RATELIMIT_ENABLED=False)

    def burst(emails):
        client = app.test_client()
        return [post(client, fresh_token(app), e).status_code for e in emails]

    spellings = victim_spellings(200)
    with ThreadPoolExecutor(8) as pool:
        statuses = [s for chunk in pool.map(burst, [spellings[i::8] for i in range(8)]) for s in chunk]
    assert set(statuses) <= {200, 503}  # SQLite may be busy under contention: a page, never a 500
    assert statuses.count(200) > 0
    assert len(mailbox_for(app, dramatiq_worker).to(VICTIM)) == 1


def test_with_limits_on_a_burst_from_one_ip_gets_429_and_one_email(make_app, dramatiq_worker, mailbox_for):
    app = make_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    responses = [post(client, fresh_token(app), email) for email in victim_spellings(1000)]
    statuses = [r.status_code for r in responses]
    assert statuses[:5] == [200] * 5  # the default is 5 per minute per IP
    assert statuses.count(429) == 995
    limited = responses[-1]
    assert "Te veel verzoeken" in limited.get_data(as_text=True)
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.headers["Content-Security-Policy"]
    assert submissions(app) == 5
    assert len(mailbox_for(app, dramatiq_worker).to(VICTIM)) == 1


def test_with_limits_on_a_burst_from_many_ips_hits_the_per_form_limit(make_app, dramatiq_worker, mailbox_for):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SUBMIT_PER_FORM="50 per minute")
    client = app.test_client()
    statuses = [
        post(client, fresh_token(app), email, ip=f"198.51.{i // 250}.{i % 250}").status_code
        for i, email in enumerate(victim_spellings(1000))
    ]
    assert statuses.count(200) == 50 and statuses.count(429) == 950
    assert len(mailbox_for(app, dramatiq_worker).to(VICTIM)) == 1


def test_an_ipv6_client_is_limited_per_64_so_rotating_addresses_does_not_help(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SUBMIT_PER_IP="2 per minute")
    client = app.test_client()
    ips = ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:2:abcd::", "2001:db8:1:3::1"]
    assert [post(client, fresh_token(app), f"v6-{i}@example.com", ip=ip).status_code for i, ip in enumerate(ips)] == [
        200,
        200,
        429,
        200,  # another /64: another client
    ]


def test_the_per_form_limit_counts_each_form_apart(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SUBMIT_PER_FORM="2 per minute", RATELIMIT_SUBMIT_PER_IP="")
    client = app.test_client()
    assert [post(client, fresh_token(app), f"p{i}@example.com", ip=f"192.0.2.{i}").status_code for i in range(3)] == [
        200,
        200,
        429,
    ]
    assert client.post("/f/another-form", environ_base={"REMOTE_ADDR": "192.0.2.99"}).status_code == 404


def test_the_form_page_stays_readable_while_submissions_are_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SUBMIT_PER_IP="1 per minute")
    client = app.test_client()
    token = form_token(client)
    assert post(client, token).status_code == 200
    assert post(client, token).status_code == 429
    assert client.get("/f/sales-machine", environ_base={"REMOTE_ADDR": "203.0.113.7"}).status_code == 200


def test_a_limited_embedded_form_can_still_show_its_page_in_the_frame(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SUBMIT_PER_IP="1 per minute")
    client = app.test_client()
    token = form_token(client)
    post(client, token)
    response = client.post("/f/sales-machine?embed=1", data={"csrf_token": token, "email": VICTIM},
                           environ_base={"REMOTE_ADDR": "203.0.113.7"})  # fmt: skip
    assert response.status_code == 429
    assert "frame-ancestors 'self' http://127.0.0.1:8000" in response.headers["Content-Security-Policy"]


def test_two_apps_in_one_process_count_submissions_apart(make_app):
    # Given two apps with their own memory stores, one limit a minute each
    one = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SUBMIT_PER_IP="1 per minute")
    two = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SUBMIT_PER_IP="1 per minute")
    token_one, token_two = form_token(one.test_client()), form_token(two.test_client())
    # When the same address submits to each in turn
    statuses = [post(one.test_client(), token_one).status_code, post(two.test_client(), token_two).status_code]
    statuses += [post(one.test_client(), token_one).status_code]
    # Then each app counts its own submissions
    assert statuses == [200, 200, 429]


def test_the_per_ip_ceiling_covers_every_page_but_not_health_or_one_click(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PER_IP="3 per minute")
    client = app.test_client()
    assert [client.get("/f/sales-machine").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert client.get("/c/whatever").status_code == 429
    assert client.get("/healthz").status_code == 200
    assert client.post("/u/whatever", data={"List-Unsubscribe": "One-Click"}).status_code == 404


def test_limits_on_the_api_answer_json(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PER_IP="1 per minute")
    app.add_url_rule("/api/v1/probe", "probe", lambda: {"ok": True})
    client = app.test_client()
    assert client.get("/api/v1/probe").status_code == 200
    response = client.get("/api/v1/probe")
    assert response.status_code == 429
    assert response.json["status"] == 429 and response.is_json


def test_limits_can_be_switched_off_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LEADCAPTURE_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("LEADCAPTURE_RATELIMIT_ENABLED", "off")
    app = create_app()
    assert app.config["RATELIMIT_ENABLED"] is False
    app.extensions["leadcapture"].db.dispose()


def test_the_storage_is_redis_when_the_broker_is_redis(tmp_path):
    def storage(**kw):
        return load_settings(make_config(tmp_path, **kw)).ratelimit_storage

    assert storage(BROKER_URL="", RATELIMIT_STORAGE_URL="") == "memory://"
    assert storage(BROKER_URL="amqp://guest@h//", RATELIMIT_STORAGE_URL="") == "memory://"
    assert storage(BROKER_URL="redis://r:6379/0", RATELIMIT_STORAGE_URL="") == "redis://r:6379/0"
    assert storage(BROKER_URL="redis://r/0", RATELIMIT_STORAGE_URL="redis://l/3") == "redis://l/3"


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.integration
@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_two_web_processes_share_the_limit_through_redis(make_app):
    import redis

    url = "redis://127.0.0.1:6379/13"
    store = redis.Redis.from_url(url)

    def clear():
        for key in store.scan_iter(b"LIMITS:LIMITER/leadcapture-rl/*"):
            store.delete(key)

    clear()
    one = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URL=url, RATELIMIT_SUBMIT_PER_IP="3 per minute")
    two = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URL=url, RATELIMIT_SUBMIT_PER_IP="3 per minute")
    token_one, token_two = form_token(one.test_client()), form_token(two.test_client())
    statuses = [post(one.test_client(), token_one).status_code, post(two.test_client(), token_two).status_code]
    statuses += [
        post(one.test_client(), fresh_token(one)).status_code,
        post(two.test_client(), fresh_token(two)).status_code,
    ]
    assert statuses == [200, 200, 200, 429]
    assert any(store.scan_iter(b"LIMITS:LIMITER/leadcapture-rl/203.0.113.7/*"))
    clear()


def test_a_dead_limit_store_never_takes_the_form_down(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URL="redis://127.0.0.1:9/0")
    client = app.test_client()
    token = form_token(client)
    assert post(client, token).status_code == 200
    assert submissions(app) == 1


# -- honeypot and minimum fill time ------------------------------------------------------------


def test_a_form_sent_faster_than_the_fill_time_stores_nothing(make_app, dramatiq_worker, mailbox_for):
    app = make_app(MIN_FILL_SECONDS=60)
    client = app.test_client()
    response = post(client, form_token(client))
    assert response.status_code == 200 and "Kijk in je mailbox" in response.get_data(as_text=True)
    assert submissions(app) == 0
    assert mailbox_for(app, dramatiq_worker).messages() == []


# -- proof of work ------------------------------------------------------------------------------


def asking_for_proof_of_work(make_app, bits: int):
    """An app whose forms ask for a proof of work of bits, a client, and a form token."""
    app = make_app(POW_DIFFICULTY=bits)
    client = app.test_client()
    return app, client, form_token(client)


def test_proof_of_work_is_off_by_default(make_app):
    app = make_app()
    page = app.test_client().get("/f/sales-machine").get_data(as_text=True)
    assert "pow.js" not in page and "data-pow-bits" not in page


def test_with_proof_of_work_on_a_submission_without_it_gets_a_400_and_nothing_is_stored(make_app):
    app, client, token = asking_for_proof_of_work(make_app, 8)
    page = client.get("/f/sales-machine").get_data(as_text=True)
    assert 'data-pow-bits="8"' in page and "/static/pow.js" in page
    response = post(client, token)
    assert response.status_code == 400
    assert "anti-spamcontrole" in response.get_data(as_text=True)
    assert submissions(app) == 0


def test_with_proof_of_work_a_solved_challenge_is_accepted(make_app):
    app, client, token = asking_for_proof_of_work(make_app, 10)
    nonce = proof_of_work.solve(token, VICTIM, 10)
    assert post(client, token, pow=nonce).status_code == 200
    assert submissions(app) == 1


def test_a_proof_of_work_is_bound_to_its_address(make_app):
    app, client, token = asking_for_proof_of_work(make_app, 16)
    nonce = proof_of_work.solve(token, VICTIM, 16)
    assert proof_of_work.verify(token, VICTIM, nonce, 16)
    assert not proof_of_work.verify(token, "someone.else@example.com", nonce, 16)  # 1 in 65,536 by chance
    assert not proof_of_work.verify(token + "x", VICTIM, nonce, 16)
    assert post(client, token, email="someone.else@example.com", pow=nonce).status_code == 400
    assert submissions(app) == 0


@pytest.mark.parametrize("nonce", ["", "abc", "1" * 21, "١٢٣", "-1", "1e9"])
def test_malformed_nonces_are_refused(nonce):
    assert not proof_of_work.verify("t", "a@b.c", nonce, 1)


def test_leading_zero_bits():
    assert proof_of_work.leading_zero_bits(b"\x00\x00\x01") == 23
    assert proof_of_work.leading_zero_bits(b"\x80") == 0
    assert proof_of_work.leading_zero_bits(b"\x00\x0f") == 12


def test_a_difficulty_out_of_range_is_a_clear_config_error(tmp_path):
    from leadcapture.settings import ConfigError

    with pytest.raises(ConfigError, match="POW_DIFFICULTY"):
        create_app(make_config(tmp_path, POW_DIFFICULTY=40))


def test_no_limit_or_check_ever_changes_the_answer_for_an_address(make_app):
    """Honeypot, fill time and the window all answer exactly like a fresh submission (no enumeration)."""
    app = make_app()
    client = app.test_client()
    first = post(client, fresh_token(app)).get_data(as_text=True)
    again = post(client, fresh_token(app)).get_data(as_text=True)
    bot = post(client, fresh_token(app), website="http://x").get_data(as_text=True)
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", first) == strip.sub("", again) == strip.sub("", bot)


@pytest.mark.parametrize(
    ("remote", "key"),
    [("203.0.113.9", "203.0.113.9"), ("::ffff:203.0.113.9", "203.0.113.9"), ("2001:db8::1", "2001:db8::/64"),
     ("not an ip", "not an ip")],
)  # fmt: skip
def test_the_client_key(app, remote, key):
    from leadcapture.web.ratelimit import client_key

    with app.test_request_context("/", environ_base={"REMOTE_ADDR": remote}):
        assert client_key() == key
