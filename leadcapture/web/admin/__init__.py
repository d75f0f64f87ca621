"""The admin under /admin/: login, roles on every view, CSRF on every POST, audit log, users.

English only (the visitor-facing pages are translated; the admin is for staff). The blueprint and
the rules every view follows are in auth; each section's views are a module of their own,
imported here so their routes register.
"""

from leadcapture.web.admin import (  # noqa: F401  (their routes register on bp)
    account,
    brands,
    campaigns,
    forms,
    funnel,
    imports,
    leads,
    people,
    records,
    staff,
    webhooks,
)
from leadcapture.web.admin.auth import bp

__all__ = ["bp"]
