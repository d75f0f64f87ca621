"""What every command works with (the app, its Services, the job system): click's context object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import click
from flask import Flask

from leadcapture import create_app
from leadcapture.services import Services
from leadcapture.settings import ConfigError


class Worker(Protocol):
    """A worker consuming jobs in this process."""

    def stop(self) -> None: ...


@dataclass(frozen=True)
class JobSystem:
    """What commands need from the job queue; the CLI group (the composition root) wires it from workers/."""

    start_worker: Callable[[Services], Worker]  # consume the broker's queues in this process
    broker_status: Callable[[str], str]  # "ok", or why the broker at this URL cannot be used


class Runtime:
    """The app a command runs against: the one the caller gave (tests do), or one built on first use.

    Built on first use so that `--help` and usage errors need no database and no valid settings.
    """

    def __init__(self, app: Flask | None, jobs: JobSystem):
        self._app = app
        self.jobs = jobs

    @property
    def app(self) -> Flask:
        """The Flask app; a bad setting is a one-line error and exit 1, never a traceback."""
        if self._app is None:
            try:
                self._app = create_app()
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from exc
            except ValueError as exc:  # a value a client library rejects when the broker is set up
                raise click.ClickException(str(exc)) from exc
        return self._app

    @property
    def services(self) -> Services:
        """The app's service container: settings, database, vault, transport, publish."""
        return self.app.extensions["leadcapture"]
