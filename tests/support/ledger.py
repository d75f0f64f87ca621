"""The consent ledger in tests: seal what was appended, as the sealer does within a second, then verify."""

from __future__ import annotations

from leadcapture.consent import ledger
from leadcapture.consent.ledger_verify import Report, verify
from leadcapture.services import Services


def seal_and_verify(services: Services) -> Report:
    """Chain every committed event with the settings' ledger key, then walk the whole chain."""
    keyring = ledger.Keyring(services.settings.ledger_keys)
    with services.db.session() as session:
        ledger.seal(session, keyring, limit=1_000_000)
    with services.db.session() as session:
        return verify(session, services.vault, keyring)
