"""Translation between ledger rows and domain records. Decimals are stored as exact text."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from openbell.domain.enums import (
    ExitReason,
    LlmOutcome,
    OrderRole,
    OrderStatus,
    OrderType,
    PositionRole,
    PositionState,
    Side,
    TimeInForce,
)
from openbell.domain.positions import Position
from openbell.domain.records import (
    Approval,
    Control,
    DayStep,
    FillRecord,
    Heartbeat,
    LedgerEvent,
    LlmCallDraft,
    LlmCallRecord,
    OperatorRequest,
    OrderRecord,
    ScoreRecord,
)
from openbell.domain.values import Confidence, Money, OrderRef, Price, Quantity, Symbol


def text(value: object) -> str | None:
    """Store a Decimal-like, date or datetime as text; None stays NULL."""
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Price | Confidence):
        return str(value.value)
    if isinstance(value, Money):
        return str(value.amount)
    return str(value)


def to_json(data: Mapping[str, Any] | None) -> str:
    if not data:
        return "{}"  # most events carry no data: skip the encoder
    return json.dumps(dict(data), sort_keys=True, default=str)


def _dec(raw: str | None) -> Decimal | None:
    return None if raw is None else Decimal(raw)


def _price(raw: str | None) -> Price | None:
    return None if raw is None else Price(Decimal(raw))


def _instant(raw: str | None) -> datetime | None:
    return None if raw is None else datetime.fromisoformat(raw)


def _day(raw: str | None) -> date | None:
    return None if raw is None else date.fromisoformat(raw)


def _required_instant(raw: str) -> datetime:
    return datetime.fromisoformat(raw)


def position_columns(position: Position) -> dict[str, object]:
    """The mutable columns of a position row."""
    return {
        "state": str(position.state),
        "entry_quantity": position.entry_quantity,
        "entry_cost": str(position.entry_cost),
        "exit_quantity": position.exit_quantity,
        "exit_proceeds": str(position.exit_proceeds),
        "commissions": str(position.commissions),
        "realized_pnl": str(position.realized_pnl.amount),
        "target_price": text(position.target_price),
        "stop_price": text(position.stop_price),
        "opened_at": text(position.opened_at),
        "closed_at": text(position.closed_at),
        "closed_day": text(position.closed_day),
        "exit_reason": text(position.exit_reason),
        "metadata": to_json(position.metadata),
    }


def position_from(row: sqlite3.Row) -> Position:
    confidence = row["confidence"]
    return Position(
        position_id=row["position_id"],
        trading_day=date.fromisoformat(row["trading_day"]),
        symbol=Symbol(row["symbol"]),
        role=PositionRole(row["role"]),
        state=PositionState(row["state"]),
        planned_quantity=Quantity(row["planned_quantity"]),
        confidence=None if confidence is None else Confidence(Decimal(confidence)),
        target_pct=_dec(row["target_pct"]),
        stop_loss_pct=_dec(row["stop_loss_pct"]),
        target_price=_price(row["target_price"]),
        stop_price=_price(row["stop_price"]),
        entry_quantity=row["entry_quantity"],
        entry_cost=Decimal(row["entry_cost"]),
        exit_quantity=row["exit_quantity"],
        exit_proceeds=Decimal(row["exit_proceeds"]),
        commissions=Decimal(row["commissions"]),
        opened_at=_instant(row["opened_at"]),
        closed_at=_instant(row["closed_at"]),
        closed_day=_day(row["closed_day"]),
        exit_reason=None if row["exit_reason"] is None else ExitReason(row["exit_reason"]),
        metadata=json.loads(row["metadata"]),
    )


def order_from(row: sqlite3.Row) -> OrderRecord:
    return OrderRecord(
        order_ref=OrderRef(row["order_ref"]),
        position_id=row["position_id"],
        symbol=Symbol(row["symbol"]),
        role=OrderRole(row["role"]),
        side=Side(row["side"]),
        quantity=Quantity(row["quantity"]),
        filled_quantity=row["filled_quantity"],
        order_type=OrderType(row["order_type"]),
        time_in_force=TimeInForce(row["time_in_force"]),
        status=OrderStatus(row["status"]),
        owner=row["owner"],
        created_at=_required_instant(row["created_at"]),
        updated_at=_required_instant(row["updated_at"]),
        limit_price=_price(row["limit_price"]),
        stop_price=_price(row["stop_price"]),
        oca_group=row["oca_group"],
        broker_order_id=row["broker_order_id"],
        perm_id=row["perm_id"],
        status_reason=row["status_reason"],
    )


def fill_from(row: sqlite3.Row) -> FillRecord:
    commission = row["commission"]
    return FillRecord(
        execution_id=row["execution_id"],
        order_ref=OrderRef(row["order_ref"]),
        position_id=row["position_id"],
        symbol=Symbol(row["symbol"]),
        side=Side(row["side"]),
        quantity=Quantity(row["quantity"]),
        price=Price(Decimal(row["price"])),
        executed_at=_required_instant(row["executed_at"]),
        commission=None if commission is None else Money(Decimal(commission)),
    )


def event_from(row: sqlite3.Row) -> LedgerEvent:
    return LedgerEvent(
        event_id=row["event_id"],
        at=_required_instant(row["at"]),
        process=row["process"],
        kind=row["kind"],
        message=row["message"],
        symbol=None if row["symbol"] is None else Symbol(row["symbol"]),
        position_id=row["position_id"],
        data=json.loads(row["data"]),
    )


def score_from(row: sqlite3.Row) -> ScoreRecord:
    return ScoreRecord(
        score_id=row["score_id"],
        trading_day=date.fromisoformat(row["trading_day"]),
        symbol=Symbol(row["symbol"]),
        scorer=row["scorer"],
        confidence=Confidence(Decimal(row["confidence"])),
        inputs=json.loads(row["inputs"]),
        output=json.loads(row["output"]),
        scored_at=_required_instant(row["scored_at"]),
    )


def llm_call_from(row: sqlite3.Row) -> LlmCallRecord:
    confidence = row["confidence"]
    return LlmCallRecord(
        call_id=row["call_id"],
        called_at=_required_instant(row["called_at"]),
        call=LlmCallDraft(
            trading_day=date.fromisoformat(row["trading_day"]),
            symbol=Symbol(row["symbol"]),
            provider=row["provider"],
            model=row["model"],
            prompt_version=row["prompt_version"],
            prompt_hash=row["prompt_hash"],
            inputs=json.loads(row["inputs"]),
            outcome=LlmOutcome(row["outcome"]),
            reason=row["reason"],
            raw_answer=row["raw_answer"],
            parsed=json.loads(row["parsed"]),
            confidence=None if confidence is None else Confidence(Decimal(confidence)),
            latency_ms=row["latency_ms"],
            prompt_tokens=row["prompt_tokens"],
            completion_tokens=row["completion_tokens"],
            cost_usd=Decimal(row["cost_usd"]),
        ),
    )


def approval_from(row: sqlite3.Row) -> Approval:
    return Approval(
        approval_id=row["approval_id"],
        trading_day=date.fromisoformat(row["trading_day"]),
        symbol=Symbol(row["symbol"]),
        request=row["request"],
        status=row["status"],
        requested_at=_required_instant(row["requested_at"]),
        decided_at=_instant(row["decided_at"]),
        decided_by=row["decided_by"],
    )


def heartbeat_from(row: sqlite3.Row) -> Heartbeat:
    return Heartbeat(
        process=row["process"],
        pid=row["pid"],
        code_version=row["code_version"],
        status=row["status"],
        beat_at=_required_instant(row["beat_at"]),
        detail=row["detail"],
    )


def control_from(row: sqlite3.Row) -> Control:
    return Control(
        name=row["name"],
        enabled=bool(row["enabled"]),
        reason=row["reason"],
        changed_by=row["changed_by"],
        changed_at=_required_instant(row["changed_at"]),
    )


def day_step_from(row: sqlite3.Row) -> DayStep:
    return DayStep(
        trading_day=date.fromisoformat(row["trading_day"]),
        step=row["step"],
        process=row["process"],
        done_at=_required_instant(row["done_at"]),
        detail=row["detail"],
    )


def request_from(row: sqlite3.Row) -> OperatorRequest:
    return OperatorRequest(
        request_id=row["request_id"],
        kind=row["kind"],
        reason=row["reason"],
        status=row["status"],
        requested_by=row["requested_by"],
        requested_at=_required_instant(row["requested_at"]),
        finished_by=row["finished_by"],
        finished_at=_instant(row["finished_at"]),
        outcome=row["outcome"],
    )
