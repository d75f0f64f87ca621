"""The periodic outbox relay of a worker process (and of the embedded server)."""

from __future__ import annotations

import logging
import threading

from leadcapture.consent import outbox
from leadcapture.services import Services

log = logging.getLogger(__name__)


def start(services: Services, stop: threading.Event) -> threading.Thread:
    """Until stop is set, publish jobs not published at their commit (the broker was down) or lost by the broker."""
    if services.publish is None:
        raise RuntimeError("these services were built without a publish function")
    publish = services.publish
    interval = services.settings.outbox_relay_interval
    redeliver_after = services.settings.outbox_redeliver_after

    def loop() -> None:
        while not stop.wait(interval):
            try:
                outbox.relay(services.db.sessionmaker, publish, min_age=interval, redeliver_after=redeliver_after)
            except Exception:  # noqa: BLE001  (keep relaying; the database may come back)
                log.exception("outbox relay failed; retrying in %.0fs", interval)

    thread = threading.Thread(target=loop, name="outbox-relay", daemon=True)
    thread.start()
    return thread
