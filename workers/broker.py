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
from dramatiq.middleware import Middleware

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
            from leadcapture.db import close_session

            close_session()
            ctx.pop()

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        self._pop(message)

    def after_skip_message(self, broker, message) -> None:
        self._pop(message)


def make_broker(url: str) -> dramatiq.Broker:
    """A broker for the URL: redis://, amqp:// or empty for the in-process stub broker."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        broker: dramatiq.Broker = RedisBroker(url=url)
    elif url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url)
    elif not url:
        broker = StubBroker()
        broker.emit_after("process_boot")
    else:
        raise ValueError("LEADCAPTURE_BROKER_URL must start with redis://, amqp:// or be empty")
    broker.add_middleware(AppContextMiddleware())
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


def publish(actor_name: str, args: list[Any]) -> None:
    """Send a message for a declared actor (used by the outbox relay)."""
    broker = get_broker()
    actor = broker.get_actor(actor_name)
    actor.send(*args)
