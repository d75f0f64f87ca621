"""Worker plumbing: Services without Flask, one retry policy for every queue, the final attempt."""

from __future__ import annotations

from pathlib import Path

import dramatiq
import flask
import pytest
from dramatiq.middleware import Retries
from sqlalchemy import select

from leadcapture.consent import jobs, outbox
from leadcapture.consent.formdefs import load_toml, save
from leadcapture.models import Message
from leadcapture.settings import load_settings
from tests.support.app import DEMO_FORM, Outbox, submit
from tests.support.settings import reconfigure
from tests.support.submissions import a_submission
from workers import broker as worker_broker
from workers.boot import boot
from workers.middleware import final_attempt


def retries_middleware() -> Retries:
    return next(m for m in dramatiq.get_broker().middleware if isinstance(m, Retries))


def test_every_job_name_has_an_actor_and_every_actor_a_job_name(app):
    assert set(dramatiq.get_broker().get_declared_actors()) == jobs.NAMES


def test_every_queue_retries_under_the_settings_policy(app):
    # Given settings with their own retry policy
    reconfigure(app, mail_max_retries=3, mail_retry_min_backoff=100, mail_retry_max_backoff=2000)
    # When the broker runs the app's jobs
    worker_broker.setup(app.extensions["leadcapture"])
    # Then the policy is the broker's, and no actor on any queue overrides it
    retries = retries_middleware()
    assert (retries.max_retries, retries.min_backoff, retries.max_backoff) == (3, 100, 2000)
    broker = dramatiq.get_broker()
    actors = [broker.get_actor(name) for name in broker.get_declared_actors()]
    assert {actor.queue_name for actor in actors} == {"mail", "campaigns", "webhooks"}
    for actor in actors:
        assert not {"max_retries", "min_backoff", "max_backoff"} & set(actor.options), actor.actor_name


def test_the_final_attempt_is_the_one_after_the_last_retry(app):
    reconfigure(app, mail_max_retries=2)
    broker = worker_broker.setup(app.extensions["leadcapture"])
    message = broker.get_actor(jobs.SEND_CONFIRMATION).message(1)
    attempts = [final_attempt(broker, message.copy(options={"retries": n})) for n in range(3)]
    assert attempts == [False, False, True]


def test_a_transient_failure_on_the_last_attempt_is_recorded_as_failed(app, services, client, worker, smtp_server):
    # Given an SMTP relay that answers 4xx, and no retries left after the first try
    handler, url = smtp_server(["421 4.7.0 try later"])
    reconfigure(app, mail_url=url, mail_max_retries=0)
    services._transport = None
    worker_broker.setup(services)
    with services.db.session() as session:
        save(session, *load_toml(DEMO_FORM))
    # When the confirmation job runs
    submit(client, "jan@example.com")
    worker.drain()
    # Then the actor told delivery this was its final attempt
    with services.db.session() as session:
        message = session.scalars(select(Message)).one()
    assert (message.status, message.detail) == ("failed", "gave up after retries: SMTP 421 4.7.0 try later")
    assert handler.messages == []


def test_an_unknown_job_is_a_bad_job_not_a_broker_error(app):
    with pytest.raises(outbox.BadJob, match="no actor is declared for job 'send_confirmaton'"):
        worker_broker.publish("send_confirmaton", [1])


class Recorder:
    """A transport that records whether a Flask app context was active at each send."""

    def __init__(self, inner):
        self.inner = inner
        self.app_context: list[bool] = []

    def send(self, msg) -> None:
        self.app_context.append(flask.has_app_context())
        self.inner.send(msg)


def test_the_worker_boot_runs_jobs_without_a_flask_app(config, dramatiq_worker):
    # Given Services built by the worker boot: no Flask app anywhere
    services = boot(load_settings(config))
    try:
        recorder = services._transport = Recorder(services.transport)
        with services.db.session() as session:
            save(session, *load_toml(DEMO_FORM))
        a_submission(services)
        # When the confirmation job is published and run
        outbox.relay_now(services)
        dramatiq.get_broker().join("mail", fail_fast=True)
        dramatiq_worker.join()
        # Then it was sent with these services, outside any app context
        assert recorder.app_context == [False]
        assert len(Outbox(Path(config["VAR_DIR"]) / "outbox").messages()) == 1
    finally:
        dramatiq.get_broker().flush_all()
        services.db.dispose()
