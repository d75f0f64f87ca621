"""The dramatiq broker: in-process by default, Redis or RabbitMQ from LEADCAPTURE_BROKER_URL.

Actors bind to the broker when they are declared, so `ensure_broker` creates it before
`workers.actors` is imported. One broker per process; `setup` binds the Services its jobs run
with, which can be rebound (tests make a fresh app, with fresh Services, per test).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import ActorNotFound
from dramatiq.middleware import CurrentMessage

from leadcapture.consent.outbox import BadJob
from leadcapture.services import Services
from workers.middleware import OutboxDoneMiddleware, PaceMiddleware, ServicesMiddleware, bind, one_middleware

log = logging.getLogger(__name__)

_state: dict[str, Any] = {"broker": None, "url": None}
_request = threading.local()  # paced: this thread serves a web request (paced_requests)


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
    broker.add_middleware(CurrentMessage())  # the actors tell delivery whether this is the last attempt
    services = ServicesMiddleware()
    broker.add_middleware(services)
    broker.add_middleware(OutboxDoneMiddleware(services))
    if not url:
        broker.add_middleware(PaceMiddleware())
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


def setup(services: Services) -> dramatiq.Broker:
    """Create (once per process) the broker for the services' BROKER_URL; its jobs run with these services."""
    broker = ensure_broker(services.settings.broker_url)
    bind(broker, services)
    return broker


def get_broker() -> dramatiq.Broker:
    """The broker set up for this process."""
    if _state["broker"] is None:
        raise RuntimeError("workers.broker.setup(services) has not run")
    return _state["broker"]


def publish(job: str, args: list[Any], outbox_id: int | None = None) -> None:
    """Send a message for a declared actor (used by the outbox relay); BadJob if none is declared for job."""
    try:
        actor = get_broker().get_actor(job)
    except ActorNotFound as exc:
        raise BadJob(f"no actor is declared for job {job!r}") from exc
    options: dict[str, Any] = {} if outbox_id is None else {"outbox_id": outbox_id}
    pace = _state.get("pace")
    if pace is not None and getattr(_request, "paced", False):
        pace.wait_for_room()
        options["paced"] = True
    actor.send_with_options(args=tuple(args), **options)


def paced_requests(wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """The WSGI app whose requests wait for room when they publish (pace_publishers); other threads never wait.

    A job, the relay and the scheduler publish inside their own work, some holding the database's
    writer lock: waiting there for jobs that need that lock to finish would stall them all.
    """

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        _request.paced = True
        try:
            return wsgi_app(environ, start_response)
        finally:
            _request.paced = False

    return app


def pace_publishers(limit: int) -> None:
    """Hold back web requests while more than limit of their jobs wait or run (in-process broker only).

    The in-process worker shares the process, and the GIL, with the web threads: a burst of
    submissions would queue confirmations faster than they leave, and every visitor would wait
    seconds for the mail. Paced, a submission waits for room instead, and mail keeps pace with
    what is accepted, as it does with separate worker processes.
    """
    pace = one_middleware(get_broker(), PaceMiddleware)
    pace.limit = limit
    _state["pace"] = pace


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
