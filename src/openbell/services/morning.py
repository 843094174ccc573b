"""The morning: scan, score, select and plan the day's master positions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from openbell.domain.candidates import Candidate, PremarketFeatures
from openbell.domain.enums import PositionRole
from openbell.domain.positions import Position
from openbell.domain.records import EventDraft, ScoreDraft
from openbell.domain.values import Money, Symbol
from openbell.ports import Ledger, MarketData, Scorer
from openbell.strategy.selection import Exclusions, Selection, SelectionRules, select
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
) -> MorningPlan:
    """Score the universe, keep every score, select the picks and plan them in the ledger."""
    scan = score_the_morning(market, scorer, trading_day, at, universe)
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


@dataclass(frozen=True, slots=True)
class MorningScan:
    """The scanned features and their scores, before anything is written."""

    scorer: str
    features: tuple[PremarketFeatures, ...]
    candidates: tuple[Candidate, ...]


def score_the_morning(
    market: MarketData,
    scorer: Scorer,
    trading_day: date,
    at: datetime,
    universe: Sequence[Symbol] | None = None,
) -> MorningScan:
    """Scan and score (slow with an LLM scorer): no ledger write, so no lock is held."""
    features = tuple(market.premarket_features(trading_day, at, universe))
    return MorningScan(scorer.name, features, tuple(scorer.score(features)))


def score_drafts(scan: MorningScan, rescan_at: datetime | None = None) -> list[ScoreDraft]:
    """One score row per candidate, with the features it was scored on."""
    drafts = []
    for row, candidate in zip(scan.features, scan.candidates, strict=True):
        inputs = {
            "gap_pct": str(row.gap_pct),
            "relative_volume": str(row.relative_volume),
            "atr_pct": str(row.atr_pct),
            "last_price": str(row.last_price),
        }
        if rescan_at is not None:
            inputs["rescan_at"] = rescan_at.isoformat()
        drafts.append(
            ScoreDraft(candidate.symbol, candidate.confidence, inputs, {"reason": candidate.reason})
        )
    return drafts


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
    ledger.record_scores(trading_day, scan.scorer, score_drafts(scan))
    excluded = Exclusions(
        protected=protected,
        active=frozenset(p.symbol for p in ledger.active_positions()),
        closed_today=frozenset(p.symbol for p in ledger.closed_positions(trading_day)),
    )
    selection = select(scan.candidates, rules, excluded)
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
                        "scorer": scan.scorer,
                    },
                )
            )
        )
    return MorningPlan(selection, tuple(planned))
