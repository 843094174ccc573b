"""The pre-market funnel: universe -> filters -> features -> the top K candidates to score.

Every symbol of the universe comes out of the funnel either kept, with its rank, or dropped,
with the first rule it failed, in this order:

1. duplicate: the source listed the symbol twice (the first row counts);
2. exclusions: protected, already held, closed earlier today, already proposed today;
3. halted, and not common stock (an unknown type passes a bar scan, whose data has no
   types, but not a provider scan);
4. price band on the last pre-market price;
5. minimum pre-market dollar volume (shares traded before the open x the last price);
6. gap band: the move from the previous close, in percent;
7. minimum ATR as % of the previous close (from the daily history);
8. rank: the symbols left are ranked by the rule score (gap, volume, range; see
   :mod:`openbell.strategy.scoring`), ties by symbol, and only the best ``top_k`` go on to
   the scorer. With the LLM scorer, K bounds the day's calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from openbell.domain.candidates import PremarketFeatures
from openbell.domain.values import Confidence, Symbol
from openbell.strategy.scoring import rule_confidence
from openbell.strategy.selection import NOTHING_EXCLUDED, Exclusions

COMMON_STOCK = "CS"


class Drop(StrEnum):
    """Why a symbol left the funnel (the rule it failed first)."""

    DUPLICATE = "duplicate"
    PROTECTED = "protected"
    HELD = "held"
    CLOSED_TODAY = "closed_today"
    PROPOSED = "proposed"
    HALTED = "halted"
    NOT_COMMON = "not_common"
    PRICE = "price"
    DOLLAR_VOLUME = "dollar_volume"
    GAP = "gap"
    ATR = "atr"
    RANK = "rank"


@dataclass(frozen=True, slots=True)
class ScanFilters:
    min_price: Decimal = Decimal(1)
    max_price: Decimal = Decimal(10_000)
    min_premarket_dollar_volume: Decimal = Decimal(0)
    min_gap_pct: Decimal = Decimal(-100)
    max_gap_pct: Decimal = Decimal(1000)
    min_atr_pct: Decimal = Decimal(0)
    common_only: bool = True
    top_k: int = 10
    unknown_type_passes: bool = True
    """With ``common_only``: whether a symbol whose type the data does not give passes.
    Bars never give one (True); a provider scan that could not read the types must not let
    warrants and ETNs through (False)."""


DEFAULT_FILTERS = ScanFilters()


@dataclass(frozen=True, slots=True)
class ScanRow:
    """One symbol's way through the funnel. ``rank`` is set for the kept ones (1 is best);
    ``pre_score`` is the rule score used to rank (None for a row dropped before ranking)."""

    features: PremarketFeatures
    rank: int | None
    pre_score: Confidence | None
    drop: Drop | None = None
    reason: str = ""

    @property
    def kept(self) -> bool:
        return self.drop is None


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The kept rows by rank, then the dropped rows in the universe's order."""

    rows: tuple[ScanRow, ...]

    @property
    def kept(self) -> tuple[ScanRow, ...]:
        return tuple(r for r in self.rows if r.kept)

    @property
    def dropped(self) -> tuple[ScanRow, ...]:
        return tuple(r for r in self.rows if not r.kept)

    def candidates(self) -> tuple[PremarketFeatures, ...]:
        """The features to score, best first."""
        return tuple(r.features for r in self.kept)

    def drop_counts(self) -> dict[str, int]:
        """How many symbols each rule dropped, in the funnel's order."""
        counts = Counter(r.drop for r in self.rows if r.drop is not None)
        return {drop.value: counts[drop] for drop in Drop if counts[drop]}

    def summary(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.drop_counts().items()) or "none"
        return f"{len(self.rows)} scanned, {len(self.kept)} kept; dropped: {counts}"


def _excluded(symbol: Symbol, excluded: Exclusions) -> tuple[Drop, str] | None:
    for names, drop, reason in (
        (excluded.protected, Drop.PROTECTED, "protected symbol"),
        (excluded.active, Drop.HELD, "already held"),
        (excluded.closed_today, Drop.CLOSED_TODAY, "closed earlier today: no re-entry"),
        (excluded.proposed, Drop.PROPOSED, "already proposed today"),
    ):
        if symbol in names:
            return drop, reason
    return None


def _filtered(row: PremarketFeatures, filters: ScanFilters) -> tuple[Drop, str] | None:
    kind, price, gap = row.security_type, row.last_price.value, row.gap_pct
    dollars, floor = row.premarket_dollar_volume, filters.min_premarket_dollar_volume
    checks: tuple[tuple[bool, Drop, Callable[[], str]], ...] = (
        (bool(row.halted), Drop.HALTED, lambda: "trading halted"),
        (
            filters.common_only and kind is not None and kind != COMMON_STOCK,
            Drop.NOT_COMMON,
            lambda: f"not common stock (type {kind})",
        ),
        (
            filters.common_only and kind is None and not filters.unknown_type_passes,
            Drop.NOT_COMMON,
            lambda: "type unknown: the data did not say it is common stock",
        ),
        (
            not filters.min_price <= price <= filters.max_price,
            Drop.PRICE,
            lambda: f"price {price} outside {filters.min_price}-{filters.max_price}",
        ),
        (
            dollars < floor,
            Drop.DOLLAR_VOLUME,
            lambda: f"pre-market dollar volume {dollars:,.0f} below {floor:,.0f}",
        ),
        (
            not filters.min_gap_pct <= gap <= filters.max_gap_pct,
            Drop.GAP,
            lambda: f"gap {gap:+.2f}% outside {filters.min_gap_pct}%..{filters.max_gap_pct}%",
        ),
        (
            row.atr_pct < filters.min_atr_pct,
            Drop.ATR,
            lambda: f"ATR {row.atr_pct:.2f}% below {filters.min_atr_pct}%",
        ),
    )
    for failed, drop, reason in checks:
        if failed:
            return drop, reason()
    return None


def scan(
    universe: Sequence[PremarketFeatures],
    filters: ScanFilters,
    excluded: Exclusions = NOTHING_EXCLUDED,
) -> ScanResult:
    """Run the funnel over ``universe``; see the module's docstring for the rules."""
    passed: list[tuple[PremarketFeatures, Confidence]] = []
    dropped: list[ScanRow] = []
    seen: set[Symbol] = set()
    for row in universe:
        why = (Drop.DUPLICATE, "listed twice") if row.symbol in seen else None
        seen.add(row.symbol)
        why = why or _excluded(row.symbol, excluded) or _filtered(row, filters)
        if why is not None:
            dropped.append(ScanRow(row, None, None, *why))
            continue
        passed.append((row, rule_confidence(row)[0]))
    passed.sort(key=lambda item: (-item[1].value, item[0].symbol.value))
    kept = [ScanRow(row, i + 1, score) for i, (row, score) in enumerate(passed[: filters.top_k])]
    below = [
        ScanRow(row, None, score, Drop.RANK, f"below the top {filters.top_k}")
        for row, score in passed[filters.top_k :]
    ]
    return ScanResult((*kept, *below, *dropped))
