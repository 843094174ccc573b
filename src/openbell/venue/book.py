"""The order book behind the engine: it runs each order's plan in time order and books fills.

It owns the accepted orders, their OCA groups and bracket links, and a heap of plans keyed by
``(time_ns, rank, priority, seq)``. A plan is replaced, never edited: every change to an order
bumps its ``version`` and pushes a new plan; stale heap entries are skipped when popped. Each
step touches only the order concerned and the orders linked to it, so the work done is
proportional to the number of events, not to the number of bars.
"""

from __future__ import annotations

import heapq
import sys
from dataclasses import dataclass

from openbell.bars.frame import from_ns
from openbell.domain.errors import InvariantBroken
from openbell.venue.day import SymbolDay, TradingDay
from openbell.venue.fees import CommissionModel
from openbell.venue.orders import (
    Accepted,
    Cancelled,
    Event,
    Fill,
    Liquidity,
    Tif,
    VenueOrder,
    VenueStatus,
    next_status,
)
from openbell.venue.planning import Plan, Step, desired_status, next_plan
from openbell.venue.slippage import PRICE_DECIMALS, FillKind, SlippageModel
from openbell.venue.state import Account, Working
from openbell.venue.triggers import Hit

__all__ = ["FillRules", "OrderBook"]

_Group = tuple[str, str]
_REDUCE = 3


@dataclass(frozen=True, slots=True)
class FillRules:
    """The fill models the book applies (see the engine's module docstring)."""

    commission: CommissionModel
    slippage: SlippageModel
    max_volume_share: float | None
    strict_limits: bool


def _group(order: VenueOrder) -> tuple[_Group, int] | None:
    """The order's OCA group and type; bracket siblings share an implicit reducing group."""
    if order.oca_group is not None:
        return ("oca", order.oca_group), order.oca_type
    if order.parent_id is not None:
        return ("bracket", str(order.parent_id)), _REDUCE
    return None


class OrderBook:
    """Accepted orders, their schedule, and the account their fills are booked to."""

    def __init__(self, rules: FillRules, account: Account) -> None:
        self.rules = rules
        self.account = account
        self.orders: dict[int, Working] = {}
        self.live: dict[int, Working] = {}
        """The orders not yet filled or cancelled, in acceptance order."""
        self.day: TradingDay | None = None
        self.now_ns = 0
        self._groups: dict[_Group, list[int]] = {}
        self._children: dict[int, list[int]] = {}
        self._heap: list[tuple[int, int, int, int, int, int]] = []
        self._plans: dict[int, Plan] = {}
        self._seq = 0

    # --- registration and scheduling ---------------------------------------------------------
    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add(self, w: Working, events: list[Event]) -> None:
        """Register an accepted order and schedule its first step.

        An order joining an OCA type 1 group that already has a fill is cancelled at once:
        group names are never reused (IB), and at most one member of such a group may fill.
        """
        order = w.order
        self.orders[order.order_id] = w
        self.live[order.order_id] = w
        group = _group(order)
        if group is not None:
            members = self._groups.setdefault(group[0], [])
            done = group[1] == 1 and any(self.orders[m].filled for m in members)
            members.append(order.order_id)
            if done:
                self.cancel(w, None, f"OCA group {order.oca_group} already filled", events)
                return
        if order.parent_id is not None:
            self._children.setdefault(order.parent_id, []).append(order.order_id)
        self.replan(w)

    def replan(self, w: Working) -> None:
        """Drop the order's current plan and schedule its next step, if any."""
        w.version += 1
        self._plans.pop(w.order.order_id, None)
        if self.day is None:
            return
        plan = next_plan(
            w, self.day, self.now_ns, self.fillable(w), strict=self.rules.strict_limits
        )
        if plan is not None:
            self._plans[w.order.order_id] = plan
            heapq.heappush(self._heap, (*plan.key, w.seq, w.order.order_id, w.version))

    def fillable(self, w: Working) -> int:
        """Shares the order may fill now; a bracket child follows its parent's fills."""
        room = w.remaining
        parent = self.orders.get(w.order.parent_id) if w.order.parent_id is not None else None
        if parent is not None:
            allowed = w.order.quantity * parent.filled // parent.order.quantity
            room = min(room, allowed - w.filled)
        return room

    def switch_day(self, day: TradingDay, events: list[Event]) -> None:
        """Start working ``day``: orders carried over (GTC, parked) get plans for it."""
        old = self.day
        self.day = day
        self._heap.clear()
        self._plans.clear()
        for w in list(self.live.values()):
            if old is not None and w.day == old.session.trading_day and w.order.tif is not Tif.GTC:
                self.cancel(w, None, f"{w.order.tif} order expired with its session", events)
                continue
            w.day, w.cursor, w.ioc_index = day.session.trading_day, 0, None
            self.replan(w)

    def run(self, limit: tuple[int, int], events: list[Event]) -> None:
        """Carry out, in key order, every plan whose ``(time_ns, rank)`` is before ``limit``."""
        heap = self._heap
        while heap and (heap[0][0], heap[0][1]) < limit:
            time_ns, _, _, _, order_id, version = heapq.heappop(heap)
            w = self.orders[order_id]
            if w.version != version:
                continue
            plan = self._plans.pop(order_id)
            self.now_ns = time_ns
            if plan.step is Step.ACTIVATE:
                self.refresh_status(w, events)
                self.replan(w)
            elif plan.step is Step.EXPIRE:
                self.cancel(w, None, plan.reason, events)
            elif plan.hit is not None:
                self._fill(w, plan.hit, events)

    # --- state changes -------------------------------------------------------------------------
    def refresh_status(self, w: Working, events: list[Event]) -> None:
        """Move a live order to the status it should have now; report a change."""
        want = desired_status(w, self.day, self.now_ns)
        if want is not w.status and not w.status.is_terminal:
            w.status = next_status(w.status, want)
            events.append(Accepted(w.order.order_id, want, from_ns(self.now_ns)))

    def cancel(self, w: Working, code: int | None, text: str, events: list[Event]) -> None:
        """End the order; a parent that never filled takes its children with it."""
        w.status = next_status(w.status, VenueStatus.CANCELLED)
        w.version += 1
        self.live.pop(w.order.order_id, None)
        self._plans.pop(w.order.order_id, None)
        at = from_ns(self.now_ns)
        events.append(Cancelled(w.order.order_id, code, text, w.filled, w.remaining, at))
        if w.filled:
            return
        for child_id in self._children.get(w.order.order_id, ()):
            child = self.orders[child_id]
            if not child.status.is_terminal:
                why = (
                    text if code is not None else f"Parent order {w.order.order_id} ended unfilled"
                )
                self.cancel(child, code, why, events)

    def _fill(self, w: Working, hit: Hit, events: list[Event]) -> None:
        w.cursor = hit.index + 1
        if w.order.order_type.is_stop:
            w.triggered = True
        book = self._symbol(w)
        shares = min(self.fillable(w), self._volume_cap(book, hit.index))
        if hit.price is None or shares <= 0:  # a STP LMT that only triggered
            self.refresh_status(w, events)
            self.replan(w)
            return
        # Every execution on IB's 0.0001 grid, as the ledger books it: a synthetic bar's
        # open is not on it, and a finer price would leave the P&L a rounding cent apart.
        price = round(
            self.rules.slippage.fill_price(w.order.action, hit.price, hit.kind), PRICE_DECIMALS
        )
        commission = self._commission(w, shares, price)
        w.filled += shares
        w.fill_value += shares * price
        w.commission += commission
        w.fills += 1
        w.auction_done = w.auction_done or w.order.tif is Tif.OPG
        at = from_ns(self.now_ns)
        month = (at.year, at.month)
        self.account.apply_fill(w.order.symbol, w.order.action, shares, price, commission, month)
        wanted = (
            VenueStatus.FILLED if w.remaining == 0 else desired_status(w, self.day, self.now_ns)
        )
        w.status = next_status(w.status, wanted)
        events.append(self._fill_event(w, hit, shares, price, commission))
        self._after_fill(w, shares, events)
        if w.status is VenueStatus.FILLED:
            w.version += 1
            self.live.pop(w.order.order_id, None)
        else:
            self.replan(w)

    def _fill_event(
        self, w: Working, hit: Hit, shares: int, price: float, commission: float
    ) -> Fill:
        order = w.order
        return Fill(
            order_id=order.order_id,
            exec_id=f"{order.order_id}.{w.fills}",
            symbol=order.symbol,
            action=order.action,
            quantity=shares,
            price=price,
            time=from_ns(self.now_ns),
            commission=commission,
            liquidity=_liquidity(hit),
            cumulative_quantity=w.filled,
            remaining=w.remaining,
            average_price=w.average_price,
        )

    def _after_fill(self, w: Working, shares: int, events: list[Event]) -> None:
        """Apply the fill to the order's OCA group and release or grow its children."""
        group = _group(w.order)
        if group is not None:
            (kind, name), oca_type = group
            for member_id in self._groups[(kind, name)]:
                member = self.orders[member_id]
                if member is w or member.status.is_terminal:
                    continue
                if oca_type == 1:
                    self.cancel(member, None, f"Cancelled by OCA group {name}", events)
                else:
                    self._reduce(member, shares, name, events)
        for child_id in self._children.get(w.order.order_id, ()):
            child = self.orders[child_id]
            if child.status.is_terminal:
                continue
            if child.active_from_ns is None:
                child.active_from_ns = self.now_ns
                self.refresh_status(child, events)
            self.replan(child)

    def _reduce(self, member: Working, shares: int, name: str, events: list[Event]) -> None:
        member.quantity = max(member.quantity - shares, member.filled)
        if member.remaining == 0:
            self.cancel(member, None, f"Reduced to 0 by OCA group {name}", events)
        else:
            self.replan(member)

    def _commission(self, w: Working, shares: int, price: float) -> float:
        """This fill's share of the order's commission: the increase of the order's total."""
        at = from_ns(self.now_ns)
        if w.month_shares is None:
            w.month_shares = self.account.month_shares((at.year, at.month))
        total = self.rules.commission.order_commission(
            w.order.action, w.filled + shares, w.fill_value + shares * price, w.month_shares
        )
        return max(total - w.commission, 0.0)

    def _volume_cap(self, book: SymbolDay, index: int) -> int:
        share = self.rules.max_volume_share
        if share is None:
            return sys.maxsize
        volume = float(book.bars.volume[index])
        return max(1, int(volume * share)) if volume > 0 else 0

    def _symbol(self, w: Working) -> SymbolDay:
        if self.day is None:
            raise InvariantBroken("a fill was planned with no trading day loaded")
        return self.day.symbols[w.order.symbol]


def _liquidity(hit: Hit) -> Liquidity:
    if hit.kind is FillKind.AUCTION:
        return Liquidity.AUCTION
    if hit.kind is FillKind.LIMIT and not hit.at_open and not hit.stop_first:
        return Liquidity.ADDED
    return Liquidity.REMOVED
