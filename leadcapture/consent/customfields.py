"""A form's own questions (`[[custom_fields]]`): their format, validation, and the answers a person gave.

The questions are part of the form definition, so each version keeps the labels the person saw.
Answers are stored encrypted with the submission as one JSON object, key to value.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import tomli_w

from leadcapture.crypto import Vault
from leadcapture.models import Person, Submission

FIELD_TYPES = ("text", "choice")
MAX_FIELDS = 10
MAX_CHOICES = 50
MAX_LABEL = 200
MAX_CHOICE_LENGTH = 100
DEFAULT_MAX_LENGTH = 100
MAX_TEXT_LENGTH = 1000
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_FIELD_KEYS = {"key", "label", "type", "required", "max_length", "choices"}
# Names the form, its export or the leads CSV already use: a question may not take one.
RESERVED_KEYS = frozenset(
    {
        "email",
        "name",
        "company",
        "phone",
        "website",
        "pow",
        "csrf_token",
        "embed",
        "origin",
        "page",
        "page_url",
        "referrer",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "asset",
        "form",
        "form_version",
        "submitted_at",
        "asked",
        "language",
    }
)


def validate(raw: object, problems: list[str]) -> list[dict[str, Any]]:
    """The `custom_fields` tables checked and normalised; each problem is appended to problems."""
    if not isinstance(raw, list):
        problems.append("custom_fields must be a list of [[custom_fields]] tables")
        return []
    if len(raw) > MAX_FIELDS:
        problems.append(f"at most {MAX_FIELDS} custom_fields (there are {len(raw)})")
    fields: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, item in enumerate(raw[: MAX_FIELDS + 1], 1):
        where = f"custom field {number}"
        if not isinstance(item, dict):
            problems.append(f"{where} must be a table")
            continue
        for unknown in sorted(set(item) - _FIELD_KEYS):
            problems.append(f"{where}: unknown setting {unknown!r}")
        key = item.get("key", "")
        if not isinstance(key, str) or not _KEY.match(key):
            problems.append(f"{where}: key must be lower-case letters, digits and underscores, starting with a letter")
        elif key in RESERVED_KEYS or key.startswith("purpose_"):
            problems.append(f"{where}: key {key!r} is a built-in field's name")
        elif key in seen:
            problems.append(f"{where}: key {key!r} is used twice")
        seen.add(str(key))
        label = item.get("label", "")
        if not isinstance(label, str) or not label.strip():
            problems.append(f"{where}: label is required")
            label = ""
        elif len(label.strip()) > MAX_LABEL:
            problems.append(f"{where}: label is longer than {MAX_LABEL} characters")
        kind = item.get("type", "text")
        if kind not in FIELD_TYPES:
            problems.append(f"{where}: type must be one of {', '.join(FIELD_TYPES)}")
        required = item.get("required", False)
        if not isinstance(required, bool):
            problems.append(f"{where}: required must be true or false")
        field: dict[str, Any] = {"key": key, "label": str(label).strip(), "type": kind, "required": required is True}
        if kind == "choice":
            if "max_length" in item:
                problems.append(f"{where}: max_length is for text fields; a choice is one of its choices")
            field["choices"] = _choices(item.get("choices"), where, problems)
        else:
            if "choices" in item:
                problems.append(f'{where}: choices are for type = "choice"')
            limit = item.get("max_length", DEFAULT_MAX_LENGTH)
            if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_TEXT_LENGTH:
                problems.append(f"{where}: max_length must be a whole number from 1 to {MAX_TEXT_LENGTH}")
                limit = DEFAULT_MAX_LENGTH
            field["max_length"] = limit
        fields.append(field)
    return fields


def _choices(raw: object, where: str, problems: list[str]) -> list[str]:
    if not isinstance(raw, list) or not raw or not all(isinstance(c, str) for c in raw):
        problems.append(f"{where}: choices must be a non-empty list of texts")
        return []
    choices = [c.strip() for c in raw]
    if len(choices) > MAX_CHOICES:
        problems.append(f"{where}: at most {MAX_CHOICES} choices")
    if any(not c or len(c) > MAX_CHOICE_LENGTH for c in choices):
        problems.append(f"{where}: each choice is 1 to {MAX_CHOICE_LENGTH} characters")
    if len(set(choices)) != len(choices):
        problems.append(f"{where}: a choice is listed twice")
    return choices


def from_toml(text: str) -> list[Any]:
    """The [[custom_fields]] tables of a TOML text alone (the admin editor's box), not yet validated.

    Raises ValueError naming the problem when the text is not TOML or holds anything else.
    """
    if not text.strip():
        return []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"custom fields are not valid TOML: {exc}") from exc
    others = sorted(set(data) - {"custom_fields"})
    if others:
        found = ", ".join(repr(k) for k in others)
        raise ValueError(f"custom fields: only [[custom_fields]] tables belong there, not {found}")
    return data.get("custom_fields", [])


def to_toml(fields: list[dict[str, Any]]) -> str:
    """The [[custom_fields]] tables of a definition as TOML ("" without any)."""
    return tomli_w.dumps({"custom_fields": fields}) if fields else ""


def fields_of(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """A definition's questions (none in a definition written before they existed)."""
    return definition.get("custom_fields", [])


def labelled(definition: dict[str, Any], answers: dict[str, str]) -> list[dict[str, str]]:
    """Answers with the label the version showed, in the form's order (an unknown key keeps its key as label)."""
    labels = {f["key"]: f["label"] for f in fields_of(definition)}
    order = {key: i for i, key in enumerate(labels)}
    return [
        {"key": key, "label": labels.get(key, key), "value": value}
        for key, value in sorted(answers.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
    ]


def submitted_answers(vault: Vault, submissions: list[Submission]) -> list[dict[str, str]]:
    """The answers to the forms' own questions in these submissions, with the labels their versions showed."""
    answers: list[dict[str, str]] = []
    for submission in submissions:
        if submission.answers_enc:
            given = json.loads(vault.decrypt(submission.answers_enc))
            answers += labelled(submission.form_version.definition, given)
    return answers


def keep_answers(vault: Vault, person: Person, submission: Submission) -> None:
    """Store a confirmed submission's answers on the person, key to label and value (a later answer wins)."""
    given = submitted_answers(vault, [submission])
    if not given:
        return
    kept = json.loads(vault.decrypt(person.answers_enc)) if person.answers_enc else {}
    kept.update({a["key"]: {"label": a["label"], "value": a["value"]} for a in given})
    person.answers_enc = vault.encrypt(json.dumps(kept))
