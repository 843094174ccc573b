"""The day-trader: the morning plan, the Market-On-Open entries, and their fills.

The day-trader owns every entry order (ARCHITECTURE.md §2): it plans the day's master
positions, sends their MOO orders inside the submission window, books the entry fills and
abandons what did not fill. It is crash-only: every step reads what it needs from the
ledger, so a restarted day-trader resumes where the last one stopped and never sends a
second entry for a position (only a PLANNED position gets one, and recording the order
moves it to ENTRY_SUBMITTED in the same transaction).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from openbell.domain.broker import BrokerEvent, OrderUpdate
from openbell.domain.enums import OrderRole, PositionRole, PositionState
from openbell.domain.errors import NotFound, RefusedInput, RetryLater
from openbell.domain.orders import Fill
from openbell.domain.positions import Position
from openbell.domain.sessions import NEW_YORK, Session
from openbell.domain.values import OrderRef, Symbol
from openbell.ports import Broker, Ledger, MarketData, Scorer
from openbell.services.entries import ENTRY_OWNER, send_entries
from openbell.services.morning import (
    MorningScan,
    exclusions,
    plan_from_scan,
    score_the_morning,
)
from openbell.services.rescans import RescanRules, Rescans
from openbell.services.sending import take_over_orders
from openbell.strategy.management import day_is_done
from openbell.strategy.scanner import ScanFilters
from openbell.strategy.schedule import DayPlan, DayTimeline
from openbell.strategy.selection import SelectionRules
from openbell.strategy.timing import EntryTiming

log = logging.getLogger(__name__)

MORNING = "morning"
SMART_SHUTDOWN = "smart_shutdown"
"""Day steps (``Ledger.mark_step``): the morning plan ran; every master hit its target."""

HALTING_CONTROLS = ("kill_switch", "entries_paused")


@dataclass(frozen=True)
class TradingRules:
    """What the day-trader needs from the settings."""

    plan: DayPlan
    selection: SelectionRules
    allocation_pct: Decimal
    stop_loss_pct: Decimal
    protected: frozenset[Symbol] = frozenset()
    universe: tuple[Symbol, ...] | None = None
    timing: EntryTiming = field(default_factory=EntryTiming)
    entry_grace: timedelta = timedelta(minutes=5)
    """An entry still working this long after the open (or after it was sent, for a rescan
    entry) is cancelled (a MOO the auction did not fill is normally cancelled by the venue)."""
    rescans: RescanRules | None = None
    """None: no intraday rescans."""
    scan: ScanFilters = field(default_factory=ScanFilters)
    scan_retry: timedelta = timedelta(minutes=1)
    """After a failed pre-market scan (market data unavailable), wait this long (by the
    clock) before the next attempt; the morning is skipped at the MOO cutoff."""


def halted(ledger: Ledger) -> str | None:
    """The reason entries may not be sent now (kill switch, entries paused), or None."""
    controls = ledger.controls()
    for name in HALTING_CONTROLS:
        control = controls.get(name)
        if control is not None and control.enabled:
            return f"{name}: {control.reason}"
    return None


class DayTrader:
    """The day-trader's decisions, one :meth:`step` at a time."""

    def __init__(
        self,
        ledger: Ledger,
        broker: Broker,
        market: MarketData,
        scorer: Scorer,
        rules: TradingRules,
    ) -> None:
        self._ledger, self._broker = ledger, broker
        self._market, self._scorer, self._rules = market, scorer, rules
        self._cancel_sent: set[OrderRef] = set()
        self._scan_retry_at: datetime | None = None
        self._scanned: dict[date, MorningScan] = {}
        self._rescans = (
            None
            if rules.rescans is None
            else Rescans(
                ledger,
                broker,
                market,
                scorer,
                rules.rescans,
                selection=rules.selection,
                allocation_pct=rules.allocation_pct,
                stop_loss_pct=rules.stop_loss_pct,
                protected=rules.protected,
                universe=rules.universe,
                filters=rules.scan,
            )
        )

    # --- start-up ---------------------------------------------------------------------------
    def start(self) -> list[OrderRef]:
        """Take over the entries an earlier life left working; return their refs."""
        return take_over_orders(self._ledger, self._broker, ENTRY_OWNER)

    # --- broker news ------------------------------------------------------------------------
    def apply(self, events: Iterable[BrokerEvent], trading_day: date | None = None) -> None:
        """Book each entry status and fill; an event for an order not ours is logged only.

        (``trading_day`` is unused: an entry fill needs no day; the Bot loop passes it.)
        """
        for event in events:
            try:
                self._apply_one(event)
            except RefusedInput as exc:  # the ledger left a REFUSED event with the reason
                log.warning("ledger refused %s: %s", type(event).__name__, exc)

    def _apply_one(self, event: BrokerEvent) -> None:
        try:
            order = self._ledger.order(event.order_ref)
        except NotFound:
            self._ledger.append_event(
                "FOREIGN", f"ignored news of {event.order_ref}: not an order openbell placed"
            )
            return
        if order.role is not OrderRole.ENTRY:
            return  # exits belong to the exit-manager
        if isinstance(event, OrderUpdate):
            self._ledger.update_order(
                event.order_ref,
                event.status,
                reason=event.reason,
                broker_order_id=event.broker_order_id,
            )
        elif isinstance(event, Fill):
            self._ledger.record_entry_fill(event)

    # --- the day ----------------------------------------------------------------------------
    def step(self, now: datetime, session: Session) -> str:
        """Take whatever step is due at ``now``; return what the day-trader is doing."""
        timeline = self._rules.plan.resolve(session)
        if not timeline.wake <= now < timeline.sleep:
            return "asleep"
        day = session.trading_day
        if self._rescans is not None:  # even when done or halted, stale requests expire
            self._rescans.expire(now)
        steps = self._ledger.day_steps(day)
        if SMART_SHUTDOWN in steps:
            return "done for the day: every master position hit its target"
        stopped = halted(self._ledger)
        if stopped is not None:
            self._cancel_working_entries(day, stopped)
            return f"paused ({stopped})"
        if now >= timeline.scan and MORNING not in steps:
            # Nothing else this tick: the scan may have taken minutes, and the MOO window is
            # judged on the next tick's fresh clock, never on this tick's stale one.
            return self._morning(day, timeline, now)
        if timeline.may_submit_moo(now):
            self._send_entries(day)
        elif now >= timeline.moo_cutoff:
            self._abandon_unsent(day)
        if self._rescans is not None:
            self._rescans.step(now, timeline)
        if now >= session.open + self._rules.entry_grace:
            grace = self._rules.entry_grace
            minutes = int(grace.total_seconds() // 60)
            why = f"still working {minutes} minutes after it was sent"
            self._cancel_working_entries(day, why, now - grace)
        return self._wrap_up(day, now, timeline)

    def _morning(self, day: date, timeline: DayTimeline, now: datetime) -> str:
        """Scan, score and plan; return what the day-trader is doing.

        The scan runs as of ``now`` (a live provider only knows the present). A finished
        scan is kept until its plan commits, so a busy ledger or a broker that cannot tell
        the equity yet never makes the scorer (an LLM, paid per call) run twice.
        """
        if now >= timeline.moo_cutoff:
            self._ledger.mark_step(day, MORNING, "skipped: started after the MOO cutoff")
            self._ledger.append_event("SKIPPED", "no morning plan: started after the MOO cutoff")
            return "no morning plan: started after the MOO cutoff"
        if self._scan_retry_at is not None and now < self._scan_retry_at:
            retry = self._scan_retry_at.astimezone(NEW_YORK)
            return f"pre-market scan failed; next attempt at {retry:%H:%M:%S} ET"
        equity = self._broker.net_liquidation()  # before paying for a scan it could not use
        scan = self._scanned.get(day) or self._scan(day, now)
        if scan is None:
            return "pre-market scan failed"
        self._scanned = {day: scan}
        rules = self._rules
        with self._ledger.batch():  # the plan and its mark commit together, or neither
            plan = plan_from_scan(
                self._ledger,
                scan,
                trading_day=day,
                rules=rules.selection,
                equity=equity,
                allocation_pct=rules.allocation_pct,
                stop_loss_pct=rules.stop_loss_pct,
                protected=rules.protected,
            )
            picks = ", ".join(str(p.symbol) for p in plan.planned) or "none"
            self._ledger.mark_step(day, MORNING, f"picks: {picks}")
        self._scanned = {}
        log.info("morning plan for %s: %s", day, picks)
        return f"morning plan: {picks}"

    def _scan(self, day: date, now: datetime) -> MorningScan | None:
        """The pre-market scan as of ``now``, or None after writing why it failed."""
        rules = self._rules
        excluded = exclusions(self._ledger, day, rules.protected)
        try:
            scan = score_the_morning(
                self._market, self._scorer, day, now, rules.universe, rules.scan, excluded
            )
        except RefusedInput as exc:  # asking again cannot help (a key missing, a past day)
            why = f"no morning plan: the pre-market scan was refused: {exc}"
            log.error("%s", why)
            self._ledger.mark_step(day, MORNING, f"skipped: {why}"[:2000])
            self._ledger.append_event("SCAN_FAILED", why)
            return None
        except RetryLater as exc:  # the provider, or the scorer's journal (a busy ledger)
            self._scan_retry_at = now + rules.scan_retry
            retry = self._scan_retry_at.astimezone(NEW_YORK)
            why = f"pre-market scan failed: {exc}; next attempt at {retry:%H:%M:%S} ET"
            log.warning("%s", why)
            self._ledger.append_event("SCAN_FAILED", why)
            return None
        self._scan_retry_at = None
        return scan

    def _planned(self, day: date) -> list[Position]:
        return [
            p
            for p in self._ledger.positions_of_day(day)
            if p.state is PositionState.PLANNED and p.role is PositionRole.MASTER
        ]

    def _send_entries(self, day: date) -> None:
        send_entries(self._ledger, self._broker, self._planned(day), self._rules.timing)

    def _abandon_unsent(self, day: date) -> None:
        for position in self._planned(day):
            self._ledger.abandon(position.position_id or 0, "not sent before the MOO cutoff")

    def _cancel_working_entries(self, day: date, why: str, sent_by: datetime | None = None) -> None:
        """Cancel the day's working entries (only those sent by ``sent_by``, if given); with
        no ``sent_by`` (entries halted) also abandon what was planned but not sent."""
        for position in self._ledger.positions_of_day(day):
            if position.state is PositionState.PLANNED:
                if sent_by is None:
                    self._ledger.abandon(position.position_id or 0, f"not entered: {why}")
                continue
            for order in self._ledger.orders(position.position_id, live_only=True):
                if sent_by is not None and order.created_at > sent_by:
                    continue
                if order.role is OrderRole.ENTRY and order.order_ref not in self._cancel_sent:
                    self._ledger.append_event(
                        "CANCEL",
                        f"cancelling entry {order.order_ref}: {why}",
                        symbol=order.symbol,
                        position_id=order.position_id,
                    )
                    self._broker.cancel(order.order_ref)
                    self._cancel_sent.add(order.order_ref)  # only once the broker took it

    def _wrap_up(self, day: date, now: datetime, timeline: DayTimeline) -> str:
        positions = self._ledger.positions_of_day(day)
        if day_is_done(positions):
            if self._ledger.mark_step(day, SMART_SHUTDOWN, "every master position hit its target"):
                log.info("smart shutdown: every master position of %s hit its target", day)
            return "done for the day: every master position hit its target"
        if now < timeline.scan:
            return "waiting for the scan"
        if now < timeline.session.open:
            return f"waiting for the open ({len(positions)} positions planned or entered)"
        live = sum(1 for p in positions if not p.state.is_terminal)
        waiting = self._rescans.waiting(day) if self._rescans is not None else 0
        asking = f", {waiting} rescan requests waiting for approval" if waiting else ""
        return f"trading ({live} live positions{asking})"
