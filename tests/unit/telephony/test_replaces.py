"""The Replaces header inside a REFER's Refer-To URI (RFC 3891 §6.1, RFC 5589 §7)."""

from __future__ import annotations

import pytest

from zvans.telephony.phone_transfer import Replaces, parse_replaces
from zvans.telephony.sip import NameAddr


def test_replaces_from_a_refer_to_uri_is_unescaped() -> None:
    refer_to = NameAddr.parse("<sip:martins.ozols@zvans.local?Replaces=a8f2%40192.168.1.20"
                              "%3Bto-tag%3D77ab%3Bfrom-tag%3Dphone-9>")
    assert parse_replaces(refer_to.uri.headers) == Replaces("a8f2@192.168.1.20", "77ab",
                                                            "phone-9")


def test_replaces_among_other_uri_headers_and_early_only() -> None:
    headers = ("Require=replaces&Replaces=c1%3Bfrom-tag%3Df%3Bto-tag%3Dt%3Bearly-only"
               "&X-Other=1")
    assert parse_replaces(headers) == Replaces("c1", "t", "f", early_only=True)


@pytest.mark.parametrize("headers", [
    None, "", "Require=replaces", "Replaces=c1%3Bto-tag%3Dt",  # no from-tag
    "Replaces=%3Bto-tag%3Dt%3Bfrom-tag%3Df",  # no Call-ID
    "Replaces=c1%3Bto-tag%3D%3Bfrom-tag%3Df",  # empty tag
])
def test_incomplete_replaces_is_none(headers: str | None) -> None:
    assert parse_replaces(headers) is None
