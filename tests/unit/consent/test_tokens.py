import time

import pytest

from leadcapture.consent.tokens import (
    CONFIRM,
    DOWNLOAD,
    FORM,
    MAX_TOKEN_LENGTH,
    PREFERENCES,
    UNSUBSCRIBE,
    ConfirmRequest,
    ConfirmSubmission,
    Download,
    NotMe,
    Preferences,
    TokenExpired,
    TokenInvalid,
    Tokens,
    Withdraw,
    parse,
)


def tokens(**kw):
    return Tokens("secret", max_ages={CONFIRM: 60, DOWNLOAD: 60}, **kw)


def test_it_round_trips_a_payload():
    t = tokens()
    assert t.load(CONFIRM, t.make(CONFIRM, {"r": 7})) == {"r": 7}


def test_it_rejects_a_token_of_another_kind():
    t = tokens()
    with pytest.raises(TokenInvalid):
        t.load(UNSUBSCRIBE, t.make(CONFIRM, {"r": 7}))


@pytest.mark.parametrize("mangle", [lambda s: s[:-2], lambda s: s + "x", lambda s: "A" + s[1:], lambda s: ""])
def test_it_rejects_tampered_tokens(mangle):
    t = tokens()
    with pytest.raises(TokenInvalid):
        t.load(CONFIRM, mangle(t.make(CONFIRM, {"r": 7})))


def test_it_rejects_an_expired_confirm_token(monkeypatch):
    t = tokens()
    token = t.make(CONFIRM, {"r": 7})
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 61)
    with pytest.raises(TokenExpired):
        t.load(CONFIRM, token)


def test_unsubscribe_tokens_never_expire(monkeypatch):
    t = tokens()
    token = t.make(UNSUBSCRIBE, {"p": 1, "k": "newsletter"})
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 10 * 365 * 86400)
    assert t.load(UNSUBSCRIBE, token) == {"p": 1, "k": "newsletter"}


def test_old_secret_still_verifies_after_rotation():
    old = Tokens("old-secret")
    token = old.make(UNSUBSCRIBE, {"p": 1, "k": None})
    rotated = Tokens("new-secret", fallbacks=["old-secret"])
    assert rotated.load(UNSUBSCRIBE, token) == {"p": 1, "k": None}
    with pytest.raises(TokenInvalid):
        Tokens("new-secret").load(UNSUBSCRIBE, token)


def test_a_non_dict_payload_is_invalid():
    t = tokens()
    with pytest.raises(TokenInvalid):
        t.load(UNSUBSCRIBE, t.make(UNSUBSCRIBE, [1, 2]))


# -- the payloads of the links in messages --------------------------------------------------------

# Signed with the secret "secret" before the payloads were typed: links like these sit in mailboxes.
MAILED = {
    "eyJwIjo0MiwiayI6Im5ld3NsZXR0ZXIifQ.CvN90B9D2MZm2Ay0fzeGQEuIthQ": (UNSUBSCRIBE, Withdraw(42, "newsletter")),
    "eyJwIjo0MiwiayI6bnVsbH0.5WruzMmbzxAuugxw6aSUXD0lt2Q": (UNSUBSCRIBE, Withdraw(42, None)),
    "eyJzIjo0Mn0.-wrB0lB5TVDQLQwzRhBDq17aUB8": (UNSUBSCRIBE, NotMe(42)),
    "eyJwIjo0Mn0.ZcDh8NLvn8emSFnsI7AWTU4y2CQ": (PREFERENCES, Preferences(42)),
}


@pytest.mark.parametrize("token", MAILED)
def test_links_already_mailed_read_as_the_same_payload_and_are_signed_the_same(token):
    kind, payload = MAILED[token]
    t = Tokens("secret")
    assert t.read(kind, token) == payload
    assert t.sign(payload) == token


@pytest.mark.parametrize(
    ("payload", "wire"),
    [
        (ConfirmRequest(7), {"r": 7}),
        (ConfirmSubmission(7), {"s": 7}),
        (Download(7), {"r": 7}),
        (NotMe(7), {"s": 7}),
        (Withdraw(7, "call"), {"p": 7, "k": "call"}),
        (Preferences(7), {"p": 7}),
    ],
)
def test_each_payload_keeps_its_wire_letters_and_reads_back(payload, wire):
    t = tokens()
    token = t.sign(payload)
    assert t.load(payload.kind, token) == wire
    assert t.read(payload.kind, token) == payload


def test_a_submission_in_a_confirm_or_unsubscribe_payload_wins_over_other_ids():
    assert parse(CONFIRM, {"s": 2, "r": 1}) == ConfirmSubmission(2)
    assert parse(UNSUBSCRIBE, {"s": 2, "p": 1, "k": "call"}) == NotMe(2)


def test_an_empty_purpose_key_withdraws_every_purpose_like_none():
    assert parse(UNSUBSCRIBE, {"p": 1, "k": ""}) == Withdraw(1, None)
    assert parse(UNSUBSCRIBE, {"p": 1}) == Withdraw(1, None)


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        (CONFIRM, {"r": "1"}),
        (CONFIRM, {"r": True}),
        (CONFIRM, {"r": 1.0}),
        (CONFIRM, {"r": 2**63}),
        (CONFIRM, {"r": 0}),
        (CONFIRM, {"s": None}),
        (CONFIRM, {"r": 1, "p": -1}),  # every id it carries must be one, even one the kind ignores
        (CONFIRM, {"p": 1}),
        (CONFIRM, {}),
        (UNSUBSCRIBE, {"p": 1, "k": 5}),
        (UNSUBSCRIBE, {"r": 1}),
        (DOWNLOAD, {"s": 1}),
        (PREFERENCES, {"p": [1]}),
        (FORM, {"f": "x", "t": 1}),
    ],
)
def test_a_payload_we_never_make_is_invalid(kind, data):
    with pytest.raises(TokenInvalid):
        parse(kind, data)


def test_a_token_longer_than_any_we_make_is_refused_unread():
    t = tokens()
    with pytest.raises(TokenInvalid):
        t.read(PREFERENCES, "x" * (MAX_TOKEN_LENGTH + 1))
