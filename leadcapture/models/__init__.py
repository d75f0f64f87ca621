"""Database tables, one module per owner; import them from here.

Personal data columns end in _enc (encrypted) or _index (keyed hash).
"""

from leadcapture.models.backoffice import API_SCOPES, ROLES, AdminUser, ApiToken, AuditEntry, UsedFormToken
from leadcapture.models.base import (
    ASSET,
    CONFIRMED,
    DROPPED,
    EXPIRED,
    PENDING,
    PURPOSE,
    WITHDRAWN,
    Base,
    UTCDateTime,
    utcnow,
)
from leadcapture.models.delivery import (
    CLAIMED,
    DONE,
    DRAFT,
    FAILED,
    PAUSED,
    RETRY_PENDING,
    SENDING_CAMPAIGN,
    SENT,
    SKIPPED,
    Campaign,
    CampaignRecipient,
    ContentItem,
    ContentTranslation,
    Message,
)
from leadcapture.models.forms import Asset, Form, FormVersion
from leadcapture.models.jobs import Lock, OutboxJob, Setting
from leadcapture.models.ledger import LedgerEvent, LedgerHead
from leadcapture.models.people import (
    Consent,
    LeadRequest,
    MailboxWindow,
    Person,
    Repermission,
    Submission,
    Suppression,
)

__all__ = [
    "PENDING",
    "CONFIRMED",
    "DROPPED",
    "WITHDRAWN",
    "EXPIRED",
    "ASSET",
    "PURPOSE",
    "utcnow",
    "UTCDateTime",
    "Base",
    "Asset",
    "Form",
    "FormVersion",
    "Person",
    "MailboxWindow",
    "Submission",
    "LeadRequest",
    "Consent",
    "Suppression",
    "Repermission",
    "LedgerHead",
    "LedgerEvent",
    "OutboxJob",
    "Lock",
    "Setting",
    "Message",
    "CLAIMED",
    "RETRY_PENDING",
    "SENT",
    "SKIPPED",
    "FAILED",
    "DRAFT",
    "SENDING_CAMPAIGN",
    "PAUSED",
    "DONE",
    "ContentItem",
    "ContentTranslation",
    "Campaign",
    "CampaignRecipient",
    "ROLES",
    "AdminUser",
    "AuditEntry",
    "ApiToken",
    "API_SCOPES",
    "UsedFormToken",
]
