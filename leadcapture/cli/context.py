"""What every command works with (its Services, the web app, the job system): click's context object."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import click
from flask import Flask

from leadcapture import create_app
from leadcapture.consent import outbox
from leadcapture.db import MAX_ID
from leadcapture.services import Services
from leadcapture.settings import ConfigError

T = TypeVar("T")

ROW_ID = click.IntRange(1, MAX_ID)  # an id argument: a larger one is a usage error, not a database error


class Worker(Protocol):
    """A worker consuming jobs in this process."""

    def stop(self) -> None: ...


@dataclass(frozen=True)
class JobSystem:
    """What commands need from the job queue; the CLI group (the composition root) wires it from workers/."""

    boot: Callable[[], Services]  # Services from the environment, without Flask, bound to the broker
    start_worker: Callable[[Services], Worker]  # consume the broker's queues in this process
    start_relay: Callable[[Services, threading.Event], threading.Thread]  # the periodic outbox relay
    supervise: Callable[[int, int], int]  # run N worker processes of T threads until SIGTERM; the exit status
    pace_requests: Callable[[Any], Any]  # the WSGI app whose requests wait for room in the in-process worker


class Runtime:
    """The Services a command runs with: the given app's (tests pass one), or built on first use.

    Built on first use so that `--help` and usage errors need no database and no valid settings.
    Only `serve` needs the web app; every other command runs without Flask, as a worker does.
    """

    def __init__(self, app: Flask | None, jobs: JobSystem):
        self.jobs = jobs
        self._app = app
        self._services: Services | None = app.extensions["leadcapture"] if app is not None else None

    @property
    def services(self) -> Services:
        """Settings, database, vault, transport and publish; a bad setting is one line and exit 1."""
        if self._services is None:
            self._services = _one_line_errors(self.jobs.boot)
        return self._services

    @property
    def app(self) -> Flask:
        """The web app, with its own Services; ask for it before `services`, or it serves with other ones."""
        if self._app is None:
            if self._services is not None:
                raise RuntimeError("the web app is built before the services are used")
            self._app = _one_line_errors(create_app)
            self._services = self._app.extensions["leadcapture"]
        return self._app


def relay_if_broker(services: Services) -> None:
    """With a broker, publish the jobs just committed now; embedded, `leadcapture serve` relays and runs them."""
    if services.settings.broker_url:
        outbox.relay_now(services)


def _one_line_errors(build: Callable[[], T]) -> T:
    try:
        return build()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    except ValueError as exc:  # a value a client library rejects when the broker is set up
        raise click.ClickException(str(exc)) from exc
