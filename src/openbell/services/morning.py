"""The morning: scan, score, select and plan the day's master positions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from openbell.domain.candidates import Candidate, PremarketFeatures, ScoreBatch
from openbell.domain.enums import PositionRole
from openbell.domain.positions import Position
from openbell.domain.records import EventDraft, ScoreDraft
from openbell.domain.values import Money, Symbol
from openbell.ports import Ledger, MarketData, Scorer
from openbell.strategy import scanner
from openbell.strategy.scanner import DEFAULT_FILTERS, ScanFilters, ScanResult
from openbell.strategy.selection import (
    NOTHING_EXCLUDED,
    Exclusions,
    Selection,
    SelectionRules,
    select,
)
from openbell.strategy.sizing import shares_per_pick


@dataclass(frozen=True, slots=True)
class MorningPlan:
    selection: Selection
    planned: tuple[Position, ...]


def plan_the_morning(
    ledger: Ledger,
    market: MarketData,
    scorer: Scorer,
    *,
    trading_day: date,
    at: datetime,
    rules: SelectionRules,
    equity: Money,
    allocation_pct: Decimal,
    stop_loss_pct: Decimal,
    protected: frozenset[Symbol],
    universe: Sequence[Symbol] | None = None,
    filters: ScanFilters = DEFAULT_FILTERS,
) -> MorningPlan:
    """Score the universe, keep every score, select the picks and plan them in the ledger."""
    excluded = exclusions(ledger, trading_day, protected)
    scan = score_the_morning(market, scorer, trading_day, at, universe, filters, excluded)
    return plan_from_scan(
        ledger,
        scan,
        trading_day=trading_day,
        rules=rules,
        equity=equity,
        allocation_pct=allocation_pct,
        stop_loss_pct=stop_loss_pct,
        protected=protected,
    )


def exclusions(
    ledger: Ledger, trading_day: date, protected: frozenset[Symbol], *, proposed: bool = False
) -> Exclusions:
    """What may not be entered today: protected, held, closed today (and, for a rescan,
    already proposed today)."""
    return Exclusions(
        protected=protected,
        active=frozenset(p.symbol for p in ledger.active_positions()),
        closed_today=frozenset(p.symbol for p in ledger.closed_positions(trading_day)),
        proposed=(
            frozenset(a.symbol for a in ledger.approvals(trading_day)) if proposed else frozenset()
        ),
    )


@dataclass(frozen=True, slots=True)
class MorningScan:
    """The funnel's result and the scores of its candidates, before anything is written."""

    scorer: str
    scan: ScanResult
    batch: ScoreBatch

    @property
    def features(self) -> tuple[PremarketFeatures, ...]:
        """The candidates' features (what the scorer saw), best pre-score first."""
        return self.scan.candidates()

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        return self.batch.candidates


def score_the_morning(
    market: MarketData,
    scorer: Scorer,
    trading_day: date,
    at: datetime,
    universe: Sequence[Symbol] | None = None,
    filters: ScanFilters = DEFAULT_FILTERS,
    excluded: Exclusions = NOTHING_EXCLUDED,
) -> MorningScan:
    """Scan, filter and score (slow with an LLM scorer): no ledger write, so no lock is held.

    Excluded symbols leave the funnel before scoring, so no scorer spends on them."""
    found = scanner.scan(market.premarket_features(trading_day, at, universe), filters, excluded)
    batch = scorer.score(found.candidates(), trading_day)
    return MorningScan(scorer.name, found, batch)


def score_drafts(
    scan: MorningScan, rescan_at: datetime | None = None
) -> dict[str, list[ScoreDraft]]:
    """One score row per candidate, with the features it was scored on, by who scored it."""
    features = {row.symbol: row for row in scan.features}
    drafts: dict[str, list[ScoreDraft]] = {}
    for candidate in scan.candidates:
        row = features[candidate.symbol]
        inputs = {
            "gap_pct": str(row.gap_pct),
            "relative_volume": str(row.relative_volume),
            "atr_pct": str(row.atr_pct),
            "last_price": str(row.last_price),
        }
        if rescan_at is not None:
            inputs["rescan_at"] = rescan_at.isoformat()
        drafts.setdefault(candidate.scored_by or scan.scorer, []).append(
            ScoreDraft(candidate.symbol, candidate.confidence, inputs, {"reason": candidate.reason})
        )
    return drafts


def record_the_scan(
    ledger: Ledger, trading_day: date, scan: MorningScan, rescan_at: datetime | None = None
) -> None:
    """Keep every score, one SCAN event with the funnel (each dropped symbol and why), and
    an UNSCORED event per candidate the scorer could not score."""
    for scorer, drafts in score_drafts(scan, rescan_at).items():
        ledger.record_scores(trading_day, scorer, drafts)
    dropped = {str(r.features.symbol): r.reason for r in scan.scan.dropped}
    ledger.append_event(
        "SCAN",
        scan.scan.summary(),
        data={
            "at": rescan_at.isoformat() if rescan_at is not None else "morning",
            "kept": [str(r.features.symbol) for r in scan.scan.kept],
            "drops": scan.scan.drop_counts(),
            "dropped": dropped,
        },
    )
    ledger.append_events(
        [
            EventDraft("UNSCORED", f"{scan.scorer}: {u.reason}", symbol=u.symbol)
            for u in scan.batch.unscored
        ]
    )


def plan_from_scan(
    ledger: Ledger,
    scan: MorningScan,
    *,
    trading_day: date,
    rules: SelectionRules,
    equity: Money,
    allocation_pct: Decimal,
    stop_loss_pct: Decimal,
    protected: frozenset[Symbol],
) -> MorningPlan:
    """Keep every score, select the picks and plan them in the ledger (only writes)."""
    record_the_scan(ledger, trading_day, scan)
    selection = select(scan.candidates, rules, exclusions(ledger, trading_day, protected))
    ledger.append_events(
        [EventDraft("SKIPPED", s.reason, symbol=s.symbol) for s in selection.skipped]
    )
    prices = [pick.candidate.reference_price for pick in selection.picks]
    planned = []
    for pick, shares in zip(
        selection.picks, shares_per_pick(equity, allocation_pct, prices), strict=True
    ):
        if shares is None:
            ledger.append_event(
                "SKIPPED", "the allocation buys no share", symbol=pick.candidate.symbol
            )
            continue
        planned.append(
            ledger.plan_position(
                Position(
                    trading_day,
                    pick.candidate.symbol,
                    PositionRole.MASTER,
                    shares,
                    confidence=pick.candidate.confidence,
                    target_pct=pick.target_pct,
                    stop_loss_pct=stop_loss_pct,
                    metadata={
                        "rank": pick.rank,
                        "reason": pick.candidate.reason,
                        "scorer": pick.candidate.scored_by or scan.scorer,
                    },
                )
            )
        )
    return MorningPlan(selection, tuple(planned))
