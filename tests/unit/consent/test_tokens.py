import time

import pytest

from leadcapture.consent.tokens import CONFIRM, DOWNLOAD, UNSUBSCRIBE, TokenExpired, TokenInvalid, Tokens


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
