"""The Protocols the core needs from the outside world, in our vocabulary.

Implementations live in ``openbell.adapters``; tests run each against the shared contract
suites in ``tests/contract``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Any, Protocol

from openbell.domain.broker import BrokerEvent
from openbell.domain.candidates import PremarketFeatures, ScoreBatch
from openbell.domain.enums import ExitReason, OrderStatus
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.positions import Position
from openbell.domain.records import (
    Approval,
    Control,
    DayStep,
    EventDraft,
    FillRecord,
    Heartbeat,
    LedgerEvent,
    LlmCallDraft,
    LlmCallRecord,
    LlmUsage,
    OperatorRequest,
    OrderRecord,
    ScoreDraft,
    ScoreRecord,
)
from openbell.domain.sessions import Session
from openbell.domain.values import Confidence, Money, OrderRef, Price, Quantity, Symbol


class Clock(Protocol):
    """The only source of "now". Every instant is timezone-aware."""

    def now(self) -> datetime:
        """The current instant, aware (UTC)."""
        ...

    def sleep_until(self, deadline: datetime) -> None:
        """Block until ``deadline`` by this clock; return at once if it has passed."""
        ...

    async def wait_until(self, deadline: datetime) -> None:
        """Await ``deadline`` by this clock without blocking the event loop."""
        ...


class Calendar(Protocol):
    """The exchange calendar (NYSE): trading days, sessions, early closes."""

    def is_trading_day(self, day: date) -> bool: ...

    def session(self, day: date) -> Session:
        """The session on ``day``; raise NotATradingDay if the exchange is closed."""
        ...

    def next_session(self, day: date) -> Session:
        """The first session strictly after ``day``."""
        ...

    def previous_session(self, day: date) -> Session:
        """The last session strictly before ``day``."""
        ...

    def upcoming_session(self, at: datetime) -> Session:
        """The session in progress at ``at``, or else the next one to open."""
        ...


class Broker(Protocol):
    """Where orders go: IB (paper or live), the simulated gateway, or the in-process venue.

    ``place`` and ``cancel`` only send; what happened comes back from ``events``, oldest
    first, each event exactly once.
    """

    def place(self, intent: OrderIntent) -> None: ...

    def cancel(self, order_ref: OrderRef) -> None: ...

    def events(self) -> Sequence[BrokerEvent]: ...

    def net_liquidation(self) -> Money: ...

    def reconcile(self, order_refs: Sequence[OrderRef]) -> None:
        """Take over ``order_refs``, placed by an earlier life of this client (a restart):
        the next ``events`` report what became of each; one the broker does not know is
        reported REJECTED (it never arrived), never silently dropped."""
        ...


OnPrice = Callable[[Symbol, Price], None]


class PriceFeed(Protocol):
    """Trade prices as they happen (the monitored exit mode)."""

    def subscribe(self, symbol: Symbol, on_price: OnPrice) -> None:
        """Call ``on_price`` with every trade price of ``symbol`` from now on."""
        ...

    def unsubscribe(self, symbol: Symbol) -> None: ...


class MarketData(Protocol):
    """Pre-market facts for the morning scan."""

    def premarket_features(
        self, trading_day: date, at: datetime, symbols: Sequence[Symbol] | None = None
    ) -> Sequence[PremarketFeatures]:
        """Features of ``symbols`` (or the whole universe) from data known before ``at``.

        A symbol the source knows nothing about is left out; a source that cannot answer at
        all (down, rate limited, a key missing or refused, a changed schema) raises
        :class:`~openbell.domain.errors.MarketDataUnavailable` saying why.
        """
        ...


class Scorer(Protocol):
    """Turns pre-market features into scored candidates (rules, or an LLM)."""

    name: str

    def score(self, features: Sequence[PremarketFeatures], trading_day: date) -> ScoreBatch:
        """A candidate per symbol it could score; every other symbol is unscored with its
        reason (never a guessed confidence). It does not raise for one bad answer."""
        ...


class LlmJournal(Protocol):
    """Where an LLM scorer journals each call and reads the day's spending (the ledger)."""

    def record_llm_call(self, call: LlmCallDraft) -> LlmCallRecord: ...

    def llm_usage(self, trading_day: date) -> LlmUsage: ...


class Ledger(Protocol):
    """The position ledger: the coordination point of openbell's processes.

    Writes are atomic and safe across processes. Protected symbols are refused by every
    command that would open, adopt or exit them.
    """

    def close(self) -> None:
        """Release the ledger's resources; the object is unusable afterwards."""
        ...

    def batch(self) -> AbstractContextManager[None]:
        """Commit every command inside as one transaction; it holds the write lock throughout."""
        ...

    # --- positions: commands --------------------------------------------------------------
    def plan_position(self, position: Position) -> Position: ...

    def record_order(self, position_id: int, intent: OrderIntent, owner: str) -> OrderRecord: ...

    def update_order(
        self,
        order_ref: OrderRef,
        status: OrderStatus,
        *,
        broker_order_id: int | None = None,
        perm_id: int | None = None,
        reason: str = "",
    ) -> OrderRecord: ...

    def record_entry_fill(self, fill: Fill) -> Position: ...

    def record_exit_fill(self, fill: Fill, trading_day: date) -> Position: ...

    def record_commission(self, execution_id: str, commission: Money) -> None: ...

    def set_exit_prices(self, position_id: int, target: Price, stop: Price) -> Position: ...

    def start_exit(self, position_id: int, reason: ExitReason) -> Position: ...

    def abort_exit(self, position_id: int, reason: str) -> Position: ...

    def abandon(self, position_id: int, reason: str) -> Position: ...

    def adopt(
        self, symbol: Symbol, quantity: Quantity, price: Price, reason: str, trading_day: date
    ) -> Position: ...

    def release(self, symbol: Symbol, reason: str) -> Position: ...

    # --- positions: queries ---------------------------------------------------------------
    def position(self, position_id: int) -> Position: ...

    def is_active(self, symbol: Symbol) -> bool: ...

    def is_protected(self, symbol: Symbol) -> bool:
        """True if every command that would open, adopt or exit ``symbol`` is refused."""
        ...

    def was_closed_on(self, symbol: Symbol, trading_day: date) -> bool: ...

    def active_positions(self) -> Sequence[Position]: ...

    def closed_positions(self, trading_day: date) -> Sequence[Position]: ...

    def positions_of_day(self, trading_day: date) -> Sequence[Position]: ...

    def orders(
        self, position_id: int | None = None, *, live_only: bool = False
    ) -> Sequence[OrderRecord]: ...

    def order(self, order_ref: OrderRef) -> OrderRecord: ...

    def fills(self, position_id: int | None = None) -> Sequence[FillRecord]: ...

    # --- scores, approvals, controls, heartbeats, events ----------------------------------
    def record_score(
        self,
        trading_day: date,
        symbol: Symbol,
        scorer: str,
        confidence: Confidence,
        inputs: Mapping[str, Any],
        output: Mapping[str, Any],
    ) -> ScoreRecord: ...

    def record_scores(
        self, trading_day: date, scorer: str, drafts: Sequence[ScoreDraft]
    ) -> int: ...

    def scores(self, trading_day: date) -> Sequence[ScoreRecord]: ...

    def record_llm_call(self, call: LlmCallDraft) -> LlmCallRecord:
        """Journal one LLM scoring call: inputs, prompt version and hash, raw answer, parsed
        score, model, latency and tokens."""
        ...

    def llm_calls(self, trading_day: date) -> Sequence[LlmCallRecord]:
        """The LLM calls of ``trading_day``, oldest first."""
        ...

    def llm_usage(self, trading_day: date) -> LlmUsage:
        """Calls, tokens and cost of ``trading_day`` so far (every process)."""
        ...

    def request_approval(self, trading_day: date, symbol: Symbol, request: str) -> Approval: ...

    def decide_approval(self, approval_id: int, approved: bool, decided_by: str) -> Approval: ...

    def approvals(
        self, trading_day: date | None = None, *, pending_only: bool = False
    ) -> Sequence[Approval]:
        """Rescan requests of ``trading_day`` (every day if None), oldest first."""
        ...

    def approval(self, approval_id: int) -> Approval:
        """One rescan request; NotFound if there is none with this id."""
        ...

    def set_control(self, name: str, enabled: bool, reason: str) -> Control: ...

    def controls(self) -> Mapping[str, Control]: ...

    def beat(self, status: str, detail: str = "") -> Heartbeat: ...

    def heartbeats(self) -> Sequence[Heartbeat]: ...

    def append_event(
        self,
        kind: str,
        message: str,
        *,
        symbol: Symbol | None = None,
        position_id: int | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> LedgerEvent: ...

    def append_events(self, drafts: Sequence[EventDraft]) -> int: ...

    def events(self, *, after_id: int = 0, limit: int = 100) -> Sequence[LedgerEvent]: ...

    # --- day steps and operator requests --------------------------------------------------
    def mark_step(self, trading_day: date, step: str, detail: str = "") -> bool:
        """Mark ``step`` of ``trading_day`` done; True only for the first process to mark it."""
        ...

    def day_steps(self, trading_day: date) -> Mapping[str, DayStep]:
        """The steps of ``trading_day`` marked so far, by step name."""
        ...

    def request_work(self, kind: str, reason: str) -> OperatorRequest:
        """Ask the process that owns ``kind`` of work (a liquidation) to do it."""
        ...

    def pending_requests(self) -> Sequence[OperatorRequest]:
        """Requests nobody has finished yet, oldest first."""
        ...

    def operator_request(self, request_id: int) -> OperatorRequest:
        """One request by id; raise NotFound if there is none."""
        ...

    def finish_request(self, request_id: int, ok: bool, outcome: str) -> OperatorRequest:
        """Finish a PENDING request as DONE (``ok``) or FAILED; raise Conflict if finished."""
        ...
