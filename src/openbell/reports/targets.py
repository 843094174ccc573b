"""Profit targets of a day and why they were or were not hit: the brief's
``check_profit_targets.py`` ("28 targets placed, 3 filled, 25 cancelled at the flatten").

One row per position of the day that had a profit target: a resting target order (the
``native`` exit mode), or only a target price the tape watch compared trades with (the
``monitored`` mode: "not placed"). For each:

* the target price (of the last target order, else the position's) and its % above the entry;
* when the first target order was recorded (just before it was sent);
* the outcome of the last target order: filled (time, average price), cancelled by the stop
  filling (one-cancels-other), cancelled at the flatten, otherwise cancelled, rejected, still
  working, or never placed;
* the highest price while the target could fill: regular-session minute bars from the minute
  the target was placed (a monitored position: its entry) until the position closed (else
  the close), the bar of either instant included;
* how far that high got toward the target, as % of the way from the entry to the target
  (0 % never rose above the entry, 100 % touched the target; it can be below 0);
* what was left at the end, for a target that did not fill: target minus the position's exit
  price (the flatten or stop fill; a position still held: the window's last close), in % of
  that price, in dollars per share and in dollars for the shares held.

A position whose bars are missing says so ("-") rather than guessing.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

import numpy as np

from openbell.bars.frame import DayBars, to_ns
from openbell.bars.source import BarSource
from openbell.domain.enums import ExitReason, OrderRole, OrderStatus, OrderType
from openbell.domain.positions import Position
from openbell.domain.records import FillRecord, OrderRecord
from openbell.domain.sessions import NEW_YORK, Session
from openbell.domain.values import OrderRef, decimal_from_float
from openbell.ports import Calendar, Ledger
from openbell.reports.common import pct_change

_HUNDRED = Decimal(100)

COLUMNS = (
    "symbol",
    "qty",
    "entry",
    "target",
    "target_pct",
    "placed",
    "outcome",
    "high",
    "way_pct",
    "exit_or_last",
    "left_pct",
    "left_per_share",
    "left_usd",
)
SUMMARY_COLUMNS = ("metric", "value")


class TargetOutcome(StrEnum):
    FILLED = "filled"
    CANCELLED_BY_STOP = "cancelled: stop filled (OCA)"
    CANCELLED_AT_FLATTEN = "cancelled at the flatten"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    WORKING = "working"
    NOT_PLACED = "not placed"


@dataclass(frozen=True, slots=True)
class TargetRow:
    """One position's profit target and what became of it. Prices in USD per share."""

    position: Position
    target_price: Decimal
    placed_at: datetime | None
    """When the first resting target order was recorded; None: never placed."""
    outcome: TargetOutcome
    outcome_at: datetime | None
    """The fill (the last one), cancellation or rejection time; a monitored target hit:
    the time of its market exit."""
    outcome_price: Decimal | None
    """The average fill price of a filled target (or of a monitored target's market exit)."""
    high: Decimal | None
    """The highest regular-session price while the target could fill; None without bars."""
    last: Decimal | None
    """The position's exit price, else the last close of the window."""
    filled_shares: int = 0
    """Shares the last target order sold (some, before a cancelled one was cancelled)."""

    @property
    def entry(self) -> Decimal:
        p = self.position
        return p.entry_cost / p.entry_quantity

    @property
    def target_pct(self) -> Decimal:
        planned = self.position.target_pct
        return planned if planned is not None else pct_change(self.entry, self.target_price)

    @property
    def hit(self) -> bool:
        """True if the target sold the shares (a resting fill, or a monitored crossing)."""
        if self.outcome is TargetOutcome.FILLED:
            return True
        return (
            self.outcome is TargetOutcome.NOT_PLACED
            and self.position.exit_reason is ExitReason.TARGET
        )

    @property
    def way_pct(self) -> Decimal | None:
        """How far the high got from the entry toward the target, in % of the way."""
        span = self.target_price - self.entry
        if self.high is None or span <= 0:
            return None
        return (self.high - self.entry) / span * _HUNDRED

    @property
    def reached(self) -> bool | None:
        """True if hit or the price touched the target; None if unknown (no bars)."""
        if self.hit:
            return True
        return None if self.high is None else self.high >= self.target_price

    @property
    def left_per_share(self) -> Decimal | None:
        """Target minus the end price, for a target that did not sell the shares."""
        return None if self.hit or self.last is None else self.target_price - self.last

    @property
    def left_pct(self) -> Decimal | None:
        left = self.left_per_share
        return None if left is None or self.last is None else left / self.last * _HUNDRED

    @property
    def left_usd(self) -> Decimal | None:
        left = self.left_per_share
        p = self.position
        return None if left is None else left * (p.exit_quantity or p.entry_quantity)


@dataclass(frozen=True, slots=True)
class TargetSummary:
    targets: int
    placed: int
    filled: int
    cancelled_at_flatten: int
    cancelled_by_stop: int
    cancelled_other: int
    rejected: int
    working: int
    not_placed: int
    hit: int
    not_reached: int
    touched: int
    """Reached the target price (by the bars) without selling there."""
    unmeasured: int
    """Not hit, and no bars to tell how close they came."""
    best_way_pct: Decimal | None
    median_way_pct: Decimal | None

    def line(self) -> str:
        """The brief's question answered: why were the targets not hit?"""
        if not self.targets:
            return "no profit targets on this day"
        best, median = self.best_way_pct, self.median_way_pct
        if best is None or median is None:
            line = f"{self.targets - self.hit} of {self.targets} targets were not hit"
        else:
            line = (
                f"{self.not_reached} of {self.targets} targets were not reached: "
                f"best approach {_whole(best)}% of the way, median {_whole(median)}%"
            )
        if self.touched:
            line += f"; {self.touched} touched the target without filling"
        if self.unmeasured:
            line += f"; {self.unmeasured} not measured (no bars)"
        return line

    def rows(self) -> list[dict[str, str]]:
        pairs = [
            ("targets", self.targets),
            ("placed", self.placed),
            ("filled", self.filled),
            ("cancelled at the flatten", self.cancelled_at_flatten),
            ("cancelled by the stop (OCA)", self.cancelled_by_stop),
            ("cancelled otherwise", self.cancelled_other),
            ("rejected", self.rejected),
            ("working", self.working),
            ("not placed (monitored)", self.not_placed),
            ("hit (filled or crossed)", self.hit),
        ]
        rows = [{"metric": name, "value": str(count)} for name, count in pairs]
        return [*rows, {"metric": "answer", "value": self.line()}]


def targets_report(
    ledger: Ledger, bars: BarSource, calendar: Calendar, day: date
) -> list[TargetRow]:
    """Every entered position of ``day`` that had a profit target, in position order."""
    session = calendar.session(day)
    fills = ledger.fills()
    rows = []
    for position in ledger.positions_of_day(day):
        if position.entry_quantity == 0:
            continue
        targets = [o for o in ledger.orders(position.position_id) if o.role is OrderRole.TARGET]
        row = _target_row(position, targets, fills, bars.day(str(position.symbol), day), session)
        if row is not None:
            rows.append(row)
    return rows


def _target_row(
    position: Position,
    targets: Sequence[OrderRecord],
    fills: Sequence[FillRecord],
    found: DayBars | None,
    session: Session,
) -> TargetRow | None:
    # A market order in the TARGET role is the monitored mode's exit on a crossing, not a
    # resting target.
    resting = [o for o in targets if o.order_type is not OrderType.MARKET]
    last_order = resting[-1] if resting else None
    price = last_order.limit_price if last_order is not None else position.target_price
    if price is None:
        return None  # never priced: no target to speak of (the ledger has UNPROTECTED)
    if last_order is None:
        refs = {o.order_ref for o in targets}
        outcome, at, paid = TargetOutcome.NOT_PLACED, *_fill_of(fills, refs)
    else:
        outcome, at, paid = _outcome(position, last_order, fills)
    placed_at = resting[0].created_at if resting else None
    start = placed_at or position.opened_at or session.open
    high, close = _window(found, session, start, position.closed_at or session.close)
    exit_price = position.exit_price
    return TargetRow(
        position=position,
        target_price=price.value,
        placed_at=placed_at,
        outcome=outcome,
        outcome_at=at,
        outcome_price=paid,
        high=high,
        last=exit_price.value if exit_price is not None else close,
        filled_shares=0 if last_order is None else last_order.filled_quantity,
    )


def _outcome(
    position: Position, order: OrderRecord, fills: Sequence[FillRecord]
) -> tuple[TargetOutcome, datetime | None, Decimal | None]:
    if order.status is OrderStatus.FILLED:
        return TargetOutcome.FILLED, *_fill_of(fills, {order.order_ref})
    if order.status is OrderStatus.CANCELLED:
        cause = TargetOutcome.CANCELLED
        if position.exit_reason is not None:
            cause = _CANCELLED_BY.get(position.exit_reason, cause)
        return cause, order.updated_at, None
    if order.status is OrderStatus.REJECTED:
        return TargetOutcome.REJECTED, order.updated_at, None
    return TargetOutcome.WORKING, None, None


_CANCELLED_BY = {
    ExitReason.STOP: TargetOutcome.CANCELLED_BY_STOP,
    ExitReason.FLATTEN: TargetOutcome.CANCELLED_AT_FLATTEN,
}
"""A cancelled target's cause, read from how its position was exited."""


def _fill_of(
    fills: Sequence[FillRecord], refs: Collection[OrderRef]
) -> tuple[datetime | None, Decimal | None]:
    """The last fill's time and the average price of the fills of ``refs`` (None if none)."""
    own = [f for f in fills if f.order_ref in refs]
    if not own:
        return None, None
    shares = sum(f.quantity.value for f in own)
    paid = sum((f.price.value * f.quantity.value for f in own), Decimal(0))
    return own[-1].executed_at, paid / shares


def _window(
    found: DayBars | None, session: Session, start: datetime, end: datetime
) -> tuple[Decimal | None, Decimal | None]:
    """The high and the last close of the regular-session bars from the bar holding
    ``start`` to the bar holding ``end``; (None, None) without bars there."""
    if found is None:
        return None, None
    first = max(start, session.open)
    first -= timedelta(seconds=first.timestamp() % found.resolution_s)
    lo = found.index_at_or_after(first)
    if end >= session.close:
        hi = found.index_at_or_after(session.close)
    else:  # bars starting at or before ``end``
        hi = int(np.searchsorted(found.start_ns, to_ns(end), side="right"))
    if lo >= hi:
        return None, None
    high = float(found.high[lo:hi].max())
    return decimal_from_float(high, 4), decimal_from_float(float(found.close[hi - 1]), 4)


def target_summary(rows: Sequence[TargetRow]) -> TargetSummary:
    """Counts by outcome, and how close the targets that were not reached came."""
    count = Counter(r.outcome for r in rows)
    missed = [r for r in rows if not r.hit]
    ways = [r.way_pct for r in missed if r.reached is False and r.way_pct is not None]
    return TargetSummary(
        targets=len(rows),
        placed=len(rows) - count[TargetOutcome.NOT_PLACED],
        filled=count[TargetOutcome.FILLED],
        cancelled_at_flatten=count[TargetOutcome.CANCELLED_AT_FLATTEN],
        cancelled_by_stop=count[TargetOutcome.CANCELLED_BY_STOP],
        cancelled_other=count[TargetOutcome.CANCELLED],
        rejected=count[TargetOutcome.REJECTED],
        working=count[TargetOutcome.WORKING],
        not_placed=count[TargetOutcome.NOT_PLACED],
        hit=len(rows) - len(missed),
        not_reached=len(ways),
        touched=sum(1 for r in missed if r.reached),
        unmeasured=sum(1 for r in missed if r.reached is None),
        best_way_pct=max(ways) if ways else None,
        median_way_pct=statistics.median(ways) if ways else None,
    )


def target_row(row: TargetRow) -> dict[str, str]:
    """One target as display-ready text, keyed by :data:`COLUMNS`."""
    p = row.position
    return {
        "symbol": str(p.symbol),
        "qty": str(p.entry_quantity),
        "entry": _text(row.entry, 4),
        "target": _text(row.target_price, 4),
        "target_pct": _text(row.target_pct, 2, sign=True),
        "placed": _clock(row.placed_at) if row.placed_at else "not placed",
        "outcome": outcome_text(row),
        "high": _text(row.high, 4),
        "way_pct": _text(row.way_pct, 1),
        "exit_or_last": _text(row.last, 4),
        "left_pct": _text(row.left_pct, 2),
        "left_per_share": _text(row.left_per_share, 4),
        "left_usd": _text(row.left_usd, 2),
    }


def outcome_text(row: TargetRow) -> str:
    """``filled 10:42:00 @ 10.1800``, ``cancelled at the flatten 15:45:00``, ..."""
    at = "" if row.outcome_at is None else f" {_clock(row.outcome_at)}"
    paid = "" if row.outcome_price is None else f" @ {_text(row.outcome_price, 4)}"
    if row.outcome is TargetOutcome.NOT_PLACED:
        if row.hit:
            return f"not placed (monitored): crossed, sold{at}{paid}"
        return "not placed (monitored)"
    partial = ""
    if row.outcome is not TargetOutcome.FILLED and row.filled_shares:
        partial = f" ({row.filled_shares} of {row.position.entry_quantity} shares filled first)"
    return f"{row.outcome}{at}{paid}{partial}"


def _whole(value: Decimal) -> Decimal:
    return value.quantize(Decimal(1), rounding=ROUND_HALF_UP)


def _text(value: Decimal | None, places: int, sign: bool = False) -> str:
    if value is None:
        return "-"
    exact = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{exact:+f}" if sign else f"{exact:f}"


def _clock(at: datetime) -> str:
    return at.astimezone(NEW_YORK).strftime("%H:%M:%S")
