"""Versioned prompts and the answer they ask for.

A prompt version is a file ``prompts/<version>.md`` shipped with the package: a system
section and a user section, each opened by a marker line (``<!-- system -->``,
``<!-- user -->``). The user section holds ``$features``, replaced by the candidate's facts,
one ``- name: value`` line each. Changing what a model is asked means adding a version, so
every journaled call can be traced to the exact words sent: the journal keeps the version
and the SHA-256 of the rendered messages.

The answer is one JSON object checked by :class:`Answer`. Two decisions, both against
guessing:

* a key the schema does not name makes the answer invalid (``extra="forbid"``): the prompt
  states the exact keys, so an extra one means the model answered some other question;
* the whole answer may sit in one Markdown code fence (```json ... ```), a formatting habit
  that changes nothing in the object; prose around the object, or before the fence, is
  invalid, and no score is ever read out of prose.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from openbell.domain.candidates import PremarketFeatures
from openbell.domain.errors import InvalidValue

_PACKAGE = "openbell.adapters.llm"
_TEMPLATES = "prompts"
_SUFFIX = ".md"
_MARKER = re.compile(r"^<!-- (system|user) -->[ \t]*$", re.MULTILINE)
_FENCED = re.compile(r"\A```(?:json|JSON)?[ \t]*\n(.*?)\n?```\Z", re.DOTALL)
_EXCERPT_CHARS = 80

# The unit each fact is rounded to: enough for a model, and stable text for the hash.
_CENT = Decimal("0.01")
_WHOLE = Decimal(1)
_FRACTION = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Message:
    role: Literal["system", "user"]
    content: str


@dataclass(frozen=True, slots=True)
class Prompt:
    """The messages sent for one candidate, the facts they carry and their fingerprint."""

    version: str
    messages: tuple[Message, ...]
    inputs: Mapping[str, str]
    """The facts as sent, by name (what the journal keeps as the call's inputs)."""
    prompt_hash: str
    """SHA-256 hex of the messages as compact JSON: the same prompt, the same hash."""


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    version: str
    system: str
    user: str

    def render(self, features: PremarketFeatures) -> Prompt:
        """The prompt for ``features``; the same facts always render the same text."""
        inputs = feature_inputs(features)
        facts = "\n".join(f"- {name}: {value}" for name, value in inputs.items())
        user = string.Template(self.user).substitute(features=facts)
        messages = (Message("system", self.system), Message("user", user))
        return Prompt(self.version, messages, inputs, prompt_hash(messages))


def feature_inputs(features: PremarketFeatures) -> dict[str, str]:
    """The facts a model sees, as text; the optional ones only when the source knows them."""
    inputs = {
        "symbol": str(features.symbol),
        "previous_close": str(features.previous_close),
        "last_price": str(features.last_price),
        "gap_pct": _fixed(features.gap_pct, _CENT),
        "premarket_volume": _fixed(features.premarket_volume, _WHOLE),
        "relative_volume": _fixed(features.relative_volume, _FRACTION),
        "premarket_dollar_volume": _fixed(features.premarket_dollar_volume, _WHOLE),
        "atr_pct": _fixed(features.atr_pct, _CENT),
    }
    if features.security_type is not None:
        inputs["security_type"] = features.security_type
    if features.market_cap is not None:
        inputs["market_cap"] = _fixed(features.market_cap, _WHOLE)
    if features.sector is not None:
        inputs["sector"] = features.sector
    return inputs


def _fixed(value: Decimal, unit: Decimal) -> str:
    return f"{value.quantize(unit):f}"


def prompt_hash(messages: tuple[Message, ...]) -> str:
    payload = [{"role": m.role, "content": m.content} for m in messages]
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def prompt_versions() -> tuple[str, ...]:
    """The versions shipped with this package, oldest first (v2 before v10)."""
    folder = resources.files(_PACKAGE).joinpath(_TEMPLATES)
    names = [item.name for item in folder.iterdir() if item.name.endswith(_SUFFIX)]
    versions = [name.removesuffix(_SUFFIX) for name in names]
    return tuple(sorted(versions, key=lambda v: (len(v), v)))


def load_template(version: str) -> PromptTemplate:
    """The template of ``version``; InvalidValue naming the versions that exist if unknown."""
    known = prompt_versions()
    if version not in known:
        raise InvalidValue("scoring.prompt_version", f"one of {', '.join(known)}", version)
    path = resources.files(_PACKAGE).joinpath(_TEMPLATES).joinpath(version + _SUFFIX)
    return _parse_template(version, path.read_text(encoding="utf-8"))


def _parse_template(version: str, text: str) -> PromptTemplate:
    parts = _MARKER.split(text)
    # split keeps the captured role: ["", "system", body, "user", body] when well formed
    roles = parts[1::2]
    if roles != ["system", "user"] or parts[0].strip():
        raise InvalidValue(
            f"prompt template {version}{_SUFFIX}",
            "a <!-- system --> section then a <!-- user --> section and nothing before them",
            f"sections {roles}",
        )
    system, user = parts[2].strip(), parts[4].strip()
    if "$features" not in user:
        raise InvalidValue(
            f"prompt template {version}{_SUFFIX}", "$features in the user section", "none"
        )
    return PromptTemplate(version, system, user)


# --- the answer ---------------------------------------------------------------------------

Direction = Literal["long", "short", "none"]


class Answer(BaseModel):
    """The one JSON object a model must answer with (the schema in the prompt file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # strict: a number, never "0.8" or true; NaN and infinities are refused
    confidence: Annotated[float, Field(ge=0, le=1, strict=True, allow_inf_nan=False)]
    direction: Direction
    rationale: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    risks: str | list[str]


_EXPECTED = {
    "confidence": "a number from 0 to 1",
    "direction": '"long", "short" or "none"',
    "rationale": "a non-empty string",
    "risks": "a string or a list of strings",
}


class InvalidAnswer(ValueError):
    """The model's text is not the JSON object asked for; the message says what is wrong."""


def parse_answer(content: str) -> Answer:
    """The validated answer in ``content``, or InvalidAnswer saying what was expected and
    what was found (naming the field)."""
    text = content.strip()
    fenced = _FENCED.match(text)
    if fenced is not None:
        text = fenced.group(1).strip()
    try:
        return Answer.model_validate_json(text)
    except ValidationError as exc:
        raise InvalidAnswer(_explain(exc, text)) from None


def _explain(exc: ValidationError, text: str) -> str:
    problems: dict[str, str] = {}
    for error in exc.errors():
        kind, location = error["type"], error["loc"]
        if kind == "json_invalid":
            return f"expected one JSON object, found text that is not JSON: {_quoted(text)}"
        if not location:
            return f"expected one JSON object, found {_quoted(text)}"
        field = _shorten(str(location[0]))
        if field in problems:
            continue  # a union reports each of its arms; one line per field is enough
        if kind == "extra_forbidden":
            problems[field] = f"{field}: expected no key other than {', '.join(_EXPECTED)}"
        elif kind == "missing":
            problems[field] = f"{field}: expected {_EXPECTED[field]}, found none"
        else:
            found = _shorten(json.dumps(error.get("input"), default=str))
            problems[field] = f"{field}: expected {_EXPECTED[field]}, found {found}"
    shown = list(problems.values())
    if len(shown) > _MAX_PROBLEMS:
        shown = [*shown[:_MAX_PROBLEMS], f"and {len(shown) - _MAX_PROBLEMS} more"]
    return "; ".join(shown)


_MAX_PROBLEMS = 5


def _shorten(text: str) -> str:
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "…"


def _quoted(text: str) -> str:
    return repr(_shorten(text))
