"""What every command works with: the app and its Services, put in click's context object by the group."""

from __future__ import annotations

import click
from flask import Flask

from leadcapture import create_app
from leadcapture.services import Services
from leadcapture.settings import ConfigError


class Runtime:
    """The app a command runs against: the one the caller gave (tests do), or one built on first use.

    Built on first use so that `--help` and usage errors need no database and no valid settings.
    """

    def __init__(self, app: Flask | None = None):
        self._app = app

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
