"""Admin accounts without HTTP: the one form of an address that sign-in looks up and counts by."""

from __future__ import annotations

import pytest

from leadcapture.backoffice.accounts import AccountError, login_key, normalise


@pytest.mark.parametrize(
    "typed",
    ["dpo@example.com", "DPO@Example.COM", "  dpo@example.com\t", "dpo@ｅxample.com", "ｄｐｏ@ＥＸＡＭＰＬＥ.com"],
)
def test_every_spelling_of_an_address_has_one_login_key(typed):
    assert login_key(typed) == normalise("dpo@example.com") == "dpo@example.com"


def test_a_typed_value_that_is_no_address_still_has_a_folded_key():
    assert login_key("  ＮＯＴ an address ") == "not an address"
    with pytest.raises(AccountError):
        normalise("not an address")
