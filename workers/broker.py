"""The dramatiq broker: in-process by default, Redis or RabbitMQ from LEADCAPTURE_BROKER_URL.

Actors bind to the broker when they are declared, so `setup` runs before `workers.actors`
is imported. One broker per process; the app the actors run in can be rebound (tests make
a fresh app per test).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Middleware

log = logging.getLogger(__name__)

_state: dict[str, Any] = {"broker": None, "url": None, "app": None}
_local = threading.local()  # the app context pushed for the message this thread runs


class AppContextMiddleware(Middleware):
    """Runs every message inside the current app's context and closes its DB session after."""

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        app = _state["app"]
        if app is None:
            raise RuntimeError("no Flask app bound to the dramatiq broker")
        ctx = app.app_context()
        ctx.push()
        _local.ctx = ctx

    def _pop(self, message: dramatiq.Message) -> None:
        ctx, _local.ctx = getattr(_local, "ctx", None), None
        if ctx is not None:
            from leadcapture.web.context import close_session

            close_session()
            ctx.pop()

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        self._pop(message)

    def after_skip_message(self, broker, message) -> None:
        self._pop(message)


class OutboxDoneMiddleware(Middleware):
    """Marks the outbox row of a finished job done, so the relay never publishes it again."""

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        job_id = message.options.get("outbox_id")
        app = _state["app"]
        if job_id is None or exception is not None or app is None:
            return  # a failed attempt: the retry (or, if the broker lost it, the relay) follows
        from leadcapture.consent import outbox

        try:
            with app.extensions["leadcapture"].db.session() as session:
                outbox.mark_done(session, job_id)
        except Exception:  # noqa: BLE001  (worst case the job is published once more: sends are idempotent)
            log.warning("could not mark outbox job %s done", job_id, exc_info=True)


def make_broker(url: str) -> dramatiq.Broker:
    """A broker for the URL: redis://, amqp:// or empty for the in-process stub broker."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        broker: dramatiq.Broker = RedisBroker(url=url)
    elif url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        # Publisher confirms: the outbox marks a job published only once RabbitMQ has it.
        broker = RabbitmqBroker(url=url, confirm_delivery=True)
    elif not url:
        broker = StubBroker()
        broker.emit_after("process_boot")
    else:
        raise ValueError("LEADCAPTURE_BROKER_URL must start with redis://, amqp:// or be empty")
    broker.add_middleware(CurrentMessage())  # sending.deliver asks whether this is the last attempt
    broker.add_middleware(AppContextMiddleware())
    broker.add_middleware(OutboxDoneMiddleware())
    return broker


def ensure_broker(url: str) -> dramatiq.Broker:
    """The process's broker for url, created on first call, with the actors declared on it."""
    if _state["broker"] is None:
        _state["broker"] = make_broker(url)
        _state["url"] = url
        dramatiq.set_broker(_state["broker"])
    elif _state["url"] != url:
        raise RuntimeError(f"this process already uses broker {_state['url']!r}, not {url!r}")
    import workers.actors  # noqa: F401  (declares the actors on the broker)

    return _state["broker"]


def setup(app: Any) -> dramatiq.Broker:
    """Create (once per process) the broker for app's BROKER_URL and run actors in app."""
    broker = ensure_broker(app.config["BROKER_URL"])
    _state["app"] = app
    return broker


def get_broker() -> dramatiq.Broker:
    """The broker set up for this process."""
    if _state["broker"] is None:
        raise RuntimeError("workers.broker.setup(app) has not run")
    return _state["broker"]


def publish(actor_name: str, args: list[Any], outbox_id: int | None = None) -> None:
    """Send a message for a declared actor (used by the outbox relay).

    Jobs on the "mail" queue carry the LEADCAPTURE_MAIL_RETRY_* settings as message options,
    so the backoff is the operator's choice, not a constant baked into the actor.
    """
    broker = get_broker()
    actor = broker.get_actor(actor_name)
    app = _state["app"]
    options: dict[str, Any] = {} if outbox_id is None else {"outbox_id": outbox_id}
    if app is not None and actor.queue_name == "mail":
        config = app.config
        options.update(
            max_retries=config["MAIL_MAX_RETRIES"],
            min_backoff=config["MAIL_RETRY_MIN_BACKOFF"],
            max_backoff=config["MAIL_RETRY_MAX_BACKOFF"],
        )
    actor.send_with_options(args=tuple(args), **options)


def retries_left() -> int | None:
    """How many retries the message this thread runs has left (None outside a worker)."""
    message = CurrentMessage.get_current_message()
    if message is None:
        return None
    actor = get_broker().get_actor(message.actor_name)
    limit = message.options.get("max_retries", actor.options.get("max_retries", 20))
    return max(0, limit - message.options.get("retries", 0))


def broker_status(url: str, timeout: float = 2.0) -> str:
    """ "ok", "in-process" (no broker URL) or "unreachable: <reason>", checked with a fresh connection."""
    if not url:
        return "in-process"
    try:
        if url.startswith(("amqp://", "amqps://")):
            import pika

            params = pika.URLParameters(url)
            params.socket_timeout = params.blocked_connection_timeout = timeout
            params.connection_attempts, params.stack_timeout = 1, timeout
            pika.BlockingConnection(params).close()
        else:
            import redis

            client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
            try:
                client.ping()
            finally:
                client.close()
    except Exception as exc:  # noqa: BLE001  (any failure means: not usable now)
        return f"unreachable: {exc.__class__.__name__}"
    return "ok"
