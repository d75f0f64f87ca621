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
    TokenRetired,
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

A, B = "kV3xQ9b_Tn2mWc8-LpYr0A", "Zf0a-7HqPx4sNd1_Ue6oBw"  # public ids as models.new_public_id makes them

# Signed with the secret "secret" when links named rows by integer id: links like these sit in
# mailboxes, and the id may name someone else's row by now.
MAILED_WITH_INTEGER_IDS = {
    "eyJwIjo0MiwiayI6Im5ld3NsZXR0ZXIifQ.CvN90B9D2MZm2Ay0fzeGQEuIthQ": UNSUBSCRIBE,
    "eyJwIjo0MiwiayI6bnVsbH0.5WruzMmbzxAuugxw6aSUXD0lt2Q": UNSUBSCRIBE,
    "eyJzIjo0Mn0.-wrB0lB5TVDQLQwzRhBDq17aUB8": UNSUBSCRIBE,
    "eyJwIjo0Mn0.ZcDh8NLvn8emSFnsI7AWTU4y2CQ": PREFERENCES,
}


@pytest.mark.parametrize("token", MAILED_WITH_INTEGER_IDS)
def test_links_mailed_with_integer_ids_are_retired(token):
    with pytest.raises(TokenRetired):
        Tokens("secret").read(MAILED_WITH_INTEGER_IDS[token], token)


@pytest.mark.parametrize(
    ("kind", "data"),
    [(CONFIRM, {"r": 7}), (CONFIRM, {"s": 7}), (DOWNLOAD, {"r": 7}), (UNSUBSCRIBE, {"s": 7}), (PREFERENCES, {"p": 7})],
)
def test_every_kind_retires_integer_ids(kind, data):
    t = tokens()
    with pytest.raises(TokenRetired):
        t.read(kind, t.make(kind, data))


def test_a_retired_token_is_not_an_invalid_one():
    # The pages tell "this link no longer works" apart from "this link was changed".
    assert not issubclass(TokenRetired, TokenInvalid)


@pytest.mark.parametrize(
    ("payload", "wire"),
    [
        (ConfirmRequest(A), {"r": A}),
        (ConfirmSubmission(A), {"s": A}),
        (Download(A), {"r": A}),
        (NotMe(A), {"s": A}),
        (Withdraw(A, "call"), {"p": A, "k": "call"}),
        (Preferences(A), {"p": A}),
    ],
)
def test_each_payload_keeps_its_wire_letters_and_reads_back(payload, wire):
    t = tokens()
    token = t.sign(payload)
    assert t.load(payload.kind, token) == wire
    assert t.read(payload.kind, token) == payload
    assert len(token) < 200


def test_a_submission_in_a_confirm_or_unsubscribe_payload_wins_over_other_ids():
    assert parse(CONFIRM, {"s": B, "r": A}) == ConfirmSubmission(B)
    assert parse(UNSUBSCRIBE, {"s": B, "p": A, "k": "call"}) == NotMe(B)


def test_an_empty_purpose_key_withdraws_every_purpose_like_none():
    assert parse(UNSUBSCRIBE, {"p": A, "k": ""}) == Withdraw(A, None)
    assert parse(UNSUBSCRIBE, {"p": A}) == Withdraw(A, None)


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        (CONFIRM, {"r": A[:-1]}),  # one character short of 128 bits
        (CONFIRM, {"r": A + "x"}),
        (CONFIRM, {"r": A[:-1] + "="}),
        (CONFIRM, {"r": A[:-1] + "\n"}),
        (CONFIRM, {"r": "../" + A[3:]}),
        (CONFIRM, {"r": True}),
        (CONFIRM, {"r": 1.0}),
        (CONFIRM, {"s": None}),
        (CONFIRM, {"r": A, "p": "x"}),  # every id it carries must be one, even one the kind ignores
        (CONFIRM, {"p": A}),
        (CONFIRM, {}),
        (UNSUBSCRIBE, {"p": A, "k": 5}),
        (UNSUBSCRIBE, {"r": A}),
        (DOWNLOAD, {"s": A}),
        (PREFERENCES, {"p": [A]}),
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
