"""Pick quality, the brief's own measure: how far each pick moved from the open, and whether
its target was there to take, from the open and from our entry.

For each pick (a master or rescan position) of a day:

* the regular session's open (the first bar's open at or after 09:30) and high;
* the % from the open to the high;
* our entry (average fill price) and the highest price from our entry's minute on, and the
  % from the entry to that high (the brief's "max potential");
* whether the target (the pick's own tier, +2.6 % or +1.8 %) was reachable from the open
  and from our entry: its price at or below the later high;
* the score that chose it, and who gave it (the rules, or the LLM provider and model).

The aggregate groups picks by scorer, so the LLM and the rules can be compared on the same
days. Bars come from a bar source (the demo data in sim, the store filled by
``openbell data fetch`` otherwise); a pick with no bars says so rather than guessing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import numpy as np

from openbell.bars.frame import to_ns
from openbell.bars.source import BarSource
from openbell.domain.enums import ExitReason, PositionRole, PositionState
from openbell.domain.positions import Position
from openbell.ports import Calendar, Ledger
from openbell.reports.common import pct_change

PICK_COLUMNS = (
    "day",
    "symbol",
    "role",
    "scorer",
    "confidence",
    "target_pct",
    "open",
    "high",
    "open_to_high_pct",
    "entry",
    "high_after_entry",
    "entry_to_high_pct",
    "target_from_open",
    "target_from_entry",
    "exit",
)
ACCURACY_COLUMNS = (
    "scorer",
    "picks",
    "with_bars",
    "target_from_open",
    "target_from_entry",
    "hit_target",
    "mean_open_to_high_pct",
    "moved_3pct_from_open",
)
_PICK_ROLES = (PositionRole.MASTER, PositionRole.RESCAN)
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class DayMove:
    """The regular session's open and high, and the high from a given instant on."""

    open: Decimal
    high: Decimal
    high_after_entry: Decimal | None


@dataclass(frozen=True, slots=True)
class Pick:
    position: Position
    scorer: str
    move: DayMove | None

    @property
    def entry(self) -> Decimal | None:
        p = self.position
        return p.entry_cost / p.entry_quantity if p.entry_quantity else None

    @property
    def open_to_high_pct(self) -> Decimal | None:
        return None if self.move is None else pct_change(self.move.open, self.move.high)

    @property
    def entry_to_high_pct(self) -> Decimal | None:
        entry, move = self.entry, self.move
        if entry is None or move is None or move.high_after_entry is None:
            return None
        return pct_change(entry, move.high_after_entry)

    @property
    def target_from_open(self) -> bool | None:
        move, target = self.move, self.position.target_pct
        return None if move is None or target is None else _reached(move.open, target, move.high)

    @property
    def target_from_entry(self) -> bool | None:
        entry, move, target = self.entry, self.move, self.position.target_pct
        if entry is None or move is None or move.high_after_entry is None or target is None:
            return None
        return _reached(entry, target, move.high_after_entry)


def _reached(start: Decimal, target_pct: Decimal, high: Decimal) -> bool:
    return start * (1 + target_pct / _HUNDRED) <= high


def day_move(
    bars: BarSource, calendar: Calendar, symbol: str, day: date, entered: datetime | None
) -> DayMove | None:
    """The open and high of ``symbol``'s regular session on ``day`` (None without bars)."""
    session = calendar.session(day)
    found = bars.day(symbol, day)
    if found is None:
        return None
    starts = found.start_ns
    regular = (starts >= to_ns(session.open)) & (starts < to_ns(session.close))
    if not regular.any():
        return None
    first = int(np.argmax(regular))
    high = float(found.high[regular].max())
    after = None
    if entered is not None:
        minute = to_ns(entered) - to_ns(entered) % 60_000_000_000
        later = regular & (starts >= minute)
        after = _money(float(found.high[later].max())) if later.any() else None
    return DayMove(_money(float(found.open[first])), _money(high), after)


def _money(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal("0.0001"))


def picks_of(
    ledger: Ledger, bars: BarSource, calendar: Calendar, days: Iterable[date]
) -> list[Pick]:
    """Every master and rescan position of ``days``, with the day's move of its symbol."""
    picks = []
    for day in days:
        for position in ledger.positions_of_day(day):
            if position.role not in _PICK_ROLES:
                continue
            move = day_move(bars, calendar, position.symbol.value, day, position.opened_at)
            scorer = str(position.metadata.get("scorer") or "?")
            picks.append(Pick(position, scorer, move))
    return picks


def _text(value: Decimal | None, places: int = 2, sign: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{places}f}" if sign else f"{value:.{places}f}"


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def pick_row(pick: Pick) -> dict[str, str]:
    p, move = pick.position, pick.move
    state = p.exit_reason.value if p.exit_reason else p.state.value
    if p.state is PositionState.ABANDONED:
        state = "not entered"
    return {
        "day": p.trading_day.isoformat(),
        "symbol": p.symbol.value,
        "role": p.role.value,
        "scorer": pick.scorer,
        "confidence": "-" if p.confidence is None else str(p.confidence.value),
        "target_pct": _text(p.target_pct, 1, sign=True),
        "open": _text(move.open if move else None, 4),
        "high": _text(move.high if move else None, 4),
        "open_to_high_pct": _text(pick.open_to_high_pct, sign=True),
        "entry": _text(pick.entry, 4),
        "high_after_entry": _text(move.high_after_entry if move else None, 4),
        "entry_to_high_pct": _text(pick.entry_to_high_pct, sign=True),
        "target_from_open": _yes_no(pick.target_from_open),
        "target_from_entry": _yes_no(pick.target_from_entry),
        "exit": state,
    }


def _share(count: int, total: int) -> str:
    return f"{count}/{total} ({count * 100 // total}%)" if total else "0/0"


def accuracy_rows(picks: Sequence[Pick]) -> list[dict[str, str]]:
    """Per scorer, then all together: how often the target was there to take."""
    by_scorer: dict[str, list[Pick]] = {}
    for pick in picks:
        by_scorer.setdefault(pick.scorer, []).append(pick)
    groups = sorted(by_scorer.items())
    if len(groups) > 1:
        groups.append(("all", list(picks)))
    return [_accuracy(name, group) for name, group in groups]


def _accuracy(name: str, picks: Sequence[Pick]) -> dict[str, str]:
    measured = [p for p in picks if p.move is not None]
    entered = [p for p in measured if p.target_from_entry is not None]
    moves = [p.open_to_high_pct for p in measured if p.open_to_high_pct is not None]
    mean = sum(moves, Decimal(0)) / len(moves) if moves else None
    hit = sum(1 for p in picks if p.position.exit_reason is ExitReason.TARGET)
    return {
        "scorer": name,
        "picks": str(len(picks)),
        "with_bars": str(len(measured)),
        "target_from_open": _share(sum(1 for p in measured if p.target_from_open), len(measured)),
        "target_from_entry": _share(sum(1 for p in entered if p.target_from_entry), len(entered)),
        "hit_target": _share(hit, len([p for p in picks if p.position.entry_quantity])),
        "mean_open_to_high_pct": _text(mean, sign=True),
        "moved_3pct_from_open": _share(sum(1 for m in moves if m >= 3), len(moves)),
    }
