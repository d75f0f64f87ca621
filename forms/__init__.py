"""Flask-WTF form classes built from a form definition: unticked purpose boxes, a honeypot,
and a cookie-less signed form token (CSRF protection that also works inside a third-party
iframe, and carries the time the form was shown, for the minimum fill time, and the version
shown, so a post is stored with the wording the person saw)."""

from __future__ import annotations

import secrets
import time
import unicodedata
from typing import Any

import phonenumbers
from flask import current_app, g, request
from flask_babel import gettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectChoice, SelectField, StringField, ValidationError
from wtforms.csrf.core import CSRF, CSRFTokenField
from wtforms.validators import Optional, StopValidation

from forms import pow as proof_of_work
from leadcapture.consent.customfields import fields_of
from leadcapture.consent.formdefs import asked_fields, phone_purpose_keys
from leadcapture.consent.people import AddressError, valid_address
from leadcapture.consent.source import UTM_KEYS, Source
from leadcapture.consent.tokens import FORM, TokenError

HONEYPOT = "website"
CUSTOM_PREFIX = "cf_"  # a custom field's form name: its key can never meet a built-in field's
PHONE_CHARACTERS = frozenset("0123456789+ -()./")
# Where a number without a country code is taken to be; an English form (any other) asks for the code.
PHONE_REGIONS = {"nl": "NL", "de": "DE"}


def _services():
    return current_app.extensions["leadcapture"]


class FormTokenField(CSRFTokenField):
    """The form token's hidden field: the token to send next is signed when a page shows it.

    A post that stores its submission answers with a page without the form, so it signs none.
    """

    def process(self, *args: Any, **kwargs: Any) -> None:
        HiddenField.process(self, *args, **kwargs)

    def _value(self) -> str:
        if self.current_token is None:
            self.current_token = self.csrf_impl.generate_csrf_token(self)
        return self.current_token


def _posted_payload(token: str, slug: str) -> dict[str, Any] | None:
    """The payload of a posted form token if it is valid and names this form, else None (verified once per request)."""
    read = g.get("form_token")
    if read is None or read[:2] != (token, slug):
        try:
            payload: dict[str, Any] | None = _services().tokens.load(FORM, token)
        except TokenError:
            payload = None
        if payload is not None and payload.get("f") != slug:
            payload = None
        read = g.form_token = (token, slug, payload)
    return read[2]


def shown_version_id(slug: str) -> int | None:
    """The id of the form version the posted page showed, as its form token names it.

    None for a token made before tokens named the version, and for one that is not a valid token of this form.
    """
    payload = _posted_payload(request.form.get("csrf_token", ""), slug)
    shown = payload.get("v") if payload is not None else None
    return shown if type(shown) is int else None


class FormTokenCSRF(CSRF):
    """A signed token naming the form, the version shown (none in a preview) and when it was shown; no session
    cookie needed. It expires after two hours and stores one submission
    (leadcapture.consent.tokens.spend_form_token)."""

    field_class = FormTokenField

    def setup_form(self, form: Any) -> Any:
        self.slug, self.version_id = form.meta.csrf_context
        return super().setup_form(form)

    def generate_csrf_token(self, csrf_token_field: Any) -> str:
        # The nonce makes each shown form's token its own: a token stores one submission only.
        payload = {"f": self.slug, "t": self._shown_at(), "n": secrets.token_urlsafe(9)}
        if self.version_id is not None:
            payload["v"] = self.version_id
        return _services().tokens.make(FORM, payload)

    def _payload(self, token: str) -> dict[str, Any] | None:
        """The payload of a posted token if it is valid and names this form and version, else None.

        A token without a version (made before tokens named it) is checked against the live version.
        """
        payload = _posted_payload(token, self.slug)
        if payload is not None and payload.get("v", self.version_id) != self.version_id:
            return None
        return payload

    def _shown_at(self) -> int:
        """When the visitor first saw this form: a page shown again with errors keeps the first time.

        Otherwise a person who fixes a field and sends within MIN_FILL_SECONDS of the error page
        would look like a bot, and be told to check their mail for nothing.
        """
        now = int(time.time())
        sent = request.form.get("csrf_token", "") if request.method == "POST" else ""
        payload = self._payload(sent) if sent else None
        if payload is not None and isinstance(payload.get("t"), int):
            return min(payload["t"], now)
        return now

    def validate_csrf_token(self, form: Any, field: Any) -> None:
        payload = self._payload(field.data or "")
        if payload is None:
            raise ValidationError(
                gettext("This form was open for too long or was not sent from our page. Please submit it again.")
            )
        form.shown_at = payload.get("t", 0)


def no_control_characters(_form: Any, field: Any) -> None:
    """Refuse CR, LF, other control characters and Unicode line/paragraph separators (header injection)."""
    if field.data and any(unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp")
                          for ch in field.data):  # fmt: skip
        raise ValidationError(gettext("This field contains characters that are not allowed."))


def max_length(limit: int):
    """Refuse values longer than limit, with a message in the page's language."""

    def check(_form: Any, field: Any) -> None:
        if field.data and len(field.data) > limit:
            raise ValidationError(gettext("This is too long (at most %(max)s characters).", max=limit))

    return check


def valid_email(_form: Any, field: Any) -> None:
    """The address rule of every way in (consent.people.valid_address); no DNS lookups at submit time."""
    try:
        field.data = valid_address(field.data or "")
    except AddressError as exc:
        if exc.suggestion:
            raise ValidationError(
                gettext(
                    "This address has look-alike characters (such as full-width letters). Did you mean %(suggestion)s?",
                    suggestion=exc.suggestion,
                )
            ) from exc
        raise ValidationError(gettext("Enter a valid email address, like name@example.com.")) from exc


def valid_phone(region: str | None):
    """Digits with +, spaces and the usual separators, a real number (phonenumbers); stored in international format."""

    def check(_form: Any, field: Any) -> None:
        value = (field.data or "").strip()
        if not value:
            return
        if not set(value) <= PHONE_CHARACTERS:
            raise ValidationError(gettext("Enter a valid phone number with its country code, like +31 20 123 4567."))
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException as exc:
            raise ValidationError(
                gettext("Enter a valid phone number with its country code, like +31 20 123 4567.")
            ) from exc
        if not phonenumbers.is_valid_number(number):
            raise ValidationError(gettext("Enter a valid phone number with its country code, like +31 20 123 4567."))
        field.data = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)

    return check


class LeadForm(FlaskForm):
    """The fields every form has; build_form_class adds the configured ones."""

    class Meta:
        csrf_class = FormTokenCSRF

        def wrap_formdata(self, form: Any, formdata: Any) -> Any:
            """The posted form fields only: Flask-WTF would also read a JSON body, which may not be an object."""
            return request.form if request.method == "POST" and request.form else None

    email = StringField(validators=[max_length(254), no_control_characters, valid_email])
    page_url = HiddenField(validators=[Optional(), max_length(2000), no_control_characters])
    website = StringField()  # honeypot: hidden from people, filled by bots
    # Where the visitor came from, carried from the page that showed the form. Never refused:
    # Source.clean makes any value harmless, and a person's request never fails on a campaign tag.
    utm_source = HiddenField()
    utm_medium = HiddenField()
    utm_campaign = HiddenField()
    referrer = HiddenField()
    pow = HiddenField()  # the proof-of-work nonce, when the deployment asks for one
    shown_at: int = 0
    phone_purposes: frozenset[str] = frozenset()  # ticking one of these needs a phone number

    def validate(self, extra_validators: Any = None) -> bool:
        """The fields' own checks, and a phone number whenever a purpose by phone is ticked."""
        valid = super().validate(extra_validators)
        if "phone" in self and not self.phone.errors and not (self.phone.data or "").strip():
            if self.phone_purposes & set(self.purpose_keys()):
                self.phone.errors = [gettext("Enter your phone number: you ticked that we may call you.")]
                return False
        return valid

    def purpose_keys(self) -> list[str]:
        """The keys of the purposes the visitor ticked."""
        return [
            name.removeprefix("purpose_") for name, f in self._fields.items() if name.startswith("purpose_") and f.data
        ]

    def extra_fields(self) -> dict[str, str]:
        """The optional personal fields that were filled in."""
        return {
            name: self[name].data.strip()
            for name in ("name", "company", "phone")
            if name in self and self[name].data and self[name].data.strip()
        }

    def answers(self) -> dict[str, str]:
        """The form's own questions that were answered, key to value."""
        return {
            name.removeprefix(CUSTOM_PREFIX): field.data.strip()
            for name, field in self._fields.items()
            if name.startswith(CUSTOM_PREFIX) and field.data and field.data.strip()
        }

    def source(self) -> Source:
        """Where the visitor came from, cleaned (see consent.source)."""
        return Source.clean(*(self[name].data for name in UTM_KEYS), self.referrer.data)

    def proof_of_work_ok(self, bits: int) -> bool:
        """Check the proof-of-work nonce against this form token and address; records an error if wrong."""
        email = (self.email.raw_data or [""])[0] or ""
        token = (self.csrf_token.raw_data or [""])[0] or ""
        if proof_of_work.verify(token, email, self.pow.data or "", bits):
            return True
        self.pow.errors = [
            gettext("Your browser could not complete the anti-spam check. Please try again (JavaScript must be on).")
        ]
        return False

    def looks_automated(self, min_fill_seconds: int) -> bool:
        """Honeypot filled, or sent faster than a person can fill a form."""
        return bool(self.website.data) or time.time() - self.shown_at < min_fill_seconds


def build_form_class(definition: dict[str, Any], limit: int) -> type[LeadForm]:
    """A LeadForm subclass with the definition's optional fields and one box per purpose."""
    attrs: dict[str, Any] = {"phone_purposes": phone_purpose_keys(definition)}
    for name in asked_fields(definition):
        checks = [Optional(), max_length(limit), no_control_characters]
        if name == "phone":
            checks.append(valid_phone(PHONE_REGIONS.get(definition["language"])))
        attrs[name] = StringField(validators=checks)
    for custom in fields_of(definition):
        attrs[CUSTOM_PREFIX + custom["key"]] = _custom_field(custom)
    for purpose in definition["purposes"]:
        # default=False: a box is unticked until the visitor ticks it (the page shows it ticked again only
        # when their own post comes back with an error).
        attrs[f"purpose_{purpose['key']}"] = BooleanField(default=False)
    return type("DefinedLeadForm", (LeadForm,), attrs)


def answer_required(_form: Any, field: Any) -> None:
    """A required question answered with more than spaces."""
    if not (field.data or "").strip():
        raise StopValidation(gettext("Please answer this question."))


class ChoiceField(SelectField):
    """One of the question's choices; the empty option is "no answer", anything not listed is refused."""

    def pre_validate(self, form: Any) -> None:
        if self.data not in {choice.value for choice in self.choices}:
            raise ValidationError(gettext("Choose one of the options in the list."))


def _custom_field(custom: dict[str, Any]) -> Any:
    """A question of the form: a line of text, or one of a list of choices."""
    presence = answer_required if custom["required"] else Optional()
    if custom["type"] == "choice":
        choices = [SelectChoice(""), *(SelectChoice(c) for c in custom["choices"])]
        return ChoiceField(choices=choices, default="", validators=[presence])
    return StringField(validators=[presence, max_length(custom["max_length"]), no_control_characters])


def make_form(definition: dict[str, Any], version_id: int | None = None, **kwargs: Any) -> LeadForm:
    """An instance bound to the current request, its token tied to this form's slug and the version shown."""
    return _form_class(definition)(meta={"csrf_context": (definition["slug"], version_id)}, **kwargs)


# Form classes by definition object: a live version's definition is one shared, never-changed
# dict (formdefs.current_version), so its class is built once, not on every request. The cache
# holds the definition itself, so its id cannot be reused while it is cached.
_classes: dict[tuple[int, int], tuple[dict[str, Any], type[LeadForm]]] = {}


def _form_class(definition: dict[str, Any]) -> type[LeadForm]:
    limit = current_app.config["MAX_FIELD_LENGTH"]
    cached = _classes.get((id(definition), limit))
    if cached is not None and cached[0] is definition:
        return cached[1]
    cls = build_form_class(definition, limit)
    if len(_classes) >= 256:  # the admin's previews bring a new definition each time
        _classes.clear()
    _classes[(id(definition), limit)] = (definition, cls)
    return cls
