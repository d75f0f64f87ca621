"""The service objects one app needs, built once from its settings."""

from __future__ import annotations

from typing import Any

from flask import current_app

from .config import data_keys, index_key
from .consent import Settings
from .crypto import Vault
from .db import Database
from .mail import Transport, transport_for
from .tokens import CONFIRM, DOWNLOAD, FORM, Tokens


class Core:
    """Database, vault, tokens, mail transport and links, shared by views, actors and the CLI."""

    def __init__(self, config: Any):
        self.config = config
        self.db = Database(config["DATABASE_URL"])
        self.vault = Vault(data_keys(config), index_key(config))
        self.tokens = Tokens(
            config["SECRET_KEY"],
            config["SECRET_KEY_FALLBACKS"],
            max_ages={
                CONFIRM: config["CONFIRM_MAX_AGE"],
                DOWNLOAD: config["DOWNLOAD_MAX_AGE"],
                FORM: 24 * 3600,
            },
        )
        self.settings = Settings.from_config(config)
        self._transport: Transport | None = None

    @property
    def transport(self) -> Transport:
        """The mail transport, created on first use."""
        if self._transport is None:
            self._transport = transport_for(self.config)
        return self._transport

    def url(self, path: str) -> str:
        """An absolute link built from BASE_URL, never from the request's Host header."""
        return self.config["BASE_URL"] + path

    def link(self, prefix: str, kind: str, payload: dict[str, Any]) -> str:
        """An absolute link carrying a signed token of the given kind."""
        return self.url(f"/{prefix}/{self.tokens.make(kind, payload)}")


def get_core() -> Core:
    """The Core of the current app."""
    return current_app.extensions["leadcapture"]
