"""The [wording] table of a form definition: every key, its limits, plain text only, versions, export."""

from __future__ import annotations

import tomllib

import pytest
from sqlalchemy import select

from leadcapture.consent import wording
from leadcapture.consent.formdefs import FormDefinitionError, content_hash, validate
from leadcapture.consent.wording import WORDING_KEYS
from leadcapture.models import FormVersion
from tests.support.app import DEMO_FORM

OWN = {
    "confirmation_subject": "Nog één klik: je whitepaper",
    "confirmation_intro": "Fijn dat je onze whitepaper wilt lezen.",
    "confirmation_button": "Ja, stuur maar",
    "asset_subject": "Hier is je whitepaper",
    "asset_intro": "Veel leesplezier.",
    "asset_button": "Lees de whitepaper",
    "check_inbox": "Kijk in je mailbox en klik op de knop.",
    "thank_you": "Top, je hoort van ons!",
}


def demo(**table):
    raw = tomllib.loads(DEMO_FORM.read_text())
    if table:
        raw["wording"] = table
    return raw


def problems_of(raw) -> list[str]:
    with pytest.raises(FormDefinitionError) as caught:
        validate(raw)
    return caught.value.problems


def test_every_key_is_kept_as_written():
    definition = validate(demo(**OWN))
    assert definition["wording"] == OWN
    assert set(OWN) == set(WORDING_KEYS)


def test_without_a_table_nothing_is_stored_and_every_key_is_the_default():
    definition = validate(demo())
    assert "wording" not in definition
    assert wording.of(definition) == dict.fromkeys(WORDING_KEYS, "")


def test_empty_values_mean_the_default_and_keep_the_content_hash():
    # The editor sends every field; left empty they must not make a new version of an existing form.
    empty = validate(demo(**dict.fromkeys(WORDING_KEYS, "  ")))
    assert "wording" not in empty
    assert content_hash(empty) == content_hash(validate(demo()))


def test_a_few_keys_leave_the_others_at_their_default():
    definition = validate(demo(thank_you="  Dank je!  "))
    assert definition["wording"] == {"thank_you": "Dank je!"}
    assert wording.of(definition)["thank_you"] == "Dank je!" and wording.of(definition)["asset_button"] == ""


def test_an_unknown_key_is_refused_by_name():
    problems = problems_of(demo(confirmation_footer="Afmelden kan niet"))
    assert problems == ["wording: unknown setting 'confirmation_footer'"]


def test_the_legal_parts_have_no_key():
    for legal in ("unsubscribe", "controller", "privacy_url", "rights", "footer"):
        assert f"wording: unknown setting {legal!r}" in problems_of(demo(**{legal: "x"}))


def test_wording_must_be_a_table():
    assert "wording must be a table of texts ([wording])" in problems_of(dict(demo(), wording="Hallo"))


@pytest.mark.parametrize("key", WORDING_KEYS)
def test_each_key_has_a_length_limit(key):
    limit = WORDING_KEYS[key]
    assert validate(demo(**{key: "x" * limit}))["wording"][key] == "x" * limit
    assert problems_of(demo(**{key: "x" * (limit + 1)})) == [f"wording: {key} is longer than {limit} characters"]


@pytest.mark.parametrize("key", WORDING_KEYS)
@pytest.mark.parametrize("bad", ["two\nlines", "a\rb", "tab\there", "nul\x00", "bidi \u202eevil", "line\u2028sep"])
def test_each_key_is_one_line_of_plain_text(key, bad):
    assert problems_of(demo(**{key: bad})) == [
        f"wording: {key} must be one line of plain text (no line breaks or control characters)"
    ]


@pytest.mark.parametrize("value", [7, True, ["a"], {"a": "b"}])
def test_a_value_must_be_text(value):
    assert problems_of(demo(thank_you=value)) == ["wording: thank_you must be text"]


def test_template_syntax_and_html_are_kept_as_data():
    # They are printed escaped where they appear, never evaluated (tests/functional/test_wording.py).
    values = {"confirmation_subject": "{{ 7*7 }} {% raw %}", "asset_intro": "<script>alert(1)</script> **bold**"}
    assert validate(demo(**values))["wording"] == values


def test_every_problem_is_listed_at_once():
    problems = problems_of(demo(nope=1, thank_you="x" * 501, asset_button="a\nb"))
    assert len(problems) == 3


def test_export_round_trips_the_wording(runner, services, tmp_path):
    (tmp_path / "sales-machine.pdf").write_bytes((DEMO_FORM.parent / "sales-machine.pdf").read_bytes())
    table = "".join(f'{key} = "{value}"\n' for key, value in OWN.items())
    (tmp_path / "form.toml").write_text(DEMO_FORM.read_text() + "\n[wording]\n" + table)
    assert "imported as version 1" in runner.invoke(args=["forms", "import", str(tmp_path / "form.toml")]).output
    exported = runner.invoke(args=["forms", "export", "sales-machine"]).output
    assert tomllib.loads(exported)["wording"] == OWN
    (tmp_path / "again.toml").write_text(exported)
    assert "unchanged, still version 1" in runner.invoke(args=["forms", "import", str(tmp_path / "again.toml")]).output


def test_changed_wording_is_a_new_version_and_the_old_keeps_its_own(runner, services, tmp_path):
    (tmp_path / "sales-machine.pdf").write_bytes((DEMO_FORM.parent / "sales-machine.pdf").read_bytes())
    path = tmp_path / "form.toml"
    path.write_text(DEMO_FORM.read_text())
    runner.invoke(args=["forms", "import", str(path)])
    path.write_text(DEMO_FORM.read_text() + '\n[wording]\nthank_you = "Dank je!"\n')
    assert "imported as version 2" in runner.invoke(args=["forms", "import", str(path)]).output
    with services.db.session() as session:
        v1, v2 = session.scalars(select(FormVersion).order_by(FormVersion.number)).all()
        assert "wording" not in v1.definition and v2.definition["wording"] == {"thank_you": "Dank je!"}
    assert tomllib.loads(runner.invoke(args=["forms", "export", "sales-machine"]).output)["wording"] == {
        "thank_you": "Dank je!"
    }


def test_an_invalid_wording_is_not_imported(runner, tmp_path):
    (tmp_path / "sales-machine.pdf").write_bytes((DEMO_FORM.parent / "sales-machine.pdf").read_bytes())
    (tmp_path / "form.toml").write_text(DEMO_FORM.read_text() + '\n[wording]\nfooter = "x"\n')
    result = runner.invoke(args=["forms", "import", str(tmp_path / "form.toml")])
    assert result.exit_code == 2
    assert "wording: unknown setting 'footer'" in result.output
