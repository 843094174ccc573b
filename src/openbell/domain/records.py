"""Read-only records the ledger returns besides positions: orders, events, day steps, requests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from openbell.domain.enums import LlmOutcome, OrderRole, OrderStatus, OrderType, Side, TimeInForce
from openbell.domain.values import Confidence, Money, OrderRef, Price, Quantity, Symbol


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order as the ledger knows it; ``owner`` is the process role that placed it."""

    order_ref: OrderRef
    position_id: int
    symbol: Symbol
    role: OrderRole
    side: Side
    quantity: Quantity
    filled_quantity: int
    order_type: OrderType
    time_in_force: TimeInForce
    status: OrderStatus
    owner: str
    created_at: datetime
    updated_at: datetime
    limit_price: Price | None = None
    stop_price: Price | None = None
    oca_group: str | None = None
    broker_order_id: int | None = None
    perm_id: int | None = None
    status_reason: str = ""


@dataclass(frozen=True, slots=True)
class FillRecord:
    execution_id: str
    order_ref: OrderRef
    position_id: int
    symbol: Symbol
    side: Side
    quantity: Quantity
    price: Price
    executed_at: datetime
    commission: Money | None


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One line of the append-only event log: a decision or a fact, with its reason."""

    event_id: int
    at: datetime
    process: str
    kind: str
    message: str
    symbol: Symbol | None = None
    position_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    process: str
    pid: int
    code_version: str
    status: str
    beat_at: datetime
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Control:
    """A switch people flip: ``kill_switch`` or ``entries_paused``."""

    name: str
    enabled: bool
    reason: str
    changed_by: str
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class ScoreRecord:
    score_id: int
    trading_day: date
    symbol: Symbol
    scorer: str
    confidence: Confidence
    inputs: Mapping[str, Any]
    output: Mapping[str, Any]
    scored_at: datetime


@dataclass(frozen=True, slots=True)
class Approval:
    approval_id: int
    trading_day: date
    symbol: Symbol
    request: str
    status: str
    """PENDING, APPROVED or REJECTED."""
    requested_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None


@dataclass(frozen=True, slots=True)
class DayStep:
    """A once-per-trading-day mark (the morning plan ran, the smart shutdown happened).

    ``process`` is the process that marked it first; nobody marks it again that day.
    """

    trading_day: date
    step: str
    process: str
    done_at: datetime
    detail: str = ""


@dataclass(frozen=True, slots=True)
class OperatorRequest:
    """Work a person asked a bot to do (a liquidation), served by the process that owns it."""

    request_id: int
    kind: str
    """LIQUIDATE_MANAGED or LIQUIDATE_TODAY."""
    reason: str
    status: str
    """PENDING, DONE or FAILED."""
    requested_by: str
    requested_at: datetime
    finished_by: str | None = None
    finished_at: datetime | None = None
    outcome: str = ""


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event to append (the ledger assigns its id, time and process)."""

    kind: str
    message: str
    symbol: Symbol | None = None
    position_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ScoreDraft:
    """A scorer decision to record (the ledger assigns its id and time)."""

    symbol: Symbol
    confidence: Confidence
    inputs: Mapping[str, Any]
    output: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class LlmCallDraft:
    """One LLM scoring call, journaled whatever came of it (the ledger adds id and time).

    ``prompt_hash`` is the SHA-256 of the rendered messages, so two calls that sent the same
    prompt can be found; ``raw_answer`` is the model's text as received (empty when there
    was none); ``parsed`` is the validated answer (empty unless the outcome is SCORED or
    NO_TRADE); ``reason`` says why in words for every other outcome.
    """

    trading_day: date
    symbol: Symbol
    provider: str
    model: str
    prompt_version: str
    prompt_hash: str
    inputs: Mapping[str, Any]
    outcome: LlmOutcome
    reason: str = ""
    raw_answer: str = ""
    parsed: Mapping[str, Any] = field(default_factory=dict)
    confidence: Confidence | None = None
    latency_ms: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class LlmCallRecord:
    call_id: int
    called_at: datetime
    call: LlmCallDraft


@dataclass(frozen=True, slots=True)
class LlmUsage:
    """What a day's LLM calls have used so far, across processes and restarts."""

    calls: int = 0
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
