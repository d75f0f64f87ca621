"""Submissions written as the form writes them, without HTTP and without running their jobs."""

from __future__ import annotations

from leadcapture.consent import transitions
from leadcapture.consent.people import Visitor
from leadcapture.consent.versions import current_version


def a_submission(
    services, email: str = "jan@example.com", slug: str = "sales-machine", purposes: tuple[str, ...] = ()
) -> int:
    """A submission (whitepaper, purposes) whose confirmation is due; its job waits in the outbox to be relayed."""
    with services.db.session() as session:
        return transitions.submit(
            session,
            services.vault,
            services.settings,
            current_version(session, slug),
            email=email,
            fields={},
            purpose_keys=list(purposes),
            visitor=Visitor(ip="192.0.2.1", user_agent="test", page_url=f"https://lc.test/f/{slug}"),
        )
