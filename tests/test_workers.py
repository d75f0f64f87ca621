"""Actors: idempotent, gated at send time, and the SMTP transport against a real SMTP server."""

from __future__ import annotations

import socket

import dramatiq
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from leadcapture import sending
from leadcapture.mail import SMTPTransport, TransientMailError
from leadcapture.models import Message, Submission
from leadcapture.tokens import UNSUBSCRIBE
from tests.conftest import path_of, submit

pytestmark = pytest.mark.usefixtures("demo_form")


def only_submission(core) -> int:
    with core.db.session() as session:
        return session.scalar(select(Submission.id))


def test_a_redelivered_job_sends_no_second_copy(client, worker, mailbox, core):
    submit(client, "jan@example.com")
    worker.drain()
    submission_id = only_submission(core)
    actor = dramatiq.get_broker().get_actor("send_confirmation")
    for _ in range(3):  # the broker delivers the same job again
        actor.send(submission_id)
    worker.drain()
    assert len(mailbox.messages()) == 1
    assert sending.send_confirmation(core, submission_id) == "sent"


def test_a_not_me_click_between_enqueue_and_send_is_honoured(client, worker, mailbox, core):
    with worker.paused():
        submit(client, "victim@example.com", ["newsletter"])
        submission_id = only_submission(core)  # the job is queued, not yet sent
        url = core.link("u", UNSUBSCRIBE, {"s": submission_id})
        client.post(path_of(url), data={"List-Unsubscribe": "One-Click"})
    worker.drain()
    assert mailbox.messages() == []
    with core.db.session() as session:
        assert session.scalar(select(Message.status)) == "skipped"


def test_the_asset_is_not_sent_for_an_unconfirmed_request(core, client, worker, mailbox):
    submit(client, "jan@example.com")
    worker.drain()
    with core.db.session() as session:
        request_id = session.scalar(select(Submission)).requests[0].id
    assert sending.deliver_asset(core, request_id) == "skipped"
    assert len(mailbox.messages()) == 1


def test_nothing_is_sent_before_the_job_runs(client, core, worker, mailbox):
    with worker.paused():
        submit(client, "jan@example.com")
        with core.db.session() as session:
            assert session.scalar(select(func.count()).select_from(Message)) == 0
        assert mailbox.messages() == []
    worker.drain()
    assert len(mailbox.messages()) == 1


class Recorder:
    def __init__(self, replies=None):
        self.sessions, self.messages = set(), []
        self.replies = list(replies or [])

    async def handle_DATA(self, server, session, envelope):
        self.sessions.add(id(session))
        if self.replies:
            return self.replies.pop(0)
        self.messages.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    def start(replies=None):
        handler = Recorder(replies)
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        servers.append(controller)
        return handler, f"smtp://127.0.0.1:{port}"

    servers = []
    yield start
    for controller in servers:
        controller.stop()


def test_smtp_reuses_one_connection_for_many_messages(smtp_server):
    from tests.test_mail import message

    handler, url = smtp_server()
    transport = SMTPTransport(url)
    for _ in range(5):
        transport.send(message())
    transport.close()
    assert len(handler.messages) == 5
    assert len(handler.sessions) == 1
    received = handler.messages[0].content.decode()
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in received


def test_smtp_4xx_is_transient_and_5xx_permanent(smtp_server):
    from leadcapture.mail import PermanentMailError
    from tests.test_mail import message

    handler, url = smtp_server(["451 4.3.0 try later", "550 5.1.1 no such user"])
    transport = SMTPTransport(url)
    with pytest.raises(TransientMailError):
        transport.send(message())
    with pytest.raises(PermanentMailError):
        transport.send(message())
    transport.send(message())
    transport.close()
    assert len(handler.messages) == 1


def test_smtp_check_names_the_relay_when_it_is_down():
    from leadcapture.mail import MailError

    with pytest.raises(MailError, match="127.0.0.1:9"):
        SMTPTransport("smtp://127.0.0.1:9", timeout=2).check()


def test_the_flow_works_over_real_smtp(app, client, worker, core, smtp_server):
    handler, url = smtp_server()
    app.config["MAIL_URL"] = url
    core._transport = None
    submit(client, "jan@example.com", ["newsletter"])
    worker.drain()
    core.transport.close()
    (envelope,) = handler.messages
    assert envelope.rcpt_tos == ["jan@example.com"]
    assert b"Auto-Submitted: auto-generated" in envelope.content
