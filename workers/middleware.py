"""Worker middleware: the process's Services for the actors, outbox bookkeeping, the retry policy.

Cross-cutting concerns of every job live here, not in the actors: which Services a job runs
with, marking its outbox row done, whether a failure now is its last, and the retry policy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage, Middleware, Retries

from leadcapture.consent import outbox
from leadcapture.delivery.engine import Attempt, Busy
from leadcapture.services import Services

log = logging.getLogger(__name__)

_current = threading.local()  # the Services of the message this thread runs


class ServicesMiddleware(Middleware):
    """Gives every job the Services bound to the broker; a job keeps the ones it started with."""

    def __init__(self) -> None:
        self.services: Services | None = None

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        if self.services is None:
            raise RuntimeError("no Services bound to the dramatiq broker (workers.broker.setup)")
        _current.services = self.services

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        _current.services = None

    def after_skip_message(self, broker, message) -> None:
        _current.services = None


class OutboxDoneMiddleware(Middleware):
    """Marks the outbox row of a finished job done, so the relay never publishes it again."""

    def __init__(self, services: ServicesMiddleware):
        self._services = services

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        job_id = message.options.get("outbox_id")
        services = self._services.services
        if job_id is None or exception is not None or services is None:
            return  # a failed attempt: the retry (or, if the broker lost it, the relay) follows
        try:
            outbox.mark_done(services.db, job_id)
        except Exception:  # noqa: BLE001  (worst case the job is published once more: sends are idempotent)
            log.warning("could not mark outbox job %s done", job_id, exc_info=True)


class PaceMiddleware(Middleware):
    """Counts the jobs web requests published that have not finished; publishers wait while there are too many.

    The wait is bounded: the request's data is committed already, so after PACE_MAX_WAIT its job
    is queued anyway and only its mail is late.
    """

    PACE_MAX_WAIT = 5.0

    def __init__(self) -> None:
        self.limit = 0  # 0: no pacing
        self._open = 0
        self._room = threading.Condition()

    def wait_for_room(self) -> None:
        with self._room:
            if self.limit:
                self._room.wait_for(lambda: self._open < self.limit, timeout=self.PACE_MAX_WAIT)
            self._open += 1

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        self._finished(message)

    def after_skip_message(self, broker, message) -> None:
        self._finished(message)

    def _finished(self, message: dramatiq.Message) -> None:
        if message.options.get("paced") and not message.options.get("paced_done"):
            message.options["paced_done"] = True  # a retry of it is not counted again
            with self._room:
                self._open -= 1
                self._room.notify()


def one_middleware(broker: dramatiq.Broker, kind: type[Middleware]) -> Any:
    """The broker's middleware of this kind."""
    return next(m for m in broker.middleware if isinstance(m, kind))


def bind(broker: dramatiq.Broker, services: Services) -> None:
    """Run the broker's jobs with these services, retried under their settings' policy.

    The policy (LEADCAPTURE_MAIL_MAX_RETRIES and the backoff) is the Retries middleware's
    default, so it holds for every actor on every queue, and no actor overrides it.
    """
    one_middleware(broker, ServicesMiddleware).services = services
    retries = one_middleware(broker, Retries)
    retries.max_retries = services.settings.mail_max_retries
    retries.min_backoff = services.settings.mail_retry_min_backoff
    retries.max_backoff = services.settings.mail_retry_max_backoff


def final_attempt(broker: dramatiq.Broker, message: dramatiq.Message) -> bool:
    """Whether the Retries middleware will give up if this run of message fails."""
    actor = broker.get_actor(message.actor_name)
    default = one_middleware(broker, Retries).max_retries
    limit = message.options.get("max_retries", actor.options.get("max_retries", default))
    return limit is not None and message.options.get("retries", 0) >= limit


def current_services() -> Services:
    """The Services of the job this thread runs."""
    services = getattr(_current, "services", None)
    if services is None:
        raise RuntimeError("not inside a job: the Services are given to jobs by ServicesMiddleware")
    return services


def current_attempt() -> Attempt:
    """The job this thread runs, as the delivery engine needs to know it (outside a job: a first attempt)."""
    message = CurrentMessage.get_current_message()
    if message is None:
        return Attempt()
    return Attempt(job_id=message.message_id, final=final_attempt(dramatiq.get_broker(), message))


def run(send: Callable[..., Any], *args: Any) -> None:
    """Call a delivery function for the current job; while another job holds its message, retry quietly later."""
    try:
        send(current_services(), *args, attempt=current_attempt())
    except Busy as exc:
        raise dramatiq.Retry(str(exc)) from exc
