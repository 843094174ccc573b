"""Random sequences of ledger commands from three processes keep the ledger sound.

A Hypothesis state machine drives one ledger file through three connections named like the
processes that share it in production (``day-trader``, ``exit-manager``, ``cli``). Two rules
play the bots (the day-trader plans, sends and fills entries; the exit manager places OCA exits
and fills them), so sequences reach closed positions; the other rules issue any command through
any connection, on targets that are mostly, not always, ones the command can act on. Each rule
states the outcome the ledger owes it where that is certain: an oversell is refused, a PLANNED
position can be abandoned, an approval is decided once, and so on. After every command:

* a refused command changed no row, and logged exactly one REFUSED event naming its error
  (the commands that validate before writing log nothing);
* the positions hold what the commands put there: bought minus sold, never below 0 or above
  what was bought, with the cost, proceeds and commissions the fills carried; a closed
  position holds 0 and its P&L is its proceeds less its cost less its commissions;
* recording a fill whose execution id is already recorded is a silent no-op (``fills.py``:
  "Recording the same execution_id twice is a no-op"), whatever the repeat says;
* every process reads the same positions; event ids only grow, each event is stamped by the
  process that wrote it at the clock's instant; approvals and operator requests are decided
  once and never change afterwards;
* every invariant of ``ledger_invariants.check_invariants`` holds.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from ledger_invariants import check_invariants
from ledger_workload import read_only

from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.journal import CONTROL_NAMES, REQUEST_KINDS
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.domain import (
    ExitReason,
    Fill,
    Money,
    OrderIntent,
    OrderRef,
    OrderRole,
    OrderStatus,
    OrderType,
    Position,
    PositionRole,
    PositionState,
    Price,
    Quantity,
    Side,
    Symbol,
    TimeInForce,
)
from openbell.domain.errors import (
    Conflict,
    IllegalTransition,
    InvalidValue,
    NotFound,
    Oversell,
    ProtectedSymbol,
    RefusedInput,
)

PROCESSES = ("day-trader", "exit-manager", "cli")
SYMBOLS = ("AAPL", "MSFT", "NVDA")
PROTECTED = ("SKYX",)
DAYS = (date(2026, 1, 5), date(2026, 1, 6))
START = datetime(2026, 1, 5, 13, 0, tzinfo=UTC)
LIVE = ("PLANNED", "ENTRY_SUBMITTED", "OPEN", "EXITING")
HOLDING = ("OPEN", "EXITING")
LIVE_ORDER = ("PENDING", "SUBMITTED", "PARTIALLY_FILLED")
# Every table a command may write, except the event log (judged on its own).
TABLES = (
    "positions",
    "orders",
    "fills",
    "approvals",
    "controls",
    "requests",
    "heartbeats",
    "day_steps",
    "scores",
    "llm_calls",
)
# A memory-backed folder where there is one: each command commits with an fsync (durable=True,
# as the bots open the ledger), and a thousand fsyncs to disk would be most of the run time.
SCRATCH = "/dev/shm" if Path("/dev/shm").is_dir() else None
# Derandomized so every run (and CI) tries the same sequences.
SETTINGS = settings(
    max_examples=40, stateful_step_count=25, deadline=None, derandomize=True, database=None
)

# Four times in five a command goes to a target it can act on; True first, so it shrinks there.
PREFER = (True, True, True, True, False)
process_names = st.sampled_from(PROCESSES)
symbols_or_protected = st.sampled_from(SYMBOLS * 3 + PROTECTED)
days = st.sampled_from(DAYS)
# The one clock every process reads only moves forward, between rules.
waits = st.integers(0, 3600).map(lambda seconds: timedelta(seconds=seconds))
prices = st.integers(1, 50_000).map(lambda cents: Price(Decimal(cents) / 100))
commissions = st.one_of(st.none(), st.integers(0, 500).map(lambda c: Money(Decimal(c) / 100)))
texts = st.text(st.characters(codec="utf-8"), max_size=20)
EXIT_SHAPES = {
    OrderRole.TARGET: (OrderType.LIMIT, TimeInForce.DAY),
    OrderRole.STOP: (OrderType.STOP, TimeInForce.GTC),
    OrderRole.FLATTEN: (OrderType.MARKET, TimeInForce.DAY),
}


@dataclass
class Book:
    """What the commands that succeeded put into one position."""

    entry_quantity: int = 0
    entry_cost: Decimal = Decimal(0)
    exit_quantity: int = 0
    exit_proceeds: Decimal = Decimal(0)
    commissions: Decimal = Decimal(0)


@dataclass
class RecordedFill:
    fill: Fill
    entry: bool
    position_id: int
    has_commission: bool


@dataclass
class Decided:
    """Approvals or operator requests by id: their status, and their row once decided."""

    status: dict[int, str] = field(default_factory=dict)
    rows: dict[int, tuple[Any, ...]] = field(default_factory=dict)


Row = sqlite3.Row
Command = Callable[[SqliteLedger], Any]


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="ledger-machine-", dir=SCRATCH))
        self.path = self.folder / "ledger.db"
        self.clock = ManualClock(START)
        protected = frozenset(Symbol(s) for s in PROTECTED)
        self.ledgers = {
            name: SqliteLedger.open(
                self.path, self.clock, process=name, protected_symbols=protected
            )
            for name in PROCESSES
        }
        self.look = read_only(self.path)
        self.look.row_factory = sqlite3.Row
        self.books: dict[int, Book] = {}
        self.orders: dict[str, OrderRole] = {}
        self.fills: dict[str, RecordedFill] = {}
        self.approvals = Decided()
        self.requests = Decided()
        self.last_event_id = 0
        self.serial = 0
        self.unchecked = False

    def teardown(self) -> None:
        self.look.close()
        for ledger in self.ledgers.values():
            ledger.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- acting and judging ------------------------------------------------------------------

    def act(
        self, process: str, call: Command, *, refusal_is_logged: bool = True
    ) -> tuple[Any, RefusedInput | None]:
        """Run one command through ``process``'s connection: (its result, or its refusal).

        Any exception other than a refusal fails the test. A refusal must leave every row as it
        was and add exactly one REFUSED event (none for commands that validate before writing).
        The ledger's invariants are checked after every command: here, before the next command
        of the same rule, once the rule has updated what it expects, or after the rule ends.
        """
        self.check_ledger()
        self.unchecked = True
        before = self._snapshot()
        try:
            result = call(self.ledgers[process])
        except RefusedInput as exc:
            refusal = exc
        else:
            self._new_events(process)
            return result, None
        assert self._snapshot() == before, f"refused ({refusal}) but rows changed"
        events = self._new_events(process)
        expected = [("REFUSED", str(refusal))] if refusal_is_logged else []
        assert [(e["kind"], e["message"]) for e in events] == expected
        if events:
            assert json.loads(events[0]["data"])["error"] == type(refusal).__name__
        return None, refusal

    def _snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        return {
            table: [tuple(r) for r in self.look.execute(f"SELECT * FROM {table} ORDER BY rowid")]
            for table in TABLES
        }

    def _new_events(self, process: str) -> list[Row]:
        """The events written since the last look: all by ``process``, at the clock's now."""
        rows = self.look.execute(
            "SELECT * FROM events WHERE event_id > ? ORDER BY event_id", (self.last_event_id,)
        ).fetchall()
        now = self.clock.now().isoformat()
        assert all(e["process"] == process and e["at"] == now for e in rows)
        if rows:
            self.last_event_id = rows[-1]["event_id"]
        return rows

    def _next(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    def _position(self, position_id: int) -> Row:
        row: Row | None = self.look.execute(
            "SELECT * FROM positions WHERE position_id = ?", (position_id,)
        ).fetchone()
        assert row is not None
        return row

    def _live_position(self, symbol: str) -> Row | None:
        marks = ", ".join("?" * len(LIVE))
        row: Row | None = self.look.execute(
            f"SELECT * FROM positions WHERE symbol = ? AND state IN ({marks})", (symbol, *LIVE)
        ).fetchone()
        return row

    def _order(self, order_ref: str) -> Row:
        row: Row | None = self.look.execute(
            "SELECT * FROM orders WHERE order_ref = ?", (order_ref,)
        ).fetchone()
        assert row is not None
        return row

    def _orders_of(self, position_id: int, *, live: bool) -> list[Row]:
        rows = self.look.execute(
            "SELECT * FROM orders WHERE position_id = ? ORDER BY order_ref", (position_id,)
        ).fetchall()
        return [r for r in rows if not live or r["status"] in LIVE_ORDER]

    @staticmethod
    def _held(row: Row) -> int:
        return int(row["entry_quantity"]) - int(row["exit_quantity"])

    def _prefer(self, data: st.DataObject, items: list[Any], useful: Callable[[Any], bool]) -> Any:
        """Mostly an item the command can act on (so sequences reach deep states), sometimes
        any item (so the refusals are exercised too)."""
        preferred = [item for item in items if useful(item)]
        if preferred and data.draw(st.sampled_from(PREFER), label="prefer a useful target"):
            return data.draw(st.sampled_from(preferred), label="useful target")
        return data.draw(st.sampled_from(items), label="any target")

    def _pick_position(self, data: st.DataObject, *states: str) -> Row:
        rows = [self._position(pid) for pid in sorted(self.books)]
        row: Row = self._prefer(data, rows, lambda r: r["state"] in states)
        return row

    def _pick_order(self, data: st.DataObject, *, entry: bool) -> Row | None:
        refs = sorted(
            ref for ref, role in self.orders.items() if (role is OrderRole.ENTRY) == entry
        )
        if not refs:
            return None

        def useful(order: Row) -> bool:
            state = self._position(order["position_id"])["state"]
            if entry:
                return order["quantity"] > order["filled_quantity"] and state not in (
                    "CLOSED",
                    "RELEASED",
                )
            return order["status"] in LIVE_ORDER and state in HOLDING

        order: Row = self._prefer(data, [self._order(ref) for ref in refs], useful)
        return order

    def _fill(self, order: Row, quantity: int, price: Price, commission: Money | None) -> Fill:
        return Fill(
            self._next("exec-"),
            OrderRef(order["order_ref"]),
            Symbol(order["symbol"]),
            Side(order["side"]),
            Quantity(quantity),
            price,
            self.clock.now(),
            commission=commission,
        )

    def _book_fill(self, rec: RecordedFill) -> None:
        book, fill = self.books[rec.position_id], rec.fill
        notional = fill.price.value * fill.quantity.value
        if rec.entry:
            book.entry_quantity += fill.quantity.value
            book.entry_cost += notional
        else:
            book.exit_quantity += fill.quantity.value
            book.exit_proceeds += notional
        if fill.commission is not None:
            book.commissions += fill.commission.amount
        self.fills[fill.execution_id] = rec

    # --- commands and the outcome each one owes ----------------------------------------------

    def plan(self, process: str, symbol: str, day: date, quantity: int) -> None:
        live = self._live_position(symbol)
        closed = self.look.execute(
            "SELECT 1 FROM positions WHERE symbol = ? AND state = 'CLOSED' AND closed_day = ?",
            (symbol, day.isoformat()),
        ).fetchone()
        planned = Position(day, Symbol(symbol), PositionRole.MASTER, Quantity(quantity))
        stored, refusal = self.act(process, lambda ledger: ledger.plan_position(planned))
        if symbol in PROTECTED:
            assert isinstance(refusal, ProtectedSymbol)
        elif live is not None or closed is not None:
            assert isinstance(refusal, Conflict)  # one live position; no re-entry the same day
        else:
            assert refusal is None
            assert stored.state is PositionState.PLANNED
            assert stored.position_id not in self.books
            self.books[stored.position_id] = Book()

    def record_entry_order(
        self, process: str, position: Row, ref: str, quantity: int, limit: Price | None
    ) -> None:
        intent = OrderIntent(
            OrderRef(ref),
            Symbol(position["symbol"]),
            Side.BUY,
            Quantity(quantity),
            OrderType.MARKET if limit is None else OrderType.LIMIT,
            TimeInForce.AT_THE_OPEN if limit is None else TimeInForce.DAY,
            OrderRole.ENTRY,
            limit_price=limit,
        )
        pid = position["position_id"]
        recorded, refusal = self.act(
            process, lambda ledger: ledger.record_order(pid, intent, process)
        )
        if position["state"] != "PLANNED" or ref in self.orders:
            assert isinstance(refusal, IllegalTransition | Conflict)
            return
        assert refusal is None
        assert recorded.status is OrderStatus.PENDING
        assert self._position(pid)["state"] == "ENTRY_SUBMITTED"
        self.orders[ref] = OrderRole.ENTRY

    def record_exit_order(
        self,
        process: str,
        position: Row,
        ref: str,
        quantity: int,
        role: OrderRole,
        price: Price,
        oca_group: str | None,
    ) -> None:
        order_type, time_in_force = EXIT_SHAPES[role]
        intent = OrderIntent(
            OrderRef(ref),
            Symbol(position["symbol"]),
            Side.SELL,
            Quantity(quantity),
            order_type,
            time_in_force,
            role,
            limit_price=price if order_type is OrderType.LIMIT else None,
            stop_price=price if order_type is OrderType.STOP else None,
            oca_group=oca_group,
        )
        pid, held = position["position_id"], self._held(position)
        working = [o for o in self._orders_of(pid, live=True) if o["role"] != "ENTRY"]
        recorded, refusal = self.act(
            process, lambda ledger: ledger.record_order(pid, intent, process)
        )
        if position["state"] not in HOLDING or quantity > held or ref in self.orders:
            assert isinstance(refusal, Conflict)
            return
        if not working:
            assert refusal is None
        if refusal is None:  # with exits working, it depends on their OCA groups
            assert recorded.status is OrderStatus.PENDING
            self.orders[ref] = role

    def record_entry_fill(
        self, process: str, order: Row, quantity: int, price: Price, commission: Money | None
    ) -> None:
        fill = self._fill(order, quantity, price, commission)
        owner = self._position(order["position_id"])
        newer = self._live_position(owner["symbol"])
        updated, refusal = self.act(process, lambda ledger: ledger.record_entry_fill(fill))
        if quantity > order["quantity"] - order["filled_quantity"]:
            assert isinstance(refusal, InvalidValue)  # a duplicate report, never new shares
            return
        if owner["state"] == "RELEASED" or order["status"] == "REJECTED":
            assert isinstance(refusal, IllegalTransition)
            return
        assert refusal is None
        assert updated.state in (PositionState.OPEN, PositionState.EXITING)
        # A late fill of an abandoned or closed entry is booked on the symbol's newer position if
        # that one has an entry working or shares held; otherwise it revives its own position.
        late = owner["state"] in ("ABANDONED", "CLOSED")
        moved = late and newer is not None and newer["state"] != "PLANNED"
        booked_on = newer if moved and newer is not None else owner
        assert updated.position_id == booked_on["position_id"]
        assert updated.held_quantity == self._held(booked_on) + quantity
        self._book_fill(RecordedFill(fill, True, updated.position_id, commission is not None))

    def record_exit_fill(
        self,
        process: str,
        order: Row,
        quantity: int,
        price: Price,
        commission: Money | None,
        day: date,
    ) -> None:
        fill = self._fill(order, quantity, price, commission)
        owner = self._position(order["position_id"])
        held = self._held(owner)
        updated, refusal = self.act(process, lambda ledger: ledger.record_exit_fill(fill, day))
        if quantity > order["quantity"] - order["filled_quantity"]:
            assert isinstance(refusal, InvalidValue)  # more than the order had left
            return
        if quantity > held:
            assert isinstance(refusal, Oversell)  # and, as for every refusal, nothing changed
            return
        if owner["state"] not in HOLDING or order["status"] == "REJECTED":
            assert isinstance(refusal, IllegalTransition)
            return
        assert refusal is None
        assert updated.held_quantity == held - quantity
        if quantity == held:
            assert (updated.state, updated.closed_day) == (PositionState.CLOSED, day)
        else:
            assert updated.state.value == owner["state"]
        self._book_fill(RecordedFill(fill, False, owner["position_id"], commission is not None))

    # --- the bots: each step moves one symbol along its day ----------------------------------

    @rule(
        data=st.data(),
        symbol=st.sampled_from(SYMBOLS),
        day=days,
        quantity=st.integers(1, 60),
        price=prices,
        commission=commissions,
        wait=waits,
    )
    def day_trader_step(
        self,
        data: st.DataObject,
        symbol: str,
        day: date,
        quantity: int,
        price: Price,
        commission: Money | None,
        wait: timedelta,
    ) -> None:
        """Plan the symbol if it is free, send its entry, book (part of) the entry's fill."""
        self.clock.advance(wait)
        if self._live_position(symbol) is None:
            self.plan("day-trader", symbol, day, quantity)
        live = self._live_position(symbol)
        if live is not None and live["state"] == "PLANNED":
            planned = live["planned_quantity"]
            self.record_entry_order("day-trader", live, self._next("entry-"), planned, None)
            live = self._live_position(symbol)
        if live is None:
            return
        for entry in self._orders_of(live["position_id"], live=True):
            left = entry["quantity"] - entry["filled_quantity"]
            if entry["role"] == "ENTRY" and left > 0:
                filled = data.draw(st.integers(1, left), label="entry fill")
                self.record_entry_fill("day-trader", entry, filled, price, commission)

    @rule(
        data=st.data(),
        symbol=st.sampled_from(SYMBOLS),
        day=days,
        price=prices,
        commission=commissions,
        wait=waits,
    )
    def exit_manager_step(
        self,
        data: st.DataObject,
        symbol: str,
        day: date,
        price: Price,
        commission: Money | None,
        wait: timedelta,
    ) -> None:
        """Give a held position its OCA target and stop, then book a fill of one: partial,
        full, or (when the OCA sibling of a partly filled order asks for its whole remainder)
        more than the position still holds."""
        self.clock.advance(wait)
        live = self._live_position(symbol)
        if live is None or live["state"] not in HOLDING:
            return
        pid = live["position_id"]
        for role in (OrderRole.TARGET, OrderRole.STOP):
            working = {o["role"] for o in self._orders_of(pid, live=True)}
            if str(role) not in working:
                held = self._held(self._position(pid))
                ref = self._next("exit-")
                self.record_exit_order("exit-manager", live, ref, held, role, price, f"oca-{pid}")
        exits = [o for o in self._orders_of(pid, live=True) if o["role"] != "ENTRY"]
        if not exits:
            return
        order = data.draw(st.sampled_from(exits), label="exit order")
        remaining = order["quantity"] - order["filled_quantity"]
        held = self._held(self._position(pid))
        if remaining > 0:
            sold = data.draw(
                st.sampled_from(("part", "all", "part", "over")).flatmap(
                    lambda size: {
                        "part": st.integers(1, remaining),
                        "all": st.just(remaining),
                        "over": st.just(held + 1),
                    }[size]
                ),
                label="exit fill",
            )
            self.record_exit_fill("exit-manager", order, sold, price, commission, day)

    # --- any command, through any process ----------------------------------------------------

    @rule(process=process_names, symbol=symbols_or_protected, day=days, quantity=st.integers(1, 60))
    def plan_any(self, process: str, symbol: str, day: date, quantity: int) -> None:
        self.plan(process, symbol, day, quantity)

    @rule(
        process=process_names,
        symbol=symbols_or_protected,
        day=days,
        quantity=st.integers(1, 60),
        price=prices,
        reason=st.sampled_from(["held at IB before openbell", "  "]),
    )
    def adopt(
        self, process: str, symbol: str, day: date, quantity: int, price: Price, reason: str
    ) -> None:
        live = self._live_position(symbol)
        adopted, refusal = self.act(
            process,
            lambda ledger: ledger.adopt(Symbol(symbol), Quantity(quantity), price, reason, day),
        )
        if symbol in PROTECTED:
            assert isinstance(refusal, ProtectedSymbol)
        elif not reason.strip():
            assert isinstance(refusal, InvalidValue)
        elif live is not None:
            assert isinstance(refusal, Conflict)
        else:
            assert refusal is None
            assert (adopted.state, adopted.held_quantity) == (PositionState.OPEN, quantity)
            self.books[adopted.position_id] = Book(quantity, price.value * quantity)

    @rule(process=process_names, data=st.data(), reason=texts)
    def release(self, process: str, data: st.DataObject, reason: str) -> None:
        symbol = self._prefer(data, list(SYMBOLS), lambda s: self._live_position(s) is not None)
        live = self._live_position(symbol)
        released, refusal = self.act(process, lambda ledger: ledger.release(Symbol(symbol), reason))
        if live is None:
            assert isinstance(refusal, NotFound)
        elif self._orders_of(live["position_id"], live=True):
            assert isinstance(refusal, Conflict)
        elif live["state"] != "OPEN":
            assert isinstance(refusal, IllegalTransition)
        else:
            assert refusal is None
            assert (released.state, released.held_quantity) == (
                PositionState.RELEASED,
                self._held(live),
            )

    @precondition(lambda self: self.books)
    @rule(process=process_names, data=st.data(), target_price=prices, stop_price=prices)
    def set_exit_prices(
        self, process: str, data: st.DataObject, target_price: Price, stop_price: Price
    ) -> None:
        pid = self._pick_position(data, *HOLDING)["position_id"]
        updated, refusal = self.act(
            process, lambda ledger: ledger.set_exit_prices(pid, target_price, stop_price)
        )
        assert refusal is None
        assert (updated.target_price, updated.stop_price) == (target_price, stop_price)
        stored = self._position(pid)
        assert (stored["target_price"], stored["stop_price"]) == (
            str(target_price.value),
            str(stop_price.value),
        )

    @precondition(lambda self: self.books)
    @rule(
        process=process_names,
        data=st.data(),
        step=st.sampled_from(["start_exit", "abort_exit", "abandon"]),
        reason=st.sampled_from(ExitReason),
    )
    def transition(self, process: str, data: st.DataObject, step: str, reason: ExitReason) -> None:
        source, target = {
            "start_exit": ("OPEN", "EXITING"),
            "abort_exit": ("EXITING", "OPEN"),
            "abandon": ("PLANNED", "ABANDONED"),
        }[step]
        row = self._pick_position(data, source)
        pid = row["position_id"]
        calls: dict[str, Command] = {
            "start_exit": lambda ledger: ledger.start_exit(pid, reason),
            "abort_exit": lambda ledger: ledger.abort_exit(pid, "exit order ended unfilled"),
            "abandon": lambda ledger: ledger.abandon(pid, "entry not sent"),
        }
        moved, refusal = self.act(process, calls[step])
        if row["state"] != source:
            assert isinstance(refusal, IllegalTransition)
        else:
            assert refusal is None
            assert moved.state == target == self._position(pid)["state"]

    def _fresh_or_reused_ref(self, data: st.DataObject) -> str:
        if self.orders and data.draw(st.integers(0, 9), label="reuse an order ref") == 0:
            return data.draw(st.sampled_from(sorted(self.orders)), label="reused ref")
        return self._next("ord-")

    @precondition(lambda self: self.books)
    @rule(process=process_names, data=st.data(), auction=st.booleans(), limit=prices)
    def record_entry_order_any(
        self, process: str, data: st.DataObject, auction: bool, limit: Price
    ) -> None:
        position = self._pick_position(data, "PLANNED")
        ref = self._fresh_or_reused_ref(data)
        quantity = data.draw(st.integers(1, position["planned_quantity"]), label="quantity")
        self.record_entry_order(process, position, ref, quantity, None if auction else limit)

    @precondition(lambda self: self.books)
    @rule(
        process=process_names,
        data=st.data(),
        role=st.sampled_from(list(EXIT_SHAPES)),
        price=prices,
        grouped=st.booleans(),
    )
    def record_exit_order_any(
        self, process: str, data: st.DataObject, role: OrderRole, price: Price, grouped: bool
    ) -> None:
        position = self._pick_position(data, *HOLDING)
        held = self._held(position)
        ref = self._fresh_or_reused_ref(data)
        quantity = data.draw(
            st.one_of(st.integers(1, max(held, 1)), st.integers(1, held + 3)), label="quantity"
        )
        group = f"oca-{position['position_id']}" if grouped else None
        self.record_exit_order(process, position, ref, quantity, role, price, group)

    @precondition(lambda self: self.orders)
    @rule(
        process=process_names,
        data=st.data(),
        status=st.sampled_from(OrderStatus),
        broker_order_id=st.one_of(st.none(), st.integers(1, 2**31 - 1)),
    )
    def update_order(
        self, process: str, data: st.DataObject, status: OrderStatus, broker_order_id: int | None
    ) -> None:
        ref = data.draw(st.sampled_from(sorted(self.orders)), label="order")
        before = self._order(ref)
        position = self._position(before["position_id"])
        updated, refusal = self.act(
            process,
            lambda ledger: ledger.update_order(
                OrderRef(ref), status, broker_order_id=broker_order_id, reason="broker says so"
            ),
        )
        current = before["status"]
        terminal = current in ("FILLED", "REJECTED") and status != current
        if terminal or (status is OrderStatus.PENDING and current != "PENDING"):
            assert isinstance(refusal, IllegalTransition)
        if refusal is not None:
            assert isinstance(refusal, IllegalTransition)
            return
        assert updated.status is status
        assert self._order(ref)["status"] == str(status)
        entry_died = (
            before["role"] == "ENTRY"
            and status in (OrderStatus.CANCELLED, OrderStatus.REJECTED)
            and position["state"] == "ENTRY_SUBMITTED"
            and position["entry_quantity"] == 0
        )
        expected = "ABANDONED" if entry_died else position["state"]
        assert self._position(before["position_id"])["state"] == expected

    @precondition(lambda self: self.orders)
    @rule(process=process_names, data=st.data(), price=prices, commission=commissions)
    def record_entry_fill_any(
        self, process: str, data: st.DataObject, price: Price, commission: Money | None
    ) -> None:
        order = self._pick_order(data, entry=True)
        if order is None:
            return
        # A broker never fills more than was ordered: a report beyond it is a duplicate.
        left = order["quantity"] - order["filled_quantity"]
        quantity = data.draw(st.integers(1, max(left, 0) + 2), label="quantity")
        self.record_entry_fill(process, order, quantity, price, commission)

    @precondition(lambda self: self.orders)
    @rule(process=process_names, data=st.data(), day=days, price=prices, commission=commissions)
    def record_exit_fill_any(
        self, process: str, data: st.DataObject, day: date, price: Price, commission: Money | None
    ) -> None:
        order = self._pick_order(data, entry=False)
        if order is None:
            return
        held = self._held(self._position(order["position_id"]))
        quantity = data.draw(
            st.one_of(st.just(max(held, 1)), st.integers(1, held + 3)), label="quantity"
        )
        self.record_exit_fill(process, order, quantity, price, commission, day)

    @precondition(lambda self: self.fills)
    @rule(process=process_names, data=st.data(), quantity=st.integers(1, 1000), price=prices)
    def record_a_fill_again(
        self, process: str, data: st.DataObject, quantity: int, price: Price
    ) -> None:
        """Brokers repeat executions (reconnects, restarts): the execution id decides."""
        rec = self.fills[data.draw(st.sampled_from(sorted(self.fills)), label="fill")]
        fill = rec.fill
        if data.draw(st.booleans(), label="a repeat with other numbers"):
            fill = Fill(
                fill.execution_id,
                fill.order_ref,
                fill.symbol,
                fill.side,
                Quantity(quantity),
                price,
                self.clock.now(),
            )
        before, last_event = self._snapshot(), self.last_event_id
        call: Command = (
            (lambda ledger: ledger.record_entry_fill(fill))
            if rec.entry
            else (lambda ledger: ledger.record_exit_fill(fill, DAYS[0]))
        )
        again, refusal = self.act(process, call)
        assert refusal is None
        assert again.position_id == rec.position_id
        assert (self._snapshot(), self.last_event_id) == (before, last_event)

    @precondition(lambda self: self.fills)
    @rule(process=process_names, data=st.data(), cents=st.integers(0, 500))
    def record_commission(self, process: str, data: st.DataObject, cents: int) -> None:
        known = data.draw(st.sampled_from(PREFER), label="a recorded fill")
        eid = data.draw(st.sampled_from(sorted(self.fills)), label="fill") if known else "exec-x"
        commission = Money(Decimal(cents) / 100)
        before = self._snapshot()
        _, refusal = self.act(process, lambda ledger: ledger.record_commission(eid, commission))
        if not known:
            assert isinstance(refusal, NotFound)
            return
        assert refusal is None
        rec = self.fills[eid]
        if rec.has_commission:
            assert self._snapshot() == before  # the first commission reported stays
            return
        rec.has_commission = True
        self.books[rec.position_id].commissions += commission.amount

    # --- controls, approvals, operator requests, events ---------------------------------------

    @rule(
        process=process_names,
        data=st.data(),
        command=st.sampled_from(["control", "event"]),
        flag=st.booleans(),
        text=texts,
        wait=waits,
    )
    def control_or_note(
        self,
        process: str,
        data: st.DataObject,
        command: str,
        flag: bool,
        text: str,
        wait: timedelta,
    ) -> None:
        """Flip a control (or try a misspelt one), or append an event to the log."""
        self.clock.advance(wait)
        if command == "control":
            name = data.draw(st.sampled_from((*CONTROL_NAMES, "kill-switch")), label="control")
            self.set_control(process, name, flag, text)
        else:
            self.append_event(process, text, data.draw(st.sampled_from((None, *SYMBOLS))))

    @rule(
        process=process_names,
        data=st.data(),
        approval=st.booleans(),
        flag=st.booleans(),
        text=texts,
        wait=waits,
    )
    def ask_and_decide(
        self,
        process: str,
        data: st.DataObject,
        approval: bool,
        flag: bool,
        text: str,
        wait: timedelta,
    ) -> None:
        """Ask for an approval or a liquidation, then decide one (perhaps a decided one)."""
        self.clock.advance(wait)
        if approval:
            day, symbol = data.draw(days, label="day"), data.draw(st.sampled_from(SYMBOLS))
            if data.draw(st.booleans(), label="ask first"):
                self.request_approval(process, day, symbol, text)
            self.decide_approval(process, data, flag)
        else:
            kind = data.draw(st.sampled_from((*REQUEST_KINDS, "LIQUIDATE_ALL")), label="kind")
            if data.draw(st.booleans(), label="ask first"):
                self.request_work(process, kind, text)
            self.finish_request(process, data, flag, text)

    def set_control(self, process: str, name: str, enabled: bool, reason: str) -> None:
        control, refusal = self.act(
            process,
            lambda ledger: ledger.set_control(name, enabled, reason),
            refusal_is_logged=False,
        )
        if name not in CONTROL_NAMES:
            assert isinstance(refusal, InvalidValue)
            return
        assert refusal is None
        assert (control.enabled, control.reason, control.changed_by) == (enabled, reason, process)
        assert all(ledger.controls()[name] == control for ledger in self.ledgers.values())

    def request_approval(self, process: str, day: date, symbol: str, request: str) -> None:
        approval, refusal = self.act(
            process, lambda ledger: ledger.request_approval(day, Symbol(symbol), request)
        )
        assert refusal is None
        assert (approval.status, approval.request) == ("PENDING", request)
        assert approval.approval_id not in self.approvals.status
        self.approvals.status[approval.approval_id] = "PENDING"

    def decide_approval(self, process: str, data: st.DataObject, approved: bool) -> None:
        ids = sorted(self.approvals.status)
        approval_id = data.draw(st.sampled_from([*ids, max(ids, default=0) + 1]), label="id")
        decided, refusal = self.act(
            process, lambda ledger: ledger.decide_approval(approval_id, approved, process)
        )
        status = self.approvals.status.get(approval_id)
        if status is None:
            assert isinstance(refusal, NotFound)
        elif status != "PENDING":
            assert isinstance(refusal, Conflict)
        else:
            assert refusal is None
            assert decided.status == ("APPROVED" if approved else "REJECTED")
            assert decided.decided_by == process
            self.approvals.status[approval_id] = decided.status

    def request_work(self, process: str, kind: str, reason: str) -> None:
        request, refusal = self.act(
            process, lambda ledger: ledger.request_work(kind, reason), refusal_is_logged=False
        )
        if kind not in REQUEST_KINDS:
            assert isinstance(refusal, InvalidValue)
            return
        assert refusal is None
        assert (request.status, request.requested_by) == ("PENDING", process)
        self.requests.status[request.request_id] = "PENDING"

    def finish_request(self, process: str, data: st.DataObject, ok: bool, outcome: str) -> None:
        ids = sorted(self.requests.status)
        request_id = data.draw(st.sampled_from([*ids, max(ids, default=0) + 1]), label="id")
        finished, refusal = self.act(
            process, lambda ledger: ledger.finish_request(request_id, ok, outcome)
        )
        status = self.requests.status.get(request_id)
        if status is None:
            assert isinstance(refusal, NotFound)
        elif status != "PENDING":
            assert isinstance(refusal, Conflict)
        else:
            assert refusal is None
            assert (finished.status, finished.finished_by) == ("DONE" if ok else "FAILED", process)
            self.requests.status[request_id] = finished.status

    def append_event(self, process: str, message: str, symbol: str | None) -> None:
        last = self.last_event_id
        event, refusal = self.act(
            process,
            lambda ledger: ledger.append_event(
                "NOTE", message, symbol=None if symbol is None else Symbol(symbol), data={"n": 1}
            ),
        )
        assert refusal is None
        assert event.event_id == self.last_event_id > last
        assert (event.process, event.kind, event.message) == (process, "NOTE", message)

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def check_ledger(self) -> None:
        if not self.unchecked:
            return
        self.unchecked = False
        self.file_invariants_hold()
        self.positions_hold_what_their_fills_put_there()
        self.every_process_reads_the_same_positions()
        self.orders_and_fills_are_the_ones_recorded()
        self.decisions_are_taken_once()

    def file_invariants_hold(self) -> None:
        assert check_invariants(self.path, PROTECTED) == []

    def positions_hold_what_their_fills_put_there(self) -> None:
        rows = {r["position_id"]: r for r in self.look.execute("SELECT * FROM positions")}
        assert set(rows) == set(self.books)
        for pid, book in self.books.items():
            row = rows[pid]
            found = (
                row["entry_quantity"],
                Decimal(row["entry_cost"]),
                row["exit_quantity"],
                Decimal(row["exit_proceeds"]),
                Decimal(row["commissions"]),
            )
            expected = (
                book.entry_quantity,
                book.entry_cost,
                book.exit_quantity,
                book.exit_proceeds,
                book.commissions,
            )
            assert found == expected, f"position {pid}"
            held = book.entry_quantity - book.exit_quantity
            assert 0 <= held <= book.entry_quantity
            cost_of_sold = Decimal(0)
            if book.exit_quantity:
                cost_of_sold = book.entry_cost * book.exit_quantity / book.entry_quantity
            realized = book.exit_proceeds - cost_of_sold - book.commissions
            assert Decimal(row["realized_pnl"]) == realized
            if row["state"] == "CLOSED":  # all sold: the P&L is proceeds - cost - commissions
                assert held == 0 < book.entry_quantity
                assert realized == book.exit_proceeds - book.entry_cost - book.commissions
            elif row["state"] in HOLDING:
                assert held > 0
            elif row["state"] != "RELEASED":
                assert book.entry_quantity == 0

    def every_process_reads_the_same_positions(self) -> None:
        seen = [
            [ledger.position(pid) for pid in sorted(self.books)] for ledger in self.ledgers.values()
        ]
        assert seen[0] == seen[1] == seen[2]

    def orders_and_fills_are_the_ones_recorded(self) -> None:
        refs = sorted(r["order_ref"] for r in self.look.execute("SELECT order_ref FROM orders"))
        assert refs == sorted(self.orders)
        fills = {
            r["execution_id"]: r["position_id"]
            for r in self.look.execute("SELECT execution_id, position_id FROM fills")
        }
        assert fills == {eid: rec.position_id for eid, rec in self.fills.items()}

    def decisions_are_taken_once(self) -> None:
        for table, key, decided in (
            ("approvals", "approval_id", self.approvals),
            ("requests", "request_id", self.requests),
        ):
            rows = {r[key]: r for r in self.look.execute(f"SELECT * FROM {table}")}
            assert {i: r["status"] for i, r in rows.items()} == decided.status
            for item_id, row in rows.items():
                if row["status"] != "PENDING":
                    assert decided.rows.setdefault(item_id, tuple(row)) == tuple(row)


def test_random_commands_from_three_processes_keep_the_ledger_sound() -> None:
    run_state_machine_as_test(LedgerMachine, settings=SETTINGS)
