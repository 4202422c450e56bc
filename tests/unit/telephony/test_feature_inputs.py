"""What the call features accept from callers, agents and the configuration."""

from __future__ import annotations

import pytest

from zvans.errors import InvalidInput
from zvans.telephony.callback_offer import callback_number
from zvans.telephony.features import TEXTS, spoken_digits, text
from zvans.telephony.outbound import dial_number, failure_reason, parse_trunk
from zvans.telephony.pin import DEFAULT_BONUS_S, PinOptions


@pytest.mark.parametrize(("raw", "expected"), [
    ("29123456", "29123456"), ("+37129123456", "+37129123456"), ("123456", "123456"),
    ("123456789012345", "123456789012345"),
    ("12345", None), ("1234567890123456", None), ("12AB", None), ("12*34567", None),
    ("", None), ("+", None), ("++371291234", None), ("2912 3456", None),
])
def test_callback_number(raw: str, expected: str | None) -> None:
    assert callback_number(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("+371 2900-0077", "+37129000077"), ("(8) 112", "8112"), ("112", "112"),
])
def test_dial_number_cleans_spacing(raw: str, expected: str) -> None:
    assert dial_number(raw) == expected


@pytest.mark.parametrize(("raw", "message"), [
    ("", "Enter the phone number"), ("12ab", "only digits"), ("12", "3 to 15 digits"),
    ("+1234567890123456", "3 to 15 digits"), ("37+12345", "only digits"),
])
def test_dial_number_refuses_with_a_reason(raw: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        dial_number(raw)
    assert message in caught.value.message and caught.value.field == "number"
    assert caught.value.status == 422


def test_parse_trunk() -> None:
    trunk = parse_trunk("sip:acme:p%40ss@sbc.example.net:5080;transport=tcp")
    assert (trunk.host, trunk.port, trunk.transport) == ("sbc.example.net", 5080, "TCP")
    assert trunk.credentials == ("acme", "p@ss")
    assert trunk.request_uri("+371") == "sip:+371@sbc.example.net:5080"
    plain = parse_trunk("sip:127.0.0.1")
    assert (plain.port, plain.transport, plain.credentials) == (5060, "UDP", None)
    for bad in ("127.0.0.1", "sip:", "sip:host:port", "sip:host;transport=sctp"):
        with pytest.raises(InvalidInput):
            parse_trunk(bad)


def test_failure_reasons() -> None:
    assert [failure_reason(s) for s in (486, 600, 603, 480, 408, 487, 404)] == [
        "busy", "busy", "declined", "no-answer", "no-answer", "no-answer", "failed-404"]


def test_pin_options() -> None:
    assert PinOptions.parse(None, "lv") is None and PinOptions.parse(False, "lv") is None
    default = PinOptions.parse(True, "lv")
    assert default is not None and default.priority_bonus_s == DEFAULT_BONUS_S == 60
    custom = PinOptions.parse({"max_attempts": 2, "priority_bonus_s": 90,
                               "prompt": {"en": "PIN please", "lv": "PIN lūdzu"}}, "lv")
    assert custom == PinOptions(2, 90.0, "PIN lūdzu")
    for bad in ({"max_attempts": 4}, {"max_attempts": 0}, {"priority_bonus_s": -1},
                {"priority_bonus_s": "a lot"}, "yes"):
        with pytest.raises(InvalidInput):
            PinOptions.parse(bad, "en")


def test_every_text_exists_in_four_languages() -> None:
    for key, texts in TEXTS.items():
        assert set(texts) == {"lv", "lt", "et", "en"}, key
    assert text("rating_ask", "de")[0] == "en"  # unknown language: English
    lang, sentence = text("callback_confirm", "lv", number=spoken_digits("+371"))
    assert lang == "lv" and "+ 3 7 1" in sentence
