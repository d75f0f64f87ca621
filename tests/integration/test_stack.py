"""The production stack end to end: gunicorn + workers on PostgreSQL, Redis or RabbitMQ, real SMTP."""

from __future__ import annotations

import json
from email import message_from_bytes
from email.policy import default

import pytest
from sqlalchemy import create_engine, func, select

from leadcapture.models import Message, OutboxJob, Submission

from .services import wait_until


def count(database_url: str, model, *where) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(model).where(*where))
    finally:
        engine.dispose()


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_a_submission_becomes_a_confirmation_over_real_services(broker, pg_url, sink, make_stack, request):
    broker_url = request.getfixturevalue("private_redis" if broker == "redis" else "rabbit").url
    stack = make_stack(pg_url, broker_url, sink.url)
    web = stack.web()
    stack.worker(processes=2, threads=2)
    for n in range(5):
        assert web.submit(f"person{n}@example.com", web.csrf(), purposes=["newsletter"])[0] == 200
    wait_until(lambda: sink.count() == 5, 30, what="5 confirmations")
    assert all(v == 1 for v in sink.per_recipient.values())
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in sink.accepted[0].original_content
    assert count(pg_url, OutboxJob, OutboxJob.published_at.is_(None)) == 0
    assert count(pg_url, Message, Message.status == "sent") == 5


def test_healthz_reports_database_and_broker(pg_url, sink, make_stack, private_redis):
    stack = make_stack(pg_url, private_redis.url, sink.url)
    web = stack.web()
    status, body = web.get("/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok", "database": "ok", "broker": "ok"}
    private_redis.stop()
    status, body = web.get("/healthz")
    assert status == 503
    report = json.loads(body)
    assert report["database"] == "ok" and report["broker"].startswith("unreachable")
    private_redis.start()
    assert web.get("/healthz")[0] == 200


def test_healthz_reaches_the_shared_redis_and_rabbitmq(pg_url, sink, make_stack, rabbit):
    from workers.broker import broker_status

    from .services import REDIS_URL, port_open, unavailable

    if not port_open("127.0.0.1", 6379):
        unavailable("Redis is not answering on 127.0.0.1:6379")
    assert broker_status(REDIS_URL) == "ok"
    assert broker_status(rabbit.url) == "ok"
    assert broker_status("redis://127.0.0.1:9/0", timeout=1).startswith("unreachable")


def test_worker_start_up_names_a_wrong_smtp_relay(pg_url, private_redis, tmp_path):
    from .services import free_port, leadcapture, stack_env

    env = stack_env(tmp_path, pg_url, private_redis.url, f"smtp://127.0.0.1:{free_port()}")
    result = leadcapture(env, "worker")
    assert result.returncode == 1
    assert "cannot use SMTP relay 127.0.0.1" in result.stderr and "LEADCAPTURE_MAIL_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_start_up_names_an_unreachable_broker(pg_url, sink, tmp_path):
    from .services import free_port, leadcapture, stack_env

    env = stack_env(tmp_path, pg_url, f"redis://127.0.0.1:{free_port()}/0", sink.url)
    result = leadcapture(env, "worker")
    assert result.returncode == 1 and "cannot use broker redis://127.0.0.1" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_production_needs_a_broker(pg_url, sink, tmp_path):
    from .services import leadcapture, stack_env

    result = leadcapture(stack_env(tmp_path, pg_url, "", sink.url), "serve", "--production")
    assert result.returncode == 1 and "needs LEADCAPTURE_BROKER_URL" in result.stderr


def test_sigterm_stops_web_and_workers_gracefully(pg_url, sink, make_stack, private_redis):
    stack = make_stack(pg_url, private_redis.url, sink.url)
    web = stack.web()
    supervisor = stack.worker(processes=2, threads=1)
    supervisor.wait_for(r"(?s)worker \d+ running.*worker \d+ running", 30)
    assert web.submit("jan@example.com", web.csrf())[0] == 200
    wait_until(lambda: sink.count() == 1, 30, what="the confirmation")
    assert supervisor.terminate(timeout=30) == 0
    assert supervisor.output.count("stopped") == 2
    assert stack.processes[0].terminate(timeout=30) == 0
    assert count(pg_url, Submission) == 1


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_a_request_inside_the_window_is_mailed_when_it_ends_over_real_services(
    broker, pg_url, sink, make_stack, request
):
    # Given a production stack with a three-second confirmation window
    broker_url = request.getfixturevalue("private_redis" if broker == "redis" else "rabbit").url
    stack = make_stack(pg_url, broker_url, sink.url, LEADCAPTURE_CONFIRMATION_WINDOW="3")
    web = stack.web()
    stack.worker(processes=1, threads=2)
    # When one address asks twice inside the window
    assert web.submit("jan@example.com", web.csrf(), purposes=["newsletter"])[0] == 200
    wait_until(lambda: sink.count() == 1, 30, what="the first confirmation")
    assert web.submit("jan@example.com", web.csrf(), purposes=["call"])[0] == 200
    # Then the second waits for the window, and arrives after it as a second mail
    assert count(pg_url, OutboxJob, OutboxJob.not_before.is_not(None)) == 1
    wait_until(lambda: sink.count() == 2, 30, what="the confirmation after the window")
    assert sink.per_recipient["jan@example.com"] == 2
    second = message_from_bytes(sink.accepted[1].original_content, policy=default).get_body(("plain",)).get_content()
    assert "bellen" in second and "nieuwsbrief" not in second
