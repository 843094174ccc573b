"""Everything openbell did and decided about one symbol, in time order (the brief's
``investigate_vmd.py``, from the ledger alone).

The history joins:

* the morning and rescan funnels: each SCAN event that kept the symbol (with its rank) or
  dropped it (with the reason), and the SKIPPED and UNSCORED events naming it;
* each score (scorer, confidence, reason) and LLM call (provider:model, outcome,
  confidence or reason) of the symbol;
* each rescan approval, when requested and when decided, and by whom;
* each position in the symbol: PLANNED or ADOPTED, OPENED (its first entry fill), the exit
  prices, EXITING with the reason, CLOSED with the reason and realized P&L, or ABANDONED or
  RELEASED; each order as placed (role, type, quantity, prices, owner, its status now) and
  each status change the ledger logged; each fill, with the shares the position held after
  it. Shares the account holds outside the ledger never appear: openbell owns only what
  its positions hold.

An order's row shows its status now; the ledger logs each status the broker reported
(ORDER_STATUS), but not the PARTIALLY_FILLED and FILLED a fill sets on its order: the
fill rows stand for those.

Where the ledger keeps both a record and an event of the same thing (an order and its
ORDER_RECORDED event, a fill and its ``<ROLE>_FILL`` event, an approval and its
APPROVAL_* events), the richer record is shown once, in the event's place.

Reads and their cost on a big ledger: the whole event log, paged (the Ledger has no
"events of a symbol" query and the events table has no symbol index, so this is linear in
the log's length); per position of the symbol its orders and fills (indexed); per day its
scores and LLM calls (indexed by day). Without ``days`` every approval is read, and the days
searched for scores and LLM calls are the New York dates of the symbol's events and the
trading days of its positions and approvals: a score recorded on a day nothing else names
the symbol is missed unless ``days`` is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from openbell.domain.enums import OrderRole, PositionRole, Side
from openbell.domain.positions import Position
from openbell.domain.records import (
    Approval,
    FillRecord,
    LedgerEvent,
    LlmCallRecord,
    OrderRecord,
    ScoreRecord,
)
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import OrderRef, Price, Symbol
from openbell.ports import Ledger
from openbell.reports.common import cents, iter_events, ny_date

COLUMNS = ("at", "new_york", "kind", "position", "detail")

_COVERED_APPROVALS = ("APPROVAL_REQUESTED", "APPROVAL_APPROVED", "APPROVAL_REJECTED")


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One thing openbell did or decided about the symbol, at an aware instant."""

    at: datetime
    kind: str
    detail: str
    position_id: int | None = None


@dataclass(frozen=True, slots=True)
class _Entry:
    key: tuple[datetime, int, int, int]
    """(instant, event id it stands in for or 0, rank among records, record id)."""
    day: date
    """The day a ``days`` filter matches: the trading day, or the New York date."""
    row: HistoryRow


def symbol_history(
    ledger: Ledger, symbol: Symbol, days: Sequence[date] | None = None
) -> list[HistoryRow]:
    """The history of ``symbol``, oldest first; only ``days`` if given (see the module)."""
    events = _events_of(ledger, symbol)
    positions = _positions(ledger, events)
    approvals = _approvals(ledger, symbol, days)
    searched = set(days) if days is not None else _days_named(events, positions, approvals)
    index = _EventIndex(events)
    entries = [
        *_scan_entries(events, symbol),
        *_score_entries(ledger, symbol, searched),
        *_approval_entries(approvals, index),
        *(e for p in positions for e in _position_entries(ledger, p, index)),
    ]
    replaced = {e.key[1] for e in entries}
    entries += [_event_entry(e) for e in events if _shown(e, replaced)]
    wanted = set(days) if days is not None else None
    chosen = [e for e in entries if wanted is None or e.day in wanted]
    return [e.row for e in sorted(chosen, key=lambda e: e.key)]


# --- reads -----------------------------------------------------------------------------------


def _events_of(ledger: Ledger, symbol: Symbol) -> list[LedgerEvent]:
    """Events naming ``symbol``, and SCAN events whose funnel kept or dropped it."""
    return [e for e in iter_events(ledger) if e.symbol == symbol or _scan_names(e, symbol)]


def _scan_names(event: LedgerEvent, symbol: Symbol) -> bool:
    if event.kind != "SCAN":
        return False
    return symbol.value in _dropped(event.data) or symbol.value in _kept(event.data)


def _dropped(data: Mapping[str, Any]) -> Mapping[str, Any]:
    dropped = data.get("dropped")
    return dropped if isinstance(dropped, Mapping) else {}


def _kept(data: Mapping[str, Any]) -> list[str]:
    kept = data.get("kept")
    return [str(s) for s in kept] if isinstance(kept, list) else []


def _positions(ledger: Ledger, events: Sequence[LedgerEvent]) -> list[Position]:
    # every position is born with a PLANNED or ADOPTED event naming its symbol and id
    ids = sorted({e.position_id for e in events if e.position_id is not None})
    return [ledger.position(pid) for pid in ids]


def _approvals(ledger: Ledger, symbol: Symbol, days: Sequence[date] | None) -> list[Approval]:
    if days is None:
        found = ledger.approvals()
    else:
        found = [a for d in sorted(set(days)) for a in ledger.approvals(d)]
    return [a for a in found if a.symbol == symbol]


def _days_named(
    events: Iterable[LedgerEvent], positions: Iterable[Position], approvals: Iterable[Approval]
) -> set[date]:
    return (
        {ny_date(e.at) for e in events}
        | {p.trading_day for p in positions}
        | {a.trading_day for a in approvals}
    )


class _EventIndex:
    """Which event stands for which record: orders, fills and approvals."""

    def __init__(self, events: Iterable[LedgerEvent]) -> None:
        self.orders: dict[str, int] = {}
        self.fills: dict[str, int] = {}
        self.approvals: dict[tuple[str, int], int] = {}
        for e in events:
            if e.kind == "ORDER_RECORDED" and "order_ref" in e.data:
                self.orders[str(e.data["order_ref"])] = e.event_id
            elif e.kind.endswith("_FILL") and "execution_id" in e.data:
                self.fills[str(e.data["execution_id"])] = e.event_id
            elif e.kind in _COVERED_APPROVALS and "approval_id" in e.data:
                self.approvals[(e.kind, int(e.data["approval_id"]))] = e.event_id


def _shown(event: LedgerEvent, replaced: set[int]) -> bool:
    """False for SCAN events (shown as kept or dropped rows) and events a record stands in
    for (a record takes its event's id as its place in time)."""
    return event.kind != "SCAN" and event.event_id not in replaced


# --- entries ---------------------------------------------------------------------------------


def _entry(
    at: datetime,
    kind: str,
    detail: str,
    *,
    seq: tuple[int, int, int],
    day: date | None = None,
    position_id: int | None = None,
) -> _Entry:
    row = HistoryRow(at, kind, detail, position_id)
    return _Entry((at, *seq), day or ny_date(at), row)


def _event_entry(event: LedgerEvent) -> _Entry:
    return _entry(
        event.at,
        event.kind,
        event.message,
        seq=(event.event_id, 0, 0),
        position_id=event.position_id,
    )


def _scan_entries(events: Iterable[LedgerEvent], symbol: Symbol) -> list[_Entry]:
    found = []
    for e in events:
        if e.kind != "SCAN":
            continue
        when = str(e.data.get("at", "scan"))
        label = "morning scan" if when == "morning" else f"rescan of {when}"
        kept, dropped = _kept(e.data), _dropped(e.data)
        if symbol.value in kept:
            rank = kept.index(symbol.value) + 1
            detail, kind = f"{label}: kept, #{rank} of {len(kept)} kept", "SCAN_KEPT"
        else:
            detail, kind = f"{label}: dropped, {dropped[symbol.value]}", "SCAN_DROPPED"
        found.append(_entry(e.at, kind, detail, seq=(e.event_id, 0, 0)))
    return found


def _score_entries(ledger: Ledger, symbol: Symbol, days: Iterable[date]) -> list[_Entry]:
    found = []
    for day in sorted(days):
        found += [_llm_entry(c) for c in ledger.llm_calls(day) if c.call.symbol == symbol]
        found += [_score_entry(s) for s in ledger.scores(day) if s.symbol == symbol]
    return found


def _llm_entry(record: LlmCallRecord) -> _Entry:
    c = record.call
    parts = [f"{c.provider}:{c.model} {c.outcome}"]
    if c.confidence is not None:
        parts.append(f"confidence {c.confidence}")
    reason = c.reason or str(c.parsed.get("reason", ""))
    detail = " ".join(parts) + (f": {reason}" if reason else "")
    detail += f" [prompt {c.prompt_version}, {c.prompt_tokens + c.completion_tokens} tokens]"
    return _entry(
        record.called_at, "LLM_CALL", detail, seq=(0, 0, record.call_id), day=c.trading_day
    )


def _score_entry(score: ScoreRecord) -> _Entry:
    reason = str(score.output.get("reason", ""))
    detail = f"{score.scorer}: confidence {score.confidence}" + (f", {reason}" if reason else "")
    return _entry(
        score.scored_at, "SCORE", detail, seq=(0, 1, score.score_id), day=score.trading_day
    )


def _approval_entries(approvals: Iterable[Approval], index: _EventIndex) -> list[_Entry]:
    found = []
    for a in approvals:
        asked = index.approvals.get(("APPROVAL_REQUESTED", a.approval_id), 0)
        found.append(
            _entry(
                a.requested_at,
                "APPROVAL_REQUESTED",
                a.request,
                seq=(asked, 2, a.approval_id),
                day=a.trading_day,
            )
        )
        if a.decided_at is not None:
            kind = f"APPROVAL_{a.status}"
            decided = index.approvals.get((kind, a.approval_id), 0)
            detail = f"{a.request} (decided by {a.decided_by})"
            found.append(
                _entry(
                    a.decided_at, kind, detail, seq=(decided, 2, a.approval_id), day=a.trading_day
                )
            )
    return found


def _position_entries(ledger: Ledger, position: Position, index: _EventIndex) -> list[_Entry]:
    pid = position.position_id or 0
    orders = ledger.orders(pid)
    roles = {o.order_ref: o.role for o in orders}
    fills = sorted(ledger.fills(pid), key=lambda f: (f.executed_at, f.execution_id))
    for f in fills:  # a late entry fill the ledger moved here keeps its own order
        if f.order_ref not in roles:
            roles[f.order_ref] = ledger.order(f.order_ref).role
    return [
        *(_order_entry(o, index) for o in orders),
        *_fill_entries(position, fills, roles, index),
        *_state_entries(position, fills, index),
    ]


def _order_entry(order: OrderRecord, index: _EventIndex) -> _Entry:
    parts = [f"{order.role} {order.side} {order.quantity} {order.order_type}/{order.time_in_force}"]
    if order.limit_price is not None:
        parts.append(f"limit {order.limit_price}")
    if order.stop_price is not None:
        parts.append(f"stop {order.stop_price}")
    if order.oca_group:
        parts.append(f"oca {order.oca_group}")
    status = f"{order.status}, {order.filled_quantity} filled"
    if order.status_reason:
        status += f" ({order.status_reason})"
    detail = " ".join(parts) + f" by {order.owner} ({order.order_ref}); now {status}"
    seq = (index.orders.get(str(order.order_ref), 0), 3, 0)
    return _entry(order.created_at, "ORDER", detail, seq=seq, position_id=order.position_id)


def _fill_entries(
    position: Position,
    fills: Sequence[FillRecord],
    roles: Mapping[OrderRef, OrderRole],
    index: _EventIndex,
) -> list[_Entry]:
    # shares not bought by a fill were adopted: the position held them from its start
    held = position.entry_quantity - sum(f.quantity.value for f in fills if f.side is Side.BUY)
    found = []
    for f in fills:
        held += f.quantity.value if f.side is Side.BUY else -f.quantity.value
        commission = "pending" if f.commission is None else cents(f.commission.amount)
        detail = (
            f"{f.side} {f.quantity} @ {f.price} ({f.order_ref}, execution {f.execution_id}, "
            f"commission {commission}); the position holds {held}"
        )
        seq = (index.fills.get(f.execution_id, 0), 4, 0)
        kind = f"{roles[f.order_ref]}_FILL"
        found.append(_entry(f.executed_at, kind, detail, seq=seq, position_id=f.position_id))
    return found


def _state_entries(
    position: Position, fills: Sequence[FillRecord], index: _EventIndex
) -> list[_Entry]:
    pid = position.position_id
    found = []
    buys = [f for f in fills if f.side is Side.BUY]
    if position.opened_at is not None and position.role is not PositionRole.ADOPTED and buys:
        detail = f"bought {position.entry_quantity} in all @ avg {_avg(position.entry_price)}"
        seq = (index.fills.get(buys[0].execution_id, 0), 5, 0)
        found.append(_entry(position.opened_at, "OPENED", detail, seq=seq, position_id=pid))
    sells = [f for f in fills if f.side is Side.SELL]
    if position.closed_at is not None:
        detail = (
            f"{position.exit_reason}: sold {position.exit_quantity} @ avg "
            f"{_avg(position.exit_price)}; realized P&L {cents(position.realized_pnl.amount)} "
            f"after {cents(position.commissions)} commissions"
        )
        last = index.fills.get(sells[-1].execution_id, 0) if sells else 0
        found.append(
            _entry(position.closed_at, "CLOSED", detail, seq=(last, 5, 0), position_id=pid)
        )
    return found


def _avg(price: Price | None) -> str:
    return "-" if price is None else f"{price.value:.4f}"


# --- rows ------------------------------------------------------------------------------------


def history_rows(history: Iterable[HistoryRow]) -> list[dict[str, str]]:
    """The history as rows keyed by :data:`COLUMNS`: ``at`` is the instant in UTC (ISO 8601),
    ``new_york`` the exchange's wall-clock time."""
    return [
        {
            "at": row.at.astimezone(UTC).isoformat(timespec="seconds"),
            "new_york": row.at.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M:%S"),
            "kind": row.kind,
            "position": "" if row.position_id is None else str(row.position_id),
            "detail": row.detail,
        }
        for row in history
    ]
