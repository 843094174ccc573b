"""The funnel as rows: every feature of every symbol, its rank or why it was dropped, and
(when the scorer ran) what the scorer made of it."""

from __future__ import annotations

from decimal import Decimal

from openbell.domain.candidates import Candidate, PremarketFeatures, ScoreBatch
from openbell.domain.values import Symbol
from openbell.strategy.scanner import ScanResult, ScanRow

SCAN_COLUMNS = (
    "rank",
    "symbol",
    "last",
    "prev_close",
    "gap_pct",
    "pre_volume",
    "pre_dollars",
    "rel_volume_pct",
    "atr_pct",
    "type",
    "pre_score",
    "confidence",
    "scored_by",
    "dropped",
)
SCORER_COLUMNS = ("confidence", "scored_by")


def _fixed(value: Decimal, places: int) -> str:
    return f"{value:.{places}f}"


def feature_cells(row: PremarketFeatures, *, grouped: bool = True) -> dict[str, str]:
    """The features as text; ``grouped`` writes thousands separators (for people, not JSON)."""
    sep = "," if grouped else ""
    return {
        "symbol": row.symbol.value,
        "last": str(row.last_price),
        "prev_close": str(row.previous_close),
        "gap_pct": f"{row.gap_pct:+.2f}",
        "pre_volume": f"{row.premarket_volume:{sep}.0f}",
        "pre_dollars": f"{row.premarket_dollar_volume:{sep}.0f}",
        "rel_volume_pct": _fixed(row.relative_volume * 100, 2),
        "atr_pct": _fixed(row.atr_pct, 2),
        "type": row.security_type or "?",
    }


def scan_rows(
    result: ScanResult, batch: ScoreBatch | None = None, *, grouped: bool = True
) -> list[dict[str, str]]:
    """One row per symbol: the kept by rank, then the dropped with their reason. With a
    ``batch`` the kept rows show the scorer's confidence, or why it gave none."""
    scored = {c.symbol: c for c in batch.candidates} if batch else {}
    unscored = {u.symbol: u.reason for u in batch.unscored} if batch else {}
    return [_row(r, scored.get(r.features.symbol), unscored, grouped) for r in result.rows]


def _row(
    row: ScanRow, candidate: Candidate | None, unscored: dict[Symbol, str], grouped: bool
) -> dict[str, str]:
    return {
        "rank": "" if row.rank is None else str(row.rank),
        **feature_cells(row.features, grouped=grouped),
        "pre_score": "" if row.pre_score is None else str(row.pre_score.value),
        "confidence": "" if candidate is None else str(candidate.confidence.value),
        "scored_by": "" if candidate is None else candidate.scored_by,
        "dropped": row.reason or unscored.get(row.features.symbol, ""),
    }
