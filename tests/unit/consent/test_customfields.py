"""The [[custom_fields]] format: what a marketer may write, and every way it is refused by name."""

from __future__ import annotations

import tomllib

import pytest

from leadcapture.consent import customfields
from leadcapture.consent.formdefs import FormDefinitionError, content_hash, validate
from tests.support.app import DEMO_FORM

EXAMPLE = """
[[custom_fields]]
key = "job_title"
label = "Functie"
type = "text"
required = false
max_length = 100

[[custom_fields]]
key = "company_size"
label = "Bedrijfsgrootte"
type = "choice"
choices = ["1-10", "11-50", "51-250", "250+"]
"""


def demo(**changes):
    raw = tomllib.loads(DEMO_FORM.read_text())
    raw.update(changes)
    return raw


def problems_of(fields) -> list[str]:
    with pytest.raises(FormDefinitionError) as caught:
        validate(demo(custom_fields=fields))
    return caught.value.problems


def test_the_documented_example_is_valid_with_its_defaults_filled_in():
    definition = validate(demo(**tomllib.loads(EXAMPLE)))
    assert definition["custom_fields"] == [
        {"key": "job_title", "label": "Functie", "type": "text", "required": False, "max_length": 100},
        {
            "key": "company_size",
            "label": "Bedrijfsgrootte",
            "type": "choice",
            "required": False,
            "choices": ["1-10", "11-50", "51-250", "250+"],
        },
    ]
    short = validate(demo(custom_fields=[{"key": "role", "label": "Rol"}]))["custom_fields"]
    assert short == [{"key": "role", "label": "Rol", "type": "text", "required": False, "max_length": 100}]


def test_a_definition_without_questions_keeps_the_content_hash_it_always_had():
    # Given the demo as it was before custom fields existed, and the same with an empty list
    without, empty = validate(demo()), validate(demo(custom_fields=[]))
    # Then neither has the key, so re-importing an unchanged file makes no new version
    assert "custom_fields" not in without and content_hash(without) == content_hash(empty)


def test_an_unknown_setting_is_refused_by_name():
    assert "custom field 1: unknown setting 'placeholder'" in problems_of(
        [{"key": "role", "label": "Rol", "placeholder": "CEO"}]
    )


@pytest.mark.parametrize("key", ["Role", "1st", "job-title", "", "a" * 33, 7])
def test_a_key_must_be_lower_case_letters_digits_and_underscores(key):
    assert any("key must be lower-case" in p for p in problems_of([{"key": key, "label": "x"}]))


@pytest.mark.parametrize("key", ["email", "name", "company", "phone", "utm_source", "referrer", "page", "purpose_x"])
def test_a_key_may_not_be_a_built_in_fields_name(key):
    assert f"custom field 1: key {key!r} is a built-in field's name" in problems_of([{"key": key, "label": "x"}])


def test_keys_are_unique_and_there_are_at_most_ten():
    assert "custom field 2: key 'role' is used twice" in problems_of(
        [{"key": "role", "label": "a"}, {"key": "role", "label": "b"}]
    )
    eleven = [{"key": f"q{n}", "label": "x"} for n in range(11)]
    assert "at most 10 custom_fields (there are 11)" in problems_of(eleven)


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        ({"type": "choice"}, "choices must be a non-empty list of texts"),
        ({"type": "choice", "choices": []}, "choices must be a non-empty list of texts"),
        ({"type": "choice", "choices": ["a", 1]}, "choices must be a non-empty list of texts"),
        ({"type": "choice", "choices": ["a", "a"]}, "a choice is listed twice"),
        ({"type": "choice", "choices": ["a", " "]}, "each choice is 1 to 100 characters"),
        ({"type": "choice", "choices": ["x" * 101]}, "each choice is 1 to 100 characters"),
        ({"type": "choice", "choices": [str(n) for n in range(51)]}, "at most 50 choices"),
        ({"type": "choice", "choices": ["a"], "max_length": 5}, "max_length is for text fields"),
        ({"choices": ["a"]}, 'choices are for type = "choice"'),
        ({"max_length": 0}, "max_length must be a whole number from 1 to 1000"),
        ({"max_length": 1001}, "max_length must be a whole number from 1 to 1000"),
        ({"max_length": True}, "max_length must be a whole number from 1 to 1000"),
        ({"type": "date"}, "type must be one of text, choice"),
        ({"required": "yes"}, "required must be true or false"),
        ({"label": ""}, "label is required"),
        ({"label": "x" * 201}, "label is longer than 200 characters"),
    ],
)
def test_each_setting_is_checked(field, problem):
    found = problems_of([{"key": "q", "label": "Vraag", **field}])
    assert any(problem in p for p in found), found


def test_custom_fields_must_be_tables():
    assert "custom_fields must be a list of [[custom_fields]] tables" in problems_of("job_title")
    assert "custom field 1 must be a table" in problems_of(["job_title"])


def test_the_editors_text_is_only_custom_fields_tables():
    assert customfields.from_toml("") == []
    assert customfields.from_toml(EXAMPLE)[1]["key"] == "company_size"
    with pytest.raises(ValueError, match="not valid TOML"):
        customfields.from_toml("[[custom_fields]\nkey = ")
    with pytest.raises(ValueError, match="not 'slug'"):
        customfields.from_toml('slug = "other"\n' + EXAMPLE)
    assert customfields.to_toml(customfields.from_toml(EXAMPLE)).count("[[custom_fields]]") == 2


def test_answers_carry_the_label_their_version_showed_in_the_forms_order():
    definition = validate(demo(**tomllib.loads(EXAMPLE)))
    given = {"company_size": "11-50", "job_title": "CEO", "gone": "x"}
    assert customfields.labelled(definition, given) == [
        {"key": "job_title", "label": "Functie", "value": "CEO"},
        {"key": "company_size", "label": "Bedrijfsgrootte", "value": "11-50"},
        {"key": "gone", "label": "gone", "value": "x"},
    ]
