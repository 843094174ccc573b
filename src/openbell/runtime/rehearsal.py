"""``openbell run`` until the simulated gateway exists: rehearse one day on the real pieces.

It resolves the real session and schedule from the calendar and the settings, then walks a
scratch ledger through the strategy's day with a manual clock: three master picks, their
Market-On-Open entries, targets and stops from the fill, a protected holding refused, and
the end-of-day picture. There is no broker or market data yet, so the prices are the
brief's 2025-10-29 opens and highs, and every fill is labelled as illustrative.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table

from openbell import __version__
from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.config import LoadedSettings
from openbell.domain.enums import PositionRole, Side
from openbell.domain.errors import ProtectedSymbol
from openbell.domain.orders import Fill
from openbell.domain.positions import Position
from openbell.domain.sessions import NEW_YORK, Session
from openbell.domain.values import Confidence, Money, Price, Quantity, Symbol
from openbell.ports import Calendar
from openbell.reports.positions import SUMMARY_COLUMNS, position_row
from openbell.reports.tables import rows_table
from openbell.services.entries import entry_ref
from openbell.strategy.exits import exit_prices, target_pct_for
from openbell.strategy.management import exit_orders
from openbell.strategy.schedule import DayTimeline
from openbell.strategy.sizing import shares_for_allocation
from openbell.strategy.timing import EntryTiming

ILLUSTRATIVE_NET_LIQUIDATION = Money(Decimal(10_000))
ILLUSTRATIVE_COMMISSION = Money(Decimal("1.00"))


@dataclass(frozen=True)
class _Pick:
    symbol: str
    confidence: str
    open_price: str
    high_price: str


# The brief's table for 2025-10-29 (open and high of the day). BYND is left out: it was the
# fourth pick, and the strategy buys the top three.
_PICKS = (
    _Pick("WULF", "0.86", "15.19", "16.23"),
    _Pick("BBAR", "0.83", "15.08", "16.00"),
    _Pick("RCAT", "0.74", "11.19", "11.60"),
)


def rehearse(
    loaded: LoadedSettings, calendar: Calendar, day: date | None, workdir: Path, out: Console
) -> Path:
    """Run the rehearsal and print what it did; return the scratch ledger's path."""
    settings = loaded.settings
    origin = loaded.config_file or "defaults"
    out.print(
        f"[bold]openbell {__version__}[/bold] - mode {settings.broker.mode}, settings from {origin}"
    )
    session = calendar.session(day) if day else calendar.next_session(datetime.now(NEW_YORK).date())
    timeline = settings.day_plan().resolve(session)
    _print_timeline(out, timeline)
    ledger_path = workdir / f"rehearsal-{session.trading_day}.sqlite"
    for stale in (ledger_path, Path(f"{ledger_path}-wal"), Path(f"{ledger_path}-shm")):
        stale.unlink(missing_ok=True)
    clock = ManualClock(timeline.wake)
    ledger = SqliteLedger.open(
        ledger_path,
        clock,
        process="rehearsal",
        protected_symbols=settings.protection.symbols() | {Symbol("SKYX")},
        code_version=__version__,
    )
    try:
        _walk_the_day(ledger, clock, loaded, session, timeline, out)
        _print_end_of_day(ledger, session, out)
    finally:
        ledger.close()
    out.print(
        f"\nscratch ledger: {ledger_path}  (inspect it with: openbell ledger events "
        f"-n 100 with OPENBELL__LEDGER__PATH={ledger_path})"
    )
    out.print(
        "[dim]Not yet built: the simulated IB gateway, market data and scanning "
        "(issues 3-6). Prices above are the brief's 2025-10-29 opens and highs, "
        "fills are illustrative.[/dim]"
    )
    return ledger_path


def _print_timeline(out: Console, timeline: DayTimeline) -> None:
    session = timeline.session
    kind = "early close" if session.early_close else "regular session"
    out.print(f"\nsession {session.trading_day} ({kind}); the schedule from the settings:")
    table = Table()
    table.add_column("step")
    table.add_column("ET")
    for step, at in timeline.steps():
        table.add_row(step, at.astimezone(NEW_YORK).strftime("%H:%M"))
    out.print(table)


def _walk_the_day(
    ledger: SqliteLedger,
    clock: ManualClock,
    loaded: LoadedSettings,
    session: Session,
    timeline: DayTimeline,
    out: Console,
) -> None:
    strategy = loaded.settings.strategy
    ledger.beat("awake", "rehearsal woke at the configured wake time")
    _say(out, clock, "wake: the bots would start now (supervisor)")
    clock.set(timeline.scan)
    _say(out, clock, f"scan: the top {strategy.top_n} picks and their confidence")
    _refuse_protected(ledger, clock, session, out)
    planned: list[tuple[Position, _Pick]] = []
    for pick in _PICKS[: strategy.top_n]:
        position = _plan(ledger, loaded, session, pick, out)
        if position is not None:
            planned.append((position, pick))
    clock.set(timeline.moo_submit)
    for position, _ in planned:
        _submit_moo(ledger, clock, position, session, out)
    clock.set(session.open)
    for position, pick in planned:
        _fill_at_open(ledger, clock, position, pick, strategy.stop_loss_pct)
        opened = ledger.position(position.position_id or 0)
        _say(
            out,
            clock,
            f"{opened.symbol} filled {opened.held_quantity} @ {opened.entry_price}"
            f" at the open: target {opened.target_price}, stop {opened.stop_price}",
        )
    clock.set(session.open + timedelta(minutes=45))
    for position, pick in planned:
        said = _exit_at_target_if_reached(ledger, clock, position, pick, session)
        if said:
            _say(out, clock, said)
    done = all(ledger.position(p.position_id or 0).exit_reason for p, _ in planned)
    verdict = (
        "every master position reached its target: done for the day (smart shutdown)"
        if done
        else f"the rest would be flattened at {_et(timeline.flatten)}"
    )
    _say(out, clock, verdict)
    ledger.beat("done" if done else "flattening", verdict)


def _et(instant: datetime) -> str:
    return instant.astimezone(NEW_YORK).strftime("%H:%M ET")


def _refuse_protected(
    ledger: SqliteLedger, clock: ManualClock, session: Session, out: Console
) -> None:
    try:
        ledger.adopt(
            Symbol("SKYX"),
            Quantity(182),
            Price(Decimal("1.20")),
            "rehearsal: prove the protected holding is refused",
            session.trading_day,
        )
    except ProtectedSymbol as exc:
        _say(out, clock, f"protection: {exc}")


def _plan(
    ledger: SqliteLedger, loaded: LoadedSettings, session: Session, pick: _Pick, out: Console
) -> Position | None:
    strategy = loaded.settings.strategy
    confidence = Confidence(Decimal(pick.confidence))
    target_pct = target_pct_for(confidence, strategy.tiers())
    symbol = Symbol(pick.symbol)
    if target_pct is None:
        out.print(f"skip {symbol}: confidence {confidence} is below every target tier")
        return None
    shares = shares_for_allocation(
        ILLUSTRATIVE_NET_LIQUIDATION, strategy.allocation_pct, Price(Decimal(pick.open_price))
    )
    if shares is None:
        out.print(f"skip {symbol}: the allocation buys no share")
        return None
    return ledger.plan_position(
        Position(
            session.trading_day,
            symbol,
            PositionRole.MASTER,
            shares,
            confidence=confidence,
            target_pct=target_pct,
            stop_loss_pct=strategy.stop_loss_pct,
            metadata={"source": "rehearsal", "illustrative": True},
        )
    )


def _submit_moo(
    ledger: SqliteLedger, clock: ManualClock, position: Position, session: Session, out: Console
) -> None:
    intent = EntryTiming().entry_intent(
        entry_ref(position), position.symbol, position.planned_quantity
    )
    ledger.record_order(position.position_id or 0, intent, owner="day-trader")
    _say(
        out,
        clock,
        f"MOO BUY {position.planned_quantity} {position.symbol} (confidence "
        f"{position.confidence}, target +{position.target_pct}%) recorded before sending",
    )


def _say(out: Console, clock: ManualClock, text: str) -> None:
    """Print one step of the day, stamped with the rehearsal clock in New York time."""
    out.print(f"{_et(clock.now())}  {text}", highlight=False)


def _fill_at_open(
    ledger: SqliteLedger,
    clock: ManualClock,
    position: Position,
    pick: _Pick,
    stop_loss_pct: Decimal,
) -> None:
    ref = entry_ref(position)
    fill = Fill(
        f"{ref}-x1",
        ref,
        position.symbol,
        Side.BUY,
        position.planned_quantity,
        Price(Decimal(pick.open_price)),
        clock.now(),
        ILLUSTRATIVE_COMMISSION,
    )
    opened = ledger.record_entry_fill(fill)
    prices = exit_prices(
        opened.entry_price or fill.price, opened.target_pct or Decimal(0), stop_loss_pct
    )
    ledger.set_exit_prices(opened.position_id or 0, prices.target, prices.stop)


def _exit_at_target_if_reached(
    ledger: SqliteLedger, clock: ManualClock, position: Position, pick: _Pick, session: Session
) -> str:
    """Sell at the target if the day's high reached it; say what happened ("" if nothing)."""
    current = ledger.position(position.position_id or 0)
    if current.target_price is None or current.target_price.value > Decimal(pick.high_price):
        return ""  # the day's high never reached the target: it would be flattened
    target = exit_orders(current).target
    ref = target.order_ref
    ledger.record_order(current.position_id or 0, target, owner="exit-manager")
    ledger.record_exit_fill(
        Fill(
            f"{ref}-x1",
            ref,
            current.symbol,
            Side.SELL,
            Quantity(current.held_quantity),
            current.target_price,
            clock.now(),
            ILLUSTRATIVE_COMMISSION,
        ),
        session.trading_day,
    )
    return (
        f"{current.symbol} reached its target {current.target_price}: sold "
        f"{current.held_quantity} (illustrative: the day's high was {pick.high_price}; "
        "when it got there is not known without bars)"
    )


def _print_end_of_day(ledger: SqliteLedger, session: Session, out: Console) -> None:
    closed = ledger.closed_positions(session.trading_day)
    rows = [position_row(p) for p in closed]
    table = rows_table(rows, SUMMARY_COLUMNS, f"closed on {session.trading_day}")
    out.print(table)
    total = sum((p.realized_pnl for p in closed), Money.zero())
    active = ledger.active_positions()
    out.print(
        f"realized P&L {total.rounded()} across {len(closed)} closed positions; "
        f"{len(active)} still active; {len(ledger.events(limit=10_000))} events logged"
    )
