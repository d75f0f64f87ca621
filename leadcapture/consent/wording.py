"""The marketer's own wording of a form's mails and pages: the `[wording]` table of a definition."""

from __future__ import annotations

import re
from typing import Any

# The marketer's own wording of the mails and pages, each key optional, and its longest length.
# Each is one line: a line break would end a header, and a paragraph of HTML would drop it anyway.
WORDING_KEYS = {
    "confirmation_subject": 150,
    "confirmation_intro": 500,
    "confirmation_button": 40,
    "asset_subject": 150,
    "asset_intro": 500,
    "asset_button": 40,
    "check_inbox": 500,
    "thank_you": 500,
}
# Control characters, line and paragraph separators, and the bidirectional overrides that can
# make a subject read differently from what it says.
_NOT_IN_WORDING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def check(raw: Any, problems: list[str]) -> dict[str, str]:
    """The [wording] table checked: known keys, plain one-line text within its limit; empty means the default.

    The values are data, never templates: the mails and pages print them escaped, as they print a label.
    """
    if not isinstance(raw, dict):
        problems.append("wording must be a table of texts ([wording])")
        return {}
    for key in sorted(set(raw) - set(WORDING_KEYS)):
        problems.append(f"wording: unknown setting {key!r}")
    own = {}
    for key, limit in WORDING_KEYS.items():
        value = raw.get(key, "")
        if not isinstance(value, str):
            problems.append(f"wording: {key} must be text")
            continue
        value = value.strip()
        if _NOT_IN_WORDING.search(value):
            problems.append(f"wording: {key} must be one line of plain text (no line breaks or control characters)")
        elif len(value) > limit:
            problems.append(f"wording: {key} is longer than {limit} characters")
        elif value:
            own[key] = value
    return own


def of(definition: dict[str, Any]) -> dict[str, str]:
    """Every wording key of a definition: the marketer's text, or "" where the default applies."""
    own = definition.get("wording", {})
    return {key: own.get(key, "") for key in WORDING_KEYS}
