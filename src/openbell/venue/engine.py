"""The matching engine: one deterministic simulated venue for US stocks, replaying bars.

Used in-process by the backtester and behind the simulated TWS server. It reads no clock and
does no I/O: time moves only through :meth:`MatchingEngine.advance_to` (and the ``at`` of
:meth:`~MatchingEngine.submit` and :meth:`~MatchingEngine.cancel`, which advance first). The same
calls in the same order give the same events with the same execution ids.

Modelling decisions - what IB does and how the engine approximates it
----------------------------------------------------------------------
**Time.** Bars are stamped with their start ``s`` and cover ``[s, s + resolution)``. A bar's
*open* is known at ``s``; its high and low only at its end. So fills decided by a bar's open
(market orders, gaps through a level, the opening print) happen at ``s``; fills inside the bar
happen - and are stamped - at the bar's end. ``advance_to(at)`` processes everything that ends
at or before ``at`` and everything that starts before ``at``; things that start exactly at
``at`` (a bar's open, the opening print, a parked order going live) come after the caller's
actions at ``at``. An order may use only bars starting at or after its submission, so it never
fills at a price inside the bar it was sent in. See :mod:`openbell.venue.planning` for the
order of events at one instant. ``submit`` and ``cancel`` advance to ``at`` first, so their
events start with whatever happened before ``at``.

**Arrival.** A malformed order (no limit on a LMT, quantity 0, OPG on a stop, ...) is rejected
with 201 and the reason; a reused order id with 103. Otherwise the order is answered with
[2109] Accepted [399]. Order ids must be unique across clients.

**Sessions.** Regular hours come from the :class:`Session` (early closes included); extended
hours run 04:00-20:00 New York, ending at most 4 h after the close (17:00 on a 13:00 half day).
Only LMT, STP and STP LMT may use ``outside_rth``; on MKT, OPG or IOC the flag draws warning
2109 and is ignored. An order that cannot work yet because its session has not started (or has
ended: it is then parked for the next loaded day) is accepted as PreSubmitted with warning 399
naming the instant it goes live - the next open from the optional calendar, else the next
weekday. It goes live (Accepted "Submitted") when its session starts; a MKT parked before the
open joins the opening print. DAY orders are cancelled at the end of their session (the close,
or 20:00 with ``outside_rth``); GTC orders carry over to the next loaded day and keep their
status overnight. IOC orders sent outside their session are cancelled at once (IB's exact
behaviour for a pre-market MKT IOC is unverified).

**Opening auction.** MOO (MKT+OPG) and LOO (LMT+OPG) fill at the opening print = the open of
the first regular-session bar with volume; a LOO only if its limit is marketable at that print.
The unfilled remainder is cancelled right after the print (or at the close if the symbol never
traded). OPG must arrive before the cutoff (open - 2 min, Nasdaq's 09:28). Between the cutoff
and the close it is rejected (201, naming the cutoff); from the close to 10 s after, rejected
with IB's "Exchange is closed." (IB refuses a MOO sent exactly at 16:00); later it is queued for
the next loaded day's auction. OPG orders get no 399 (exchanges accept them before the open)
and may be cancelled until the print (no Nasdaq 09:28 cancel lock).

**Order types in continuous trading** (per bar, conservative; :mod:`openbell.venue.triggers`):
MKT fills at the next bar's open. LMT buy fills when low <= limit at min(limit, open) - the open
on a gap through the limit; sell symmetric. STP sell triggers when low <= stop and fills at
min(stop, open): through a gap the worse open, never the stop; buy symmetric. A triggered STP
remainder works as MKT (also in extended hours when ``outside_rth``). STP LMT triggers like a
stop, fills at the trigger price if within its limit, else works as a LMT: in the same bar only
if the open triggered it. IOC works on the first bar starting within one bar length after it
arrives; the rest is cancelled at that bar's end (at once if there is no such bar, or outside
the order's session). Stops stay PreSubmitted until triggered (IB-simulated stops).
``limit_needs_trade_through`` makes limits fill only when the range trades *through* them.

**Intrabar path.** When one bar could fill several orders inside its range, stop triggers go
first (the conservative assumption for a target above and a stop below); if 1-second bars
were loaded for the symbol, the second in which each level was first touched decides instead.
Fills stay stamped at the minute's end. At most one fill per order per bar.

**OCA and brackets.** ocaType 1: any fill cancels the other members, so at most one fills;
an order joining a type-1 group that already has a fill is cancelled at once (IB never reuses
a group name). Types 2 and 3 reduce the others' quantity by the shares filled (cancelled at
0); the filling order's type decides. Fills are applied one at a time, so "block" is implied.
Children (``parent_id``) wait PreSubmitted until the parent fills, then go live; they may fill
at most their share of what the parent has filled. Children of one parent without an
``oca_group`` act as a reducing OCA pair (IB's bracket behaviour). A child goes live at the
instant its parent fills: after a fill at a bar's open it may fill in that same bar, after a
fill inside a bar from the next bar on; when a later parent fill lets it fill more, only bars
from then on count.
A parent cancelled (or expired) before any fill cancels its children. ``transmit=False``
orders are held without any status until an order of the same parent chain arrives with
``transmit=True``; then all are accepted, parent first.

**Volume.** A fill takes at most ``max_volume_share`` of its bar's volume (at least 1 share,
rounded down otherwise); the rest waits for later bars (a MKT remainder for the next opens).
Bars with volume 0 fill nothing. Each order sees the whole bar: the
engine does not model queue position or competition between its own orders. The opening print
is capped against the first regular bar's volume (which includes the cross).

**Prices and money.** Slippage (default 2 bps) worsens market, triggered-stop and (optionally)
auction fills, never limit fills. Commission is charged per order; each fill pays the increase
of the order's commission (:mod:`openbell.venue.fees`). Cash moves by quantity x price plus
commission; positions are account-wide, may go short, and carry an average cost without
commissions.

**Cancels.** Only the placing client may cancel; any other gets 10147 "not found", as from IB.
A filled or cancelled order answers 10148 with its state. A client cancel answers 202; a held
(untransmitted) order is simply dropped, also with 202.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from openbell.bars.frame import DayBars, from_ns, to_ns
from openbell.domain.errors import InvalidValue, NotFound
from openbell.domain.sessions import Session
from openbell.ports import Calendar
from openbell.venue import messages as msg
from openbell.venue.admission import (
    ignores_outside_rth,
    ioc_bar,
    next_start,
    opg_problem,
    parent_problem,
    works_today,
)
from openbell.venue.book import FillRules, OrderBook
from openbell.venue.day import DayHours, TradingDay
from openbell.venue.fees import CommissionModel, FixedCommission
from openbell.venue.orders import (
    Accepted,
    Cancelled,
    CancelRejected,
    Event,
    OrderState,
    OrderWarning,
    Rejected,
    Tif,
    VenueOrder,
    VenueStatus,
)
from openbell.venue.planning import CALLER, desired_status
from openbell.venue.slippage import FixedBps, SlippageModel
from openbell.venue.state import Account, Position, Working

__all__ = ["MatchingEngine", "VenueConfig"]


@dataclass(frozen=True, slots=True)
class VenueConfig:
    """How the venue fills. Money in USD; times are New York wall clock or offsets."""

    commission: CommissionModel = field(default_factory=FixedCommission)
    slippage: SlippageModel = field(default_factory=FixedBps)
    max_volume_share: float | None = 0.25
    moo_cutoff: timedelta = timedelta(minutes=2)
    opg_reopen_after_close: timedelta = timedelta(seconds=10)
    premarket_start: time = time(4, 0)
    postmarket_end: time = time(20, 0)
    after_hours: timedelta = timedelta(hours=4)
    limit_needs_trade_through: bool = False
    starting_cash: float = 0.0
    default_listing: str = "NASDAQ.NMS"
    listings: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        share = self.max_volume_share
        if share is not None and not 0 < share <= 1:
            raise InvalidValue("max_volume_share", "a fraction in (0, 1] or None", share)
        if self.moo_cutoff < timedelta(0) or self.opg_reopen_after_close < timedelta(0):
            raise InvalidValue("OPG timings", "offsets of 0 or more", self.moo_cutoff)
        if self.premarket_start >= self.postmarket_end:
            raise InvalidValue(
                "extended hours",
                "a pre-market start before the post-market end",
                f"{self.premarket_start}-{self.postmarket_end}",
            )

    @property
    def hours(self) -> DayHours:
        return DayHours(
            self.premarket_start, self.postmarket_end, self.after_hours, self.moo_cutoff
        )


class MatchingEngine:
    """The simulated venue. Every call returns the events it caused, in time order."""

    def __init__(self, config: VenueConfig | None = None, *, calendar: Calendar | None = None):
        """``calendar``, if given, names the next session in 399 warnings after the close."""
        self._config = config or VenueConfig()
        self._calendar = calendar
        rules = FillRules(
            self._config.commission,
            self._config.slippage,
            self._config.max_volume_share,
            self._config.limit_needs_trade_through,
        )
        self._account = Account(self._config.starting_cash)
        self._book = OrderBook(rules, self._account)
        self._held: dict[int, VenueOrder] = {}
        self._now_ns: int | None = None

    # --- time -------------------------------------------------------------------------------
    @property
    def now(self) -> datetime | None:
        """The engine's current instant (New York), None before the first call with a time."""
        return None if self._now_ns is None else from_ns(self._now_ns)

    @property
    def session(self) -> Session | None:
        """The loaded session, if any."""
        return None if self._book.day is None else self._book.day.session

    def load_day(
        self,
        session: Session,
        bars_by_symbol: Mapping[str, DayBars],
        seconds_by_symbol: Mapping[str, DayBars] | None = None,
    ) -> list[Event]:
        """Make ``session`` the trading day, replaying these bars (1-second bars optional).

        First finishes the previous day through its extended hours (returning those events).
        Load a day before the clock reaches its pre-market. GTC and parked orders carry over.
        """
        old = self._book.day
        events: list[Event] = []
        if old is not None and (self._now_ns is None or self._now_ns < old.post_ns):
            events = self.advance_to(from_ns(old.post_ns))
        day = TradingDay.build(session, bars_by_symbol, seconds_by_symbol, self._config.hours)
        if old is not None and day.open_ns <= old.close_ns:
            raise InvalidValue("session", f"a session after {old.session.trading_day}", session)
        if self._now_ns is not None and self._now_ns >= day.pre_ns:
            raise InvalidValue("load_day", f"a day whose pre-market is after {self.now}", session)
        self._book.switch_day(day, events)
        return events

    def advance_to(self, at: datetime) -> list[Event]:
        """Process everything up to ``at`` (see the module docstring for the boundary)."""
        now = to_ns(at)
        if self._now_ns is not None and now < self._now_ns:
            raise InvalidValue("venue time", f"an instant at or after {self.now}", at)
        self._now_ns = now
        events: list[Event] = []
        self._book.run((now, CALLER), events)
        self._book.now_ns = now
        return events

    # --- commands ---------------------------------------------------------------------------
    def submit(self, order: VenueOrder, at: datetime) -> list[Event]:
        """Place ``order`` at ``at``: advance to ``at``, then accept, hold or reject it."""
        events = self.advance_to(at)
        day = self._require_day()
        refusal = self._refusal(order)
        if refusal is not None:
            events.append(refusal)
            return events
        if not order.transmit:
            self._held[order.order_id] = order
            return events
        root = order.order_id if order.parent_id is None else order.parent_id
        for held in [o for o in self._held.values() if root in (o.order_id, o.parent_id)]:
            del self._held[held.order_id]
            self._admit(held, day, events)
        self._admit(order, day, events)
        return events

    def cancel(self, order_id: int, client_id: int, at: datetime) -> list[Event]:
        """Cancel an order of ``client_id`` at ``at`` (10147 if unknown to it, 10148 if done)."""
        events = self.advance_to(at)
        stamp = from_ns(self._book.now_ns)
        held = self._held.get(order_id)
        w = self._book.orders.get(order_id)
        if held is not None and held.client_id == client_id:
            del self._held[order_id]
            events.append(
                Cancelled(
                    order_id, msg.CODE_CANCELLED, msg.CANCELLED_BY_CLIENT, 0, held.quantity, stamp
                )
            )
        elif w is None or w.order.client_id != client_id:
            events.append(
                CancelRejected(order_id, msg.CODE_NOT_FOUND, msg.not_found(order_id), stamp)
            )
        elif w.status.is_terminal:
            text = msg.cannot_cancel(order_id, str(w.status))
            events.append(CancelRejected(order_id, msg.CODE_CANNOT_CANCEL, text, stamp))
        else:
            self._book.cancel(w, msg.CODE_CANCELLED, msg.CANCELLED_BY_CLIENT, events)
        return events

    # --- queries ----------------------------------------------------------------------------
    def open_orders(self) -> list[OrderState]:
        """Orders still working (held, untransmitted orders are not shown), in arrival order."""
        return [w.snapshot() for w in self._book.live.values()]

    def order_state(self, order_id: int) -> OrderState:
        """The state of any order the venue has seen and accepted or holds."""
        if order_id in self._held:
            order = self._held[order_id]
            return OrderState(order, VenueStatus.PENDING_SUBMIT, 0, order.quantity, 0.0)
        w = self._book.orders.get(order_id)
        if w is None:
            raise NotFound(f"order {order_id}: the venue never accepted an order with this id")
        return w.snapshot()

    def positions(self) -> dict[str, Position]:
        """Account-wide open positions by symbol."""
        return self._account.positions()

    def cash(self) -> float:
        """Account cash in USD: starting cash less buys, plus sales, less commissions."""
        return self._account.cash

    # --- admission --------------------------------------------------------------------------
    def _require_day(self) -> TradingDay:
        if self._book.day is None:
            raise InvalidValue("venue", "a loaded trading day (call load_day first)", None)
        return self._book.day

    def _refusal(self, order: VenueOrder) -> Rejected | None:
        stamp = from_ns(self._book.now_ns)
        if order.order_id in self._book.orders or order.order_id in self._held:
            return Rejected(order.order_id, msg.CODE_DUPLICATE_ID, msg.DUPLICATE_ID, stamp)
        problem = order.problem()
        if problem is not None:
            return Rejected(order.order_id, msg.CODE_REJECTED, msg.rejected(problem), stamp)
        return None

    def _admit(self, order: VenueOrder, day: TradingDay, events: list[Event]) -> None:
        """Accept (with 2109/399 as IB would say them) or reject one transmitted order."""
        now, stamp = self._book.now_ns, from_ns(self._book.now_ns)
        reopen = self._config.opg_reopen_after_close
        reason = parent_problem(order, self._book.orders) or opg_problem(order, day, now, reopen)
        if reason is not None:
            events.append(Rejected(order.order_id, msg.CODE_REJECTED, msg.rejected(reason), stamp))
            return
        ignored = ignores_outside_rth(order)
        if ignored:
            code, text = msg.CODE_OUTSIDE_RTH_IGNORED, msg.OUTSIDE_RTH_IGNORED
            events.append(OrderWarning(order.order_id, code, text, stamp))
        w = self._working(order, day, extended=order.outside_rth and not ignored)
        events.append(Accepted(order.order_id, w.status, stamp))
        start = day.window(w.extended)[0]
        if order.tif not in (Tif.OPG, Tif.IOC) and (w.day is None or now < start):
            until = from_ns(start) if w.day is not None else self._next_start(day, w.extended)
            listing = self._config.listings.get(order.symbol, self._config.default_listing)
            text = msg.parked_until(order, listing, until)
            events.append(OrderWarning(order.order_id, msg.CODE_PARKED, text, stamp))
        self._book.add(w, events)
        if order.tif is Tif.IOC and w.ioc_index is None and not w.status.is_terminal:
            self._book.cancel(w, None, "IOC order found no market to trade with", events)

    def _working(self, order: VenueOrder, day: TradingDay, *, extended: bool) -> Working:
        now = self._book.now_ns
        parent = None if order.parent_id is None else self._book.orders[order.parent_id]
        today = works_today(order, day, now, extended)
        w = Working(
            order=order,
            seq=self._book.next_seq(),
            extended=extended,
            status=VenueStatus.PRE_SUBMITTED,
            active_from_ns=now if parent is None or parent.filled > 0 else None,
            day=day.session.trading_day if today else None,
            quantity=order.quantity,
        )
        w.status = desired_status(w, day, now)
        if order.tif is Tif.IOC:
            w.ioc_index = ioc_bar(w, day, now)
        return w

    def _next_start(self, day: TradingDay, extended: bool) -> datetime:
        return next_start(day, extended, self._calendar, self._config.premarket_start)
