"""Changing an app's settings inside a test."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Flask


def reconfigure(app: Flask, **changes: Any) -> None:
    """Change settings (lower-case names) on a running app: its services and app.config alike."""
    services = app.extensions["leadcapture"]
    services.settings = dataclasses.replace(services.settings, **changes)
    app.config.update({key.upper(): value for key, value in changes.items()})
