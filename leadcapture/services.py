"""The service container: what views, actors and commands share, built once from the settings.

It imports no Flask and no dramatiq. What it cannot own is injected by the composition roots
(`create_app`, the CLI group, the worker boot): the mail transport factory, the broker's
publish function and its status check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from leadcapture.consent.tokens import CONFIRM, DOWNLOAD, FORM, Tokens
from leadcapture.crypto import Vault
from leadcapture.db import Database
from leadcapture.settings import Settings

FORM_TOKEN_MAX_AGE = 2 * 3600  # a form token stores one submission, within two hours
log = logging.getLogger(__name__)


class Transport(Protocol):
    """Hands finished messages to a mail system."""

    def send(self, msg: Any) -> None: ...

    def check(self) -> None: ...

    def close(self) -> None: ...


Publish = Callable[[str, list[Any], int | None], None]


class Services:
    """Settings, database, vault, tokens, the mail transport and the broker's publish and status functions."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport_factory: Callable[[Settings], Transport] | None = None,
        publish: Publish | None = None,
        broker_status: Callable[[str], str] | None = None,
    ):
        self.settings = settings
        # the web threads, the worker threads (both, in the embedded default) and the relay,
        # sealer, scheduler and group-commit threads
        self.db = Database(settings.database_url, threads=settings.web_threads + settings.worker_threads + 4)
        self.vault = Vault(settings.data_keys, settings.index_key)
        self.tokens = Tokens(
            settings.secret_key,
            list(settings.secret_key_fallbacks),
            max_ages={
                CONFIRM: settings.confirm_max_age,
                DOWNLOAD: settings.download_max_age,
                FORM: FORM_TOKEN_MAX_AGE,
            },
        )
        self.publish = publish
        self.broker_status = broker_status  # "ok", "in-process" or "unreachable: ..." for a broker URL
        self._transport_factory = transport_factory
        self._transport: Transport | None = None

    @property
    def transport(self) -> Transport:
        """The mail transport, created on first use."""
        if self._transport is None:
            if self._transport_factory is None:
                raise RuntimeError("these services were built without a mail transport")
            self._transport = self._transport_factory(self.settings)
        return self._transport

    def forget_mail(self, address: str) -> int:
        """Delete stored copies of mail to this address where the transport keeps any (the development outbox)."""
        forget = getattr(self.transport, "forget", None) if self._transport_factory is not None else None
        if forget is None:
            return 0
        try:
            return forget(address)
        except OSError:  # the erasure in the database stands; say what was left behind
            log.warning("could not delete the outbox copies of an erased person's mail", exc_info=True)
            return 0

    def url(self, path: str) -> str:
        """An absolute link built from BASE_URL, never from the request's Host header."""
        return self.settings.base_url + path
