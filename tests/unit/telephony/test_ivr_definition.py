"""IVR definitions are validated with clear errors; prompts fall back sensibly."""

from __future__ import annotations

import pytest

from zvans.errors import InvalidInput
from zvans.telephony.ivr import IvrDefinition, Prompt
from zvans.telephony.queue_media import minutes_of

#: the shape of the demo IVR (zvans.demo)
DEMO = {
    "greeting": {"lv": "Labdien!", "en": "Hello!"},
    "menu": {"lv": "Spiediet 1."},
    "options": {"1": {"queue_id": 3, "topic": "lv"}, "2": {"queue_id": 4}},
    "timeout_s": 6,
    "max_attempts": 3,
    "on_fail": {"queue_id": 3},
}


def test_demo_shape_parses_in_the_ivr_language() -> None:
    d = IvrDefinition.parse(DEMO, "lv")
    assert d.greeting == Prompt(text="Labdien!")
    assert d.menu == Prompt(text="Spiediet 1.")
    assert d.options["1"].queue_id == 3 and d.options["1"].topic == "lv"
    assert d.options["2"].topic == "2"  # no topic: the digit
    assert (d.timeout_s, d.max_attempts, d.on_fail_queue) == (6.0, 3, 3)
    assert d.invalid.text and d.goodbye.text  # defaults exist in Latvian


def test_missing_language_falls_back_to_english_then_any() -> None:
    d = IvrDefinition.parse(DEMO, "lt")
    assert d.greeting.text == "Hello!"
    assert d.menu.text == "Spiediet 1."


def test_uploaded_wav_prompt() -> None:
    d = IvrDefinition.parse({**DEMO, "greeting": {"lv": {"wav": "/srv/greeting.wav"}}}, "lv")
    assert d.greeting == Prompt(wav="/srv/greeting.wav")


@pytest.mark.parametrize(("patch", "field"), [
    ({"options": {"12": {"queue_id": 1}}}, "options"),
    ({"options": {"x": {"queue_id": 1}}}, "options"),
    ({"options": {"1": {"topic": "no queue"}}}, "options"),
    ({"options": ["1"]}, "options"),
    ({"timeout_s": 0}, "timeout_s"),
    ({"timeout_s": "six"}, "timeout_s"),
    ({"max_attempts": 0}, "max_attempts"),
    ({"on_fail": {"queue_id": "three"}}, "on_fail"),
    ({"greeting": 5}, "definition"),
])
def test_bad_definitions_name_the_field(patch: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        IvrDefinition.parse({**DEMO, **patch}, "lv")
    assert err.value.field == field
    assert err.value.message  # a sentence for the administrator, not a traceback


def test_announced_minutes() -> None:
    assert minutes_of(0) == 0 and minutes_of(59.9) == 0  # "less than one minute"
    assert minutes_of(60) == 1 and minutes_of(150) == 2 and minutes_of(151) == 3
    assert minutes_of(float("inf")) == 0
