"""Where a lead came from: the campaign tags (utm_*) and the referring page, cleaned of hostile input.

The values arrive from the visitor's browser (the form page's own URL, or the embedding page's
through embed.js) and are never trusted for anything: they are stored and counted, nothing more.
UTM tags describe a campaign, not a person, and are stored as they are; the referrer belongs to a
person's submission and is stored encrypted, as origin and path only (a query or fragment can
carry an address or a session).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from leadcapture.consent.people import page_without_query

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign")
MAX_UTM_LENGTH = 100
MAX_REFERRER_LENGTH = 500
DIRECT = "direct"  # the funnel's source of a submission without utm_source


def clean_text(value: object, limit: int = MAX_UTM_LENGTH) -> str:
    """A single line of printable text: control and separator characters dropped, spaces collapsed, capped."""
    if not isinstance(value, str):
        return ""
    kept = "".join(
        " " if unicodedata.category(ch) in ("Zs", "Zl", "Zp") or ch in "\t\r\n" else ch
        for ch in value[: limit * 4]  # bounded work on an oversized value
        if unicodedata.category(ch)[0] != "C" or ch in "\t\r\n"
    )
    return " ".join(kept.split())[:limit].strip()


def clean_referrer(value: object) -> str:
    """An http(s) page as origin and path only (no user info, query or fragment), or "" for anything else."""
    text = clean_text(value, limit=2000).replace(" ", "%20")
    try:
        scheme = urlsplit(text).scheme.lower()
    except ValueError:
        return ""
    if scheme not in ("http", "https"):
        return ""  # javascript:, data:, android-app:, a bare word: not a page someone came from
    page = page_without_query(text) or ""
    if not urlsplit(page).hostname:
        return ""
    return page if len(page) <= MAX_REFERRER_LENGTH else ""


@dataclass(frozen=True)
class Source:
    """A submission's campaign tags and referring page, each "" when unknown."""

    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    referrer: str = ""

    @classmethod
    def clean(
        cls, utm_source: object = "", utm_medium: object = "", utm_campaign: object = "", referrer: object = ""
    ) -> Source:
        """The source from untrusted values. Source and medium are case-folded, so `LinkedIn` and
        `linkedin` count as one source; a campaign name keeps its case."""
        source = clean_text(utm_source).lower()
        return cls(
            utm_source="" if source == DIRECT else source,  # "direct" is the name of no source
            utm_medium=clean_text(utm_medium).lower(),
            utm_campaign=clean_text(utm_campaign),
            referrer=clean_referrer(referrer),
        )

    @property
    def funnel_source(self) -> str:
        """The funnel's name for it: utm_source, or "direct"."""
        return self.utm_source or DIRECT


def funnel_source(utm_source: object) -> str:
    """The funnel's source for a raw utm_source value (a view's, a stored submission's)."""
    return clean_text(utm_source).lower() or DIRECT
