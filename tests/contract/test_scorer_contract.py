"""The Scorer port's contract, run against every implementation.

``rules`` is the deterministic RuleScorer; ``llm`` is the LlmScorer through the real openai
SDK against a fake OpenAI-compatible endpoint on 127.0.0.1 (tests/support/openai_server.py),
journaling into a real SqliteLedger. The fake answers by symbol: a valid long answer for
most, a valid "no trade" answer for FLAT (unscored), and, for GARB, what a test makes it
say (prose by default): the contract must hold whatever one symbol's answer is.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import pytest
from http_server import Reply, ScriptedServer, Seen
from openai_server import FakeOpenAI, answer, error, ok, symbol_of

from openbell.adapters.clock import ManualClock
from openbell.adapters.llm import CallPolicy, LlmChain, LlmProvider, LlmScorer
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.domain.candidates import PremarketFeatures, ScoreBatch
from openbell.domain.values import Price, Symbol
from openbell.ports import Scorer
from openbell.strategy.scoring import RuleScorer

DAY = date(2025, 10, 29)
SCAN_AT = datetime(2025, 10, 29, 12, 30, tzinfo=UTC)
POLICY = CallPolicy(timeout_s=5, max_retries=0, temperature=0.0)


def features(
    symbol: str, last: str, *, previous: str = "10", pre_volume: int = 200_000, atr: str = "4"
) -> PremarketFeatures:
    return PremarketFeatures(
        Symbol(symbol),
        Price(Decimal(previous)),
        Price(Decimal(last)),
        Decimal(pre_volume),
        Decimal(3_000_000),
        Decimal(atr),
    )


ROWS = (
    features("WULF", "10.60"),
    features("GARB", "10.45"),  # the symbol the LLM answers badly
    features("FLAT", "10.00", pre_volume=0),  # the LLM sees no trade: unscored
    features("DOWN", "9.50", atr="0"),  # a gap down on a symbol that never moves
    features("ZETA", "21.30", previous="20", pre_volume=2_000_000),
)
LLM_CONFIDENCE = {"WULF": 0.82, "DOWN": 0.41, "ZETA": 0.67}

BAD_ANSWERS: dict[str, Reply] = {
    "prose": ok("GARB looks strong, I would say 0.8."),
    "cut-json": ok('{"confidence": 0.8, "direction": "long"'),
    "out-of-range": ok(answer(1.7)),
    "refusal": ok(None, refusal="I can't give investment advice."),
    "server-error": error(500),  # the provider fails: the chain falls back to the rules
}


# --- the implementations ---------------------------------------------------------------------
@dataclass
class Subject:
    scorer: Scorer
    unscored_by_default: frozenset[str]
    """Which of ROWS this implementation leaves unscored when nothing is changed: the rules
    score every row; the LLM leaves FLAT (no trade) and GARB (prose) unscored."""
    garbage: dict[str, Reply] = field(default_factory=dict)

    def answer_badly(self, symbol: str, reply: Reply) -> None:
        """Make the LLM (if any) answer ``reply`` about ``symbol``."""
        self.garbage[symbol] = reply


def _rules(server: ScriptedServer, prefix: str, tmp_path: Path) -> Iterator[Subject]:
    yield Subject(RuleScorer(), frozenset())


def _llm(server: ScriptedServer, prefix: str, tmp_path: Path) -> Iterator[Subject]:
    garbage = {"GARB": BAD_ANSWERS["prose"]}

    def by_symbol(seen: Seen) -> Reply:
        symbol = symbol_of(seen)
        if symbol in garbage:
            return garbage[symbol]
        if symbol == "FLAT":
            return ok(answer(0.9, "none", rationale="no gap, no volume"))
        return ok(answer(LLM_CONFIDENCE[symbol]))

    fake = FakeOpenAI(server, prefix)
    fake.answers(by_symbol)
    provider = LlmProvider(
        "fake",
        fake.base_url,
        "fake-model",
        key="sk-contract",
        key_variable="OPENBELL__SECRETS__LLM_API_KEY",
    )
    chain = LlmChain((provider,), policy=POLICY, concurrency=2)
    ledger = SqliteLedger.open(tmp_path / "ledger.sqlite", ManualClock(SCAN_AT), process="test")
    try:
        scorer = LlmScorer(chain, ledger, RuleScorer())
        yield Subject(scorer, frozenset({"FLAT", "GARB"}), garbage)
    finally:
        ledger.close()


IMPLEMENTATIONS: dict[str, Callable[[ScriptedServer, str, Path], Iterator[Subject]]] = {
    "rules": _rules,
    "llm": _llm,
}
_PREFIXES = itertools.count(1)


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    # One server for the module; each test's endpoint lives under its own prefix.
    with ScriptedServer() as running:
        yield running


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def subject(
    request: pytest.FixtureRequest, server: ScriptedServer, tmp_path: Path
) -> Iterator[Subject]:
    yield from IMPLEMENTATIONS[request.param](server, f"/scorer{next(_PREFIXES)}", tmp_path)


class HasSymbol(Protocol):
    @property
    def symbol(self) -> Symbol: ...


def symbols(rows: Sequence[HasSymbol]) -> list[str]:
    return [str(row.symbol) for row in rows]


def accounted_for(batch: ScoreBatch) -> list[str]:
    return sorted(symbols(batch.candidates) + symbols(batch.unscored))


# --- the contract ----------------------------------------------------------------------------
def test_every_symbol_comes_back_exactly_once(subject: Subject) -> None:
    batch = subject.scorer.score(ROWS, DAY)

    assert accounted_for(batch) == sorted(symbols(ROWS))
    assert all(u.reason.strip() for u in batch.unscored)
    assert set(symbols(batch.unscored)) == subject.unscored_by_default


def test_candidates_keep_the_input_order(subject: Subject) -> None:
    batch = subject.scorer.score(ROWS, DAY)
    scored = set(symbols(batch.candidates))

    assert symbols(batch.candidates) == [s for s in symbols(ROWS) if s in scored]
    reversed_batch = subject.scorer.score(ROWS[::-1], DAY)
    assert symbols(reversed_batch.candidates) == symbols(batch.candidates)[::-1]


def test_confidences_are_between_0_and_1(subject: Subject) -> None:
    batch = subject.scorer.score(ROWS, DAY)

    assert batch.candidates
    assert all(0 <= c.confidence.value <= 1 for c in batch.candidates)


def test_the_reference_price_is_the_last_pre_market_price(subject: Subject) -> None:
    batch = subject.scorer.score(ROWS, DAY)
    last = {str(row.symbol): row.last_price for row in ROWS}

    assert batch.candidates
    for candidate in batch.candidates:
        assert candidate.reference_price == last[str(candidate.symbol)]


def test_no_features_give_an_empty_batch(subject: Subject) -> None:
    assert subject.scorer.score([], DAY) == ScoreBatch((), ())


def test_the_name_is_a_stable_non_empty_string(subject: Subject) -> None:
    before = subject.scorer.name

    subject.scorer.score(ROWS, DAY)
    subject.scorer.score([], DAY)

    assert isinstance(before, str) and before.strip()
    assert subject.scorer.name == before


@pytest.mark.parametrize("bad", sorted(BAD_ANSWERS))
def test_one_bad_answer_does_not_raise_and_leaves_the_others_scored(
    subject: Subject, bad: str
) -> None:
    subject.answer_badly("GARB", BAD_ANSWERS[bad])

    batch = subject.scorer.score(ROWS, DAY)  # never raises for what the LLM says

    assert accounted_for(batch) == sorted(symbols(ROWS))
    assert all(u.reason.strip() for u in batch.unscored)
    assert {"WULF", "ZETA"} <= set(symbols(batch.candidates))
    assert all(0 <= c.confidence.value <= 1 for c in batch.candidates)
