"""Intraday rescans: entries a person approves before any order is sent.

Every ``schedule.rescan_every_min`` after the open the day-trader scans and scores again, and
turns the best new candidates into approval requests in the ledger. Nothing is sent until a
person approves one (``openbell approvals approve ID``). An approved request becomes a RESCAN
position and a DAY market entry, sized like a master position but never beyond the equity
still free. A request expires ``schedule.approval_valid_min`` after it was made; a symbol that
is held, was closed earlier today or is protected is never entered again that day.

Each rescan slot and each approval is acted on once, even across restarts: the day step
``rescan:HHMM`` or ``approval:<id>`` is written in the same transaction as what it did.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from openbell.domain.enums import (
    OrderRole,
    OrderType,
    PositionRole,
    PositionState,
    Side,
    TimeInForce,
)
from openbell.domain.errors import Conflict, InvalidValue, RefusedInput, RetryLater
from openbell.domain.orders import OrderIntent
from openbell.domain.positions import Position
from openbell.domain.records import Approval
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Confidence, Price, Quantity, Symbol, to_decimal
from openbell.ports import Broker, Ledger, MarketData, Scorer
from openbell.services.entries import ENTRY_OWNER, entry_ref
from openbell.services.morning import exclusions, record_the_scan, score_the_morning
from openbell.services.sending import record_then_send
from openbell.strategy.scanner import DEFAULT_FILTERS, ScanFilters
from openbell.strategy.schedule import DayTimeline
from openbell.strategy.selection import SelectionRules, select
from openbell.strategy.sizing import shares_within_equity

log = logging.getLogger(__name__)

EXPIRED_BY = "day-trader: expired"
"""``decided_by`` of a request nobody approved in time (its status becomes REJECTED)."""


def approval_step(approval_id: int) -> str:
    """The day step that marks an approved request as acted on (entered or refused)."""
    return f"approval:{approval_id}"


@dataclass(frozen=True)
class RescanRules:
    """What the rescans need from the settings."""

    every: timedelta
    max_positions: int
    """RESCAN positions plus requests waiting for a person, per day, at most."""
    approval_valid: timedelta


@dataclass(frozen=True, slots=True)
class Proposal:
    """What a rescan asks a person to approve (stored as JSON in the approval request)."""

    symbol: Symbol
    confidence: Confidence
    price: Price
    """The last price the scan saw; sizing uses it, the entry is a market order."""
    target_pct: Decimal
    scorer: str
    reason: str
    rescan_at: datetime

    def summary(self) -> str:
        at = self.rescan_at.astimezone(NEW_YORK).strftime("%H:%M")
        why = f" ({self.reason})" if self.reason else ""
        return (
            f"buy {self.symbol} at market: confidence {self.confidence}, last {self.price}, "
            f"target +{self.target_pct}%, rescan of {at} ET by {self.scorer}{why}"
        )

    def to_request(self) -> str:
        return json.dumps(
            {
                "summary": self.summary(),
                "symbol": str(self.symbol),
                "confidence": str(self.confidence),
                "price": str(self.price),
                "target_pct": str(self.target_pct),
                "scorer": self.scorer,
                "reason": self.reason,
                "rescan_at": self.rescan_at.isoformat(),
            },
            sort_keys=True,
        )

    @classmethod
    def parse(cls, text: str) -> Proposal:
        """Read :meth:`to_request`'s JSON back; InvalidValue says what is wrong."""
        try:
            data = json.loads(text)
            return cls(
                Symbol(data["symbol"]),
                Confidence(to_decimal("confidence", data["confidence"])),
                Price(to_decimal("price", data["price"])),
                to_decimal("target_pct", data["target_pct"]),
                str(data["scorer"]),
                str(data.get("reason", "")),
                _aware(datetime.fromisoformat(data["rescan_at"])),
            )
        except (ValueError, KeyError, TypeError, InvalidValue) as exc:
            raise InvalidValue("rescan request", "the JSON a rescan writes", text[:200]) from exc


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("rescan_at without a time zone")
    return instant


def describe(approval: Approval) -> str:
    """A person's view of a request: the proposal's summary, or the raw text."""
    try:
        return Proposal.parse(approval.request).summary()
    except InvalidValue:
        return approval.request


class Rescans:
    """The day-trader's intraday rescans and the entries people approved."""

    def __init__(
        self,
        ledger: Ledger,
        broker: Broker,
        market: MarketData,
        scorer: Scorer,
        rules: RescanRules,
        *,
        selection: SelectionRules,
        allocation_pct: Decimal,
        stop_loss_pct: Decimal,
        protected: frozenset[Symbol],
        universe: tuple[Symbol, ...] | None = None,
        filters: ScanFilters = DEFAULT_FILTERS,
    ) -> None:
        self._ledger, self._broker, self._market, self._scorer = ledger, broker, market, scorer
        self._filters = filters
        self._lost: set[tuple[date, str]] = set()
        """Slots whose scan failed: never scanned again, even before the mark is written."""
        self._rules, self._selection = rules, selection
        self._allocation_pct, self._stop_loss_pct = allocation_pct, stop_loss_pct
        self._protected, self._universe = protected, universe

    def step(self, now: datetime, timeline: DayTimeline) -> None:
        """Enter what was approved, send it, and rescan when due (after :meth:`expire`)."""
        day = timeline.session.trading_day
        if now < timeline.session.open:
            return
        self._enter_approved(now, day, timeline)
        self._send_entries(now, day, timeline)
        slot = timeline.rescan_slot(now, self._rules.every)
        if slot is not None:
            self._rescan(now, day, slot)

    def waiting(self, day: date) -> int:
        """Requests of ``day`` still waiting for a person."""
        return len(self._ledger.approvals(day, pending_only=True))

    # --- requests -------------------------------------------------------------------------
    def _rescan(self, now: datetime, day: date, slot: datetime) -> None:
        step = f"rescan:{slot.astimezone(NEW_YORK):%H%M}"
        if (day, step) in self._lost or step in self._ledger.day_steps(day):
            return
        room = self._rules.max_positions - self._taken(day)
        if room <= 0:
            self._ledger.mark_step(
                day,
                step,
                f"skipped: {self._rules.max_positions} rescan entries (or requests) already today",
            )
            return
        ledger = self._ledger
        excluded = exclusions(ledger, day, self._protected, proposed=True)
        try:
            scan = score_the_morning(
                self._market, self._scorer, day, now, self._universe, self._filters, excluded
            )
        except (RetryLater, RefusedInput) as exc:  # this slot is lost, not the day
            why = f"skipped: the scan failed: {exc}"
            log.warning("%s: %s", step, why)
            self._lost.add((day, step))  # even if the ledger is too busy to mark it now
            ledger.mark_step(day, step, why[:2000])
            ledger.append_event("SCAN_FAILED", f"{step} {why}")
            return
        rules = SelectionRules(
            room, self._selection.tiers, self._selection.min_price, self._selection.max_price
        )
        selection = select(scan.candidates, rules, excluded)
        with ledger.batch():  # the requests and the slot's mark commit together, or neither
            picks = ", ".join(str(p.candidate.symbol) for p in selection.picks) or "none"
            if not ledger.mark_step(day, step, f"proposed: {picks}"):
                return
            record_the_scan(ledger, day, scan, rescan_at=slot)
            for pick in selection.picks:
                proposal = Proposal(
                    pick.candidate.symbol,
                    pick.candidate.confidence,
                    pick.candidate.reference_price,
                    pick.target_pct,
                    pick.candidate.scored_by or scan.scorer,
                    pick.candidate.reason,
                    slot,
                )
                ledger.request_approval(day, proposal.symbol, proposal.to_request())
        log.info("%s: proposed %s for approval", step, picks)

    def _taken(self, day: date) -> int:
        entered = [
            p
            for p in self._ledger.positions_of_day(day)
            if p.role is PositionRole.RESCAN and p.state is not PositionState.ABANDONED
        ]
        return len(entered) + self.waiting(day)

    def expire(self, now: datetime) -> None:
        """Reject every request nobody decided on within the validity window."""
        for approval in self._ledger.approvals(pending_only=True):
            if now - approval.requested_at <= self._rules.approval_valid:
                continue
            try:
                self._ledger.decide_approval(approval.approval_id, False, EXPIRED_BY)
            except Conflict:  # a person decided it in the meantime
                continue
            log.info("rescan request %s for %s expired", approval.approval_id, approval.symbol)

    # --- approved entries -------------------------------------------------------------------
    def _enter_approved(self, now: datetime, day: date, timeline: DayTimeline) -> None:
        steps = self._ledger.day_steps(day)
        for approval in self._ledger.approvals(day):
            step = approval_step(approval.approval_id)
            if approval.status != "APPROVED" or step in steps:
                continue
            try:
                self._enter(approval, now, timeline)
            except RefusedInput as exc:
                self._refuse(approval, str(exc))

    def _enter(self, approval: Approval, now: datetime, timeline: DayTimeline) -> None:
        proposal = Proposal.parse(approval.request)
        why_not = self._why_not(approval, proposal, now, timeline)
        if why_not is not None:
            self._refuse(approval, why_not)
            return
        shares = self._shares(proposal.price)
        if shares is None:
            self._refuse(approval, "the equity still free buys no share")
            return
        day = timeline.session.trading_day
        with self._ledger.batch():
            if not self._ledger.mark_step(day, approval_step(approval.approval_id), "entered"):
                return
            self._ledger.plan_position(
                Position(
                    day,
                    proposal.symbol,
                    PositionRole.RESCAN,
                    shares,
                    confidence=proposal.confidence,
                    target_pct=proposal.target_pct,
                    stop_loss_pct=self._stop_loss_pct,
                    metadata={
                        "approval_id": approval.approval_id,
                        "approved_by": approval.decided_by or "",
                        "scorer": proposal.scorer,
                        "rescan_at": proposal.rescan_at.isoformat(),
                    },
                )
            )
        log.info(
            "approved rescan %s: entering %s shares of %s",
            approval.approval_id,
            shares,
            proposal.symbol,
        )

    def _why_not(
        self, approval: Approval, proposal: Proposal, now: datetime, timeline: DayTimeline
    ) -> str | None:
        symbol, ledger = proposal.symbol, self._ledger
        if now - approval.requested_at > self._rules.approval_valid:
            minutes = int(self._rules.approval_valid.total_seconds() // 60)
            return f"expired: not acted on within {minutes} minutes of the request"
        if now >= timeline.last_entry:
            return f"too late: no entry from {timeline.last_entry.astimezone(NEW_YORK):%H:%M} ET"
        if symbol in self._protected:
            return "protected symbol"
        if ledger.is_active(symbol):
            return "already held"
        if ledger.was_closed_on(symbol, timeline.session.trading_day):
            return "closed earlier today: no re-entry"
        return None

    def _shares(self, price: Price) -> Quantity | None:
        committed = sum((p.entry_cost for p in self._ledger.active_positions()), Decimal(0))
        equity = self._broker.net_liquidation()
        return shares_within_equity(equity, self._allocation_pct, price, committed)

    def _refuse(self, approval: Approval, why: str) -> None:
        day = approval.trading_day
        if self._ledger.mark_step(day, approval_step(approval.approval_id), f"refused: {why}"):
            self._ledger.append_event(
                "SKIPPED",
                f"approved rescan {approval.approval_id} not entered: {why}",
                symbol=approval.symbol,
            )
            log.warning(
                "approved rescan %s of %s not entered: %s",
                approval.approval_id,
                approval.symbol,
                why,
            )

    def _send_entries(self, now: datetime, day: date, timeline: DayTimeline) -> None:
        planned = [
            p
            for p in self._ledger.positions_of_day(day)
            if p.role is PositionRole.RESCAN and p.state is PositionState.PLANNED
        ]
        for position in planned:
            pid = position.position_id or 0
            if now >= timeline.last_entry:
                self._ledger.abandon(pid, "not sent before the last entry time")
                continue
            intent = OrderIntent(
                entry_ref(position),
                position.symbol,
                Side.BUY,
                position.planned_quantity,
                OrderType.MARKET,
                TimeInForce.DAY,
                OrderRole.ENTRY,
            )
            record_then_send(self._ledger, self._broker, pid, intent, ENTRY_OWNER)
