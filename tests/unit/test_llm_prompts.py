"""The versioned prompt and the strict reading of a model's answer."""

from __future__ import annotations

import hashlib
import json
import re
import typing
from decimal import Decimal

import pytest

from openbell.adapters.llm.prompts import (
    Answer,
    InvalidAnswer,
    load_template,
    parse_answer,
    prompt_versions,
)
from openbell.domain.candidates import PremarketFeatures
from openbell.domain.errors import InvalidValue
from openbell.domain.values import Price, Symbol


def features(**optional: object) -> PremarketFeatures:
    return PremarketFeatures(
        Symbol("WULF"),
        Price(Decimal(10)),
        Price(Decimal("10.6")),
        Decimal(200_000),
        Decimal(3_000_000),
        Decimal("4.25"),
        **optional,  # type: ignore[arg-type]
    )


def test_v1_ships_and_an_unknown_version_names_the_ones_that_exist() -> None:
    assert "v1" in prompt_versions()
    with pytest.raises(InvalidValue, match=r"prompt_version: expected one of .*v1.*found 'v9'"):
        load_template("v9")


def test_the_user_message_carries_every_fact_with_its_value() -> None:
    prompt = load_template("v1").render(features())
    system, user = prompt.messages
    assert (system.role, user.role) == ("system", "user")
    assert prompt.inputs == {
        "symbol": "WULF",
        "previous_close": "10",
        "last_price": "10.6",
        "gap_pct": "6.00",
        "premarket_volume": "200000",
        "relative_volume": "0.0667",
        "premarket_dollar_volume": "2120000",
        "atr_pct": "4.25",
    }
    for name, value in prompt.inputs.items():
        assert f"- {name}: {value}\n" in user.content + "\n"
    assert "$" not in user.content  # every placeholder was filled
    assert "security_type:" not in user.content.split("What each fact means")[0]


def test_the_optional_facts_are_sent_only_when_known() -> None:
    prompt = load_template("v1").render(
        features(security_type="CS", market_cap=Decimal("1234567890.4"), sector="Technology")
    )
    assert prompt.inputs["security_type"] == "CS"
    assert prompt.inputs["market_cap"] == "1234567890"
    assert prompt.inputs["sector"] == "Technology"
    assert "- sector: Technology" in prompt.messages[1].content


def test_the_hash_is_the_sha256_of_the_messages_and_changes_with_the_facts() -> None:
    template = load_template("v1")
    prompt = template.render(features())
    payload = [{"content": m.content, "role": m.role} for m in prompt.messages]
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert prompt.prompt_hash == hashlib.sha256(text.encode()).hexdigest()
    assert template.render(features()).prompt_hash == prompt.prompt_hash
    assert template.render(features(sector="Energy")).prompt_hash != prompt.prompt_hash


def test_the_schema_in_the_prompt_is_the_one_the_answer_is_checked_against() -> None:
    user = load_template("v1").user
    block = re.search(r"```json\n(.*?)\n```", user, re.DOTALL)
    assert block is not None
    schema = json.loads(block.group(1))
    assert set(schema["properties"]) == set(Answer.model_fields)
    assert set(schema["required"]) == set(Answer.model_fields)
    assert schema["additionalProperties"] is False  # extra="forbid"
    directions = typing.get_args(Answer.model_fields["direction"].annotation)
    assert schema["properties"]["direction"]["enum"] == list(directions)
    confidence = schema["properties"]["confidence"]
    assert (confidence["minimum"], confidence["maximum"]) == (0, 1)


VALID = '{"confidence": 0.72, "direction": "long", "rationale": " a real gap ", "risks": []}'


def test_a_valid_answer_is_read_with_its_rationale_trimmed() -> None:
    parsed = parse_answer(VALID)
    assert (parsed.confidence, parsed.direction, parsed.rationale) == (0.72, "long", "a real gap")


def test_one_fenced_json_block_is_the_same_answer() -> None:
    assert parse_answer(f"```json\n{VALID}\n```") == parse_answer(VALID)
    assert parse_answer(f"```\n{VALID}\n```") == parse_answer(VALID)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("I like WULF, confidence 0.8", "not JSON"),
        (f"Here is my answer:\n```json\n{VALID}\n```", "not JSON"),
        (f"{VALID} I hope this helps", "not JSON"),
        ("[0.8]", "expected one JSON object"),
        ('{"confidence": 0.8, "direction": "long", "rationale": "x"}', "risks: expected"),
        (VALID[:-1] + ', "symbol": "WULF"}', "symbol: expected no key other than"),
        (VALID.replace('" a real gap "', '"   "'), "rationale: expected a non-empty string"),
        (VALID.replace('"long"', '"Long"'), "direction: expected"),
        (VALID.replace("[]", "[1]"), "risks: expected a string or a list of strings, found [1]"),
    ],
)
def test_anything_else_is_invalid_and_says_why(content: str, expected: str) -> None:
    with pytest.raises(InvalidAnswer, match=re.escape(expected)):
        parse_answer(content)


@pytest.mark.parametrize("confidence", ["1.7", "-0.1", '"high"', '"0.8"', "true", "NaN", "1e999"])
def test_a_confidence_that_is_not_a_number_from_0_to_1_is_invalid(confidence: str) -> None:
    content = VALID.replace("0.72", confidence)
    with pytest.raises(InvalidAnswer, match=r"^confidence: expected a number from 0 to 1, found"):
        parse_answer(content)
