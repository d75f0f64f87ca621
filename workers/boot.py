"""The worker's composition root: Services from the settings, without a Flask app, bound to the broker."""

from __future__ import annotations

import logging

from leadcapture.delivery.transports import transport_for
from leadcapture.services import Services
from leadcapture.settings import Settings, load_settings
from workers import broker


def boot(settings: Settings | None = None) -> Services:
    """Services that send mail, publish jobs and run them: the broker is set up and runs its jobs with these.

    Without settings, they are read from the LEADCAPTURE_* environment (a worker process).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    services = Services(
        settings if settings is not None else load_settings(),
        transport_factory=transport_for,
        publish=broker.publish,
        broker_status=broker.broker_status,
    )
    broker.setup(services)
    return services
