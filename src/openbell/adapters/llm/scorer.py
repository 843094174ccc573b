"""The LLM scorer: a chain of OpenAI-compatible providers that ends in the rules.

Each candidate goes down the chain until something decides it:

1. the next provider that can be asked: one whose key is missing is never called, and one
   that failed earlier in the same :meth:`LlmScorer.score` call is not asked again;
2. nothing is sent once the day's token or cost budget is spent (journaled OVER_BUDGET);
3. a valid answer decides (SCORED: a candidate; NO_TRADE: unscored, openbell only buys);
   so do an invalid answer and a refusal (unscored): the provider is up, its answer is
   bad, and asking another one until some model says yes would be shopping for a score;
4. a failure (timeout, 429, 5xx, refused key, broken body) moves to the next provider;
5. when no provider is left: the rule score, marked "rules-v1 (fallback)", or unscored if
   ``fallback_to_rules`` is off;
6. once the scan's deadline (``deadline_s``) has passed, nothing more is sent: each call
   still in flight is journaled FAILED ("no answer within the scan's 60 s deadline") and
   abandoned, and every candidate not yet decided falls back as in 5, without asking
   another provider.

Calls run on a pool of ``concurrency`` threads. Everything that touches the journal (a
SQLite connection, not thread-safe) happens on the calling thread, which collects the
results as they arrive; the batch keeps the input order.

The deadline keeps the caller's loop (the day-trader's, whose heartbeat the supervisor
watches) from waiting on a provider: :meth:`LlmScorer.score` returns soon after it, and an
abandoned call's thread is left to end by itself (the pool is shut down without waiting, and
the clients are closed, which breaks the connections such a call reads from; failing that,
the call's own timeouts end it, see :mod:`openbell.adapters.llm.client`). Nobody reads what
an abandoned call returns: a late answer is never journaled and never changes the batch.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from openbell.adapters.llm.client import CallPolicy, CallResult, ChatEndpoint, LlmProvider
from openbell.adapters.llm.prompts import Prompt, PromptTemplate, load_template
from openbell.domain.candidates import Candidate, PremarketFeatures, ScoreBatch, Unscored
from openbell.domain.enums import LlmOutcome
from openbell.domain.errors import InvalidValue
from openbell.domain.records import LlmCallDraft
from openbell.domain.values import Confidence, decimal_from_float
from openbell.ports import LlmJournal
from openbell.strategy.scoring import RuleScorer

log = logging.getLogger(__name__)

_ANSWERED = (LlmOutcome.SCORED, LlmOutcome.NO_TRADE)


@dataclass(frozen=True, slots=True)
class LlmChain:
    """Everything the LLM scorer needs to know, in its own terms (built from the settings
    by the composition root: adapters do not read the settings)."""

    providers: tuple[LlmProvider, ...]
    prompt_version: str = "v1"
    fallback_to_rules: bool = True
    policy: CallPolicy = field(default_factory=CallPolicy)
    concurrency: int = 4
    daily_token_budget: int = 200_000
    daily_cost_budget_usd: Decimal = Decimal(1)
    deadline_s: float = 60.0
    """One :meth:`LlmScorer.score` call, every call it makes included (wall-clock seconds)."""


@dataclass(frozen=True, slots=True)
class _Call:
    """A call in flight: for which candidate, to whom, and when it was sent."""

    index: int
    provider: LlmProvider
    sent_at: float


class LlmScorer:
    """The Scorer port over an LLM chain; every call is journaled in ``journal``.

    ``name`` is ``llm-<prompt version>`` ("llm-v1"): it names how candidates were scored,
    not who answered, which each candidate's ``scored_by`` says ("deepseek:deepseek-chat",
    "rules-v1 (fallback)"), so reordering or replacing providers does not rename it.

    ``monotonic`` is the clock the scan's deadline is measured on (seconds).
    """

    def __init__(
        self,
        chain: LlmChain,
        journal: LlmJournal,
        rules: RuleScorer,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if chain.concurrency < 1:
            raise InvalidValue("scoring.concurrency", "1 or more", chain.concurrency)
        if not (chain.deadline_s > 0 and math.isfinite(chain.deadline_s)):
            raise InvalidValue(
                "scoring.deadline_s", "a finite number of seconds above 0", chain.deadline_s
            )
        self._template = load_template(chain.prompt_version)
        self._chain = chain
        self._journal = journal
        self._rules = rules
        self._monotonic = monotonic
        self.name = f"llm-{chain.prompt_version}"

    def score(self, features: Sequence[PremarketFeatures], trading_day: date) -> ScoreBatch:
        """A candidate or an unscored entry per row, in input order; never raises for what a
        provider does (a journal failure, such as a busy ledger, does propagate)."""
        ends_at = self._monotonic() + self._chain.deadline_s
        rows = tuple(features)
        if not rows:
            return ScoreBatch(())
        run = _Run(self._chain, self._template, self._journal, self._rules, trading_day, rows)
        return run.score(_Deadline(self._monotonic, ends_at, self._chain.deadline_s))


@dataclass(frozen=True, slots=True)
class _Deadline:
    monotonic: Callable[[], float]
    ends_at: float
    seconds: float

    def left(self) -> float:
        """Seconds until the deadline, 0 once it has passed."""
        return max(0.0, self.ends_at - self.monotonic())

    @property
    def passed(self) -> bool:
        return self.left() <= 0


class _Run:
    """One ``score`` call: which providers are still worth asking, and where each
    candidate is on its way down the chain."""

    def __init__(
        self,
        chain: LlmChain,
        template: PromptTemplate,
        journal: LlmJournal,
        rules: RuleScorer,
        trading_day: date,
        rows: tuple[PremarketFeatures, ...],
    ) -> None:
        self._chain, self._journal, self._rules = chain, journal, rules
        self._day, self._rows = trading_day, rows
        self._prompts: list[Prompt] = [template.render(row) for row in rows]
        self._providers = _askable(chain.providers)
        self._failed: set[str] = set()
        self._endpoints: dict[str, ChatEndpoint] = {}
        self._position = [0] * len(rows)
        """Per candidate: the index in ``_providers`` of the next provider to try."""
        self._failures: list[list[str]] = [[] for _ in rows]
        self._results: dict[int, Candidate | Unscored] = {}
        self._budget_spent: str | None = None

    def score(self, deadline: _Deadline) -> ScoreBatch:
        pool = ThreadPoolExecutor(self._chain.concurrency, "openbell-llm")
        try:
            self._drive(pool, deadline)
        finally:
            # never waits: a call abandoned at the deadline is still running (see the module)
            pool.shutdown(wait=False, cancel_futures=True)
            for endpoint in self._endpoints.values():
                endpoint.close()
        ordered = [self._results[index] for index in range(len(self._rows))]
        return ScoreBatch(
            tuple(r for r in ordered if isinstance(r, Candidate)),
            tuple(r for r in ordered if isinstance(r, Unscored)),
        )

    def _drive(self, pool: ThreadPoolExecutor, deadline: _Deadline) -> None:
        waiting = deque(range(len(self._rows)))
        in_flight: dict[Future[CallResult], _Call] = {}
        while waiting or in_flight:
            while waiting and len(in_flight) < self._chain.concurrency and not deadline.passed:
                index = waiting.popleft()
                provider = self._provider_for(index)
                if provider is not None:
                    ask = self._endpoint(provider).ask
                    call = _Call(index, provider, deadline.monotonic())
                    in_flight[pool.submit(ask, self._prompts[index])] = call
            if deadline.passed:
                self._give_up(in_flight, waiting, deadline)
                return
            if not in_flight:
                continue
            done, _ = wait(in_flight, timeout=deadline.left(), return_when=FIRST_COMPLETED)
            for future in done:
                call = in_flight.pop(future)
                if self._settle(call.index, call.provider, future.result()):
                    waiting.appendleft(call.index)  # its next provider, before new candidates

    def _give_up(
        self, in_flight: dict[Future[CallResult], _Call], waiting: deque[int], deadline: _Deadline
    ) -> None:
        """The deadline has passed: journal each call still running as FAILED and abandon it,
        and let every candidate not yet decided fall back, asking nobody else."""
        reason = f"no answer within the scan's {deadline.seconds:g} s deadline"
        now = deadline.monotonic()
        log.warning(
            "the scan's %g s deadline has passed: %d call(s) abandoned; no other provider is "
            "asked, the candidates not yet decided fall back",
            deadline.seconds,
            sum(not future.done() for future in in_flight),
        )
        left = set(waiting)
        for future, call in sorted(in_flight.items(), key=lambda item: item[1].index):
            if future.done():  # it answered in time: what it says counts
                if self._settle(call.index, call.provider, future.result()):
                    left.add(call.index)
                continue
            future.cancel()  # a running call is not stopped: nobody reads what it returns
            latency_ms = max(0, round((now - call.sent_at) * 1000))
            result = CallResult(LlmOutcome.FAILED, reason, latency_ms=latency_ms)
            self._journal_call(call.index, call.provider, result)
            self._failures[call.index].append(f"{call.provider.name}: {reason}")
            self._fall_back(call.index, self._why_no_provider(call.index))
        passed = f"the scan's {deadline.seconds:g} s deadline had passed"
        for index in sorted(left):
            if self._failures[index]:
                self._fall_back(index, f"{self._why_no_provider(index)} ({passed})")
            else:
                self._fall_back(index, f"not sent: {passed}")

    # --- down the chain -------------------------------------------------------------------
    def _provider_for(self, index: int) -> LlmProvider | None:
        """The provider to ask next for candidate ``index``, or None once it is decided
        without one (the rules, or unscored)."""
        provider = self._next_provider(index)
        if provider is None:
            self._fall_back(index, self._why_no_provider(index))
            return None
        spent = self._spent()
        if spent is not None:
            self._journal_call(index, provider, CallResult(LlmOutcome.OVER_BUDGET, spent))
            self._fall_back(index, spent)
            return None
        return provider

    def _next_provider(self, index: int) -> LlmProvider | None:
        while self._position[index] < len(self._providers):
            provider = self._providers[self._position[index]]
            self._position[index] += 1
            if provider.name not in self._failed:
                return provider
        return None

    def _settle(self, index: int, provider: LlmProvider, result: CallResult) -> bool:
        """Journal the call and decide the candidate; True when the next provider should
        be asked instead."""
        self._journal_call(index, provider, result)
        if result.outcome is not LlmOutcome.FAILED:
            self._results[index] = self._verdict(index, provider, result)
            return False
        self._failures[index].append(f"{provider.name}: {result.reason}")
        if provider.name not in self._failed:
            self._failed.add(provider.name)
            log.warning("%s failed; not asked again in this scan", provider.label)
        return True

    def _verdict(
        self, index: int, provider: LlmProvider, result: CallResult
    ) -> Candidate | Unscored:
        row, answer = self._rows[index], result.answer
        if result.outcome is LlmOutcome.SCORED and answer is not None:
            confidence = Confidence(decimal_from_float(answer.confidence))
            return Candidate(
                row.symbol, confidence, row.last_price, answer.rationale, provider.label
            )
        said = f" ({answer.rationale})" if answer is not None else ""
        return Unscored(row.symbol, f"{provider.label}: {result.reason}{said}")

    def _fall_back(self, index: int, why: str) -> None:
        row = self._rows[index]
        if not self._chain.fallback_to_rules:
            self._results[index] = Unscored(row.symbol, why)
            log.warning("%s: %s; left unscored (fallback_to_rules is off)", row.symbol, why)
            return
        rule = self._rules.candidate(row)
        self._results[index] = replace(
            rule,
            reason=f"{rule.reason} (fallback: {why})",
            scored_by=f"{self._rules.name} (fallback)",
        )
        log.warning("%s: %s; scored by the rules: %s", row.symbol, why, rule.confidence)

    def _why_no_provider(self, index: int) -> str:
        if self._failures[index]:
            return "no provider answered: " + "; ".join(self._failures[index])
        if self._failed:
            return f"every provider failed earlier in this scan ({', '.join(sorted(self._failed))})"
        return "no provider can be asked (every one lacks its key)"

    def _spent(self) -> str | None:
        """Why nothing more may be sent today, or None while the budget lasts.

        Read from the journal before each call, so the calls of other processes count;
        calls still in flight do not, so a day may overshoot by ``concurrency`` calls.
        """
        if self._budget_spent is None:
            usage = self._journal.llm_usage(self._day)
            chain = self._chain
            if usage.tokens >= chain.daily_token_budget:
                self._budget_spent = (
                    f"the day's token budget is spent: {usage.tokens} tokens used, "
                    f"daily_token_budget {chain.daily_token_budget}"
                )
            elif usage.cost_usd >= chain.daily_cost_budget_usd:
                self._budget_spent = (
                    f"the day's cost budget is spent: {usage.cost_usd:f} USD used, "
                    f"daily_cost_budget_usd {chain.daily_cost_budget_usd:f}"
                )
            if self._budget_spent is not None:
                log.warning("%s: no more LLM calls in this scan", self._budget_spent)
        return self._budget_spent

    # --- the journal and the clients --------------------------------------------------------
    def _journal_call(self, index: int, provider: LlmProvider, result: CallResult) -> None:
        prompt, symbol = self._prompts[index], self._rows[index].symbol
        answer = result.answer if result.outcome in _ANSWERED else None
        confidence = None
        if result.outcome is LlmOutcome.SCORED and answer is not None:
            confidence = Confidence(decimal_from_float(answer.confidence))
        self._journal.record_llm_call(
            LlmCallDraft(
                trading_day=self._day,
                symbol=symbol,
                provider=provider.name,
                model=provider.model,
                prompt_version=prompt.version,
                prompt_hash=prompt.prompt_hash,
                inputs=dict(prompt.inputs),
                outcome=result.outcome,
                reason=result.reason,
                raw_answer=result.raw_answer,
                parsed={} if answer is None else answer.model_dump(mode="json"),
                confidence=confidence,
                latency_ms=result.latency_ms,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                cost_usd=provider.cost_usd(result.prompt_tokens, result.completion_tokens),
            )
        )
        log.log(
            logging.INFO if result.outcome in _ANSWERED else logging.WARNING,
            "%s: %s %s in %d ms, %d+%d tokens%s",
            symbol,
            provider.label,
            result.outcome.value,
            result.latency_ms,
            result.prompt_tokens,
            result.completion_tokens,
            f": {result.reason}" if result.reason else "",
        )

    def _endpoint(self, provider: LlmProvider) -> ChatEndpoint:
        endpoint = self._endpoints.get(provider.name)
        if endpoint is None:
            endpoint = ChatEndpoint(provider, self._chain.policy)
            self._endpoints[provider.name] = endpoint
        return endpoint


def _askable(providers: tuple[LlmProvider, ...]) -> tuple[LlmProvider, ...]:
    """The providers that may be called; each one lacking its key is logged and left out."""
    for provider in providers:
        if provider.missing_key:
            log.warning(
                "%s is skipped: it needs an API key; set %s",
                provider.label,
                provider.key_variable,
            )
    return tuple(p for p in providers if not p.missing_key)
