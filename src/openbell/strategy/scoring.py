"""The rule scorer: a deterministic confidence from pre-market features.

It favours opening-bell momentum: a gap up that is real (backed by pre-market volume) on a
stock that moves enough in a day to reach a +2.6 % target. Each part is scaled to 0..1:

* gap ``g``: 0 for no gap or a gap down, rising linearly to 1 at +6 %, flat to +10 %, then
  falling back to 0 at +20 % (very large gaps tend to fade);
* volume ``v``: ``log10(1 + 100 * relative volume) / 2``, capped at 1, where relative volume
  is pre-market volume over an average day's volume (1 % scores 0.15, 10 % scores 0.52);
* range ``a``: the 14-day ATR as % of the close, over 4 %, capped at 1.

confidence = 0.40 + 0.30 g + 0.20 v + 0.10 a, so it runs from 0.40 (nothing) to 1.00.
With the default tiers a pick needs about a 3 % gap with some volume to reach 0.70.
The LLM scorer plugs into the same port and replaces this formula, not the rest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from openbell.domain.candidates import Candidate, PremarketFeatures, ScoreBatch
from openbell.domain.values import Confidence, decimal_from_float

WEIGHTS = (0.40, 0.30, 0.20, 0.10)
"""base, gap, volume, range. A score is a heuristic, not money: it is computed in floats and
only the final confidence becomes a Decimal (4 places)."""
_PLACES = Decimal("0.0001")


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


def gap_score(gap_pct: float) -> float:
    if gap_pct <= 10:
        return _clamp(gap_pct / 6)
    return _clamp(1 - (gap_pct - 10) / 10)


def volume_score(relative_volume: float) -> float:
    return _clamp(math.log10(1 + 100 * relative_volume) / 2)


def range_score(atr_pct: float) -> float:
    return _clamp(atr_pct / 4)


def rule_confidence(features: PremarketFeatures) -> tuple[Confidence, str]:
    """The confidence and a one-line reason naming every input."""
    gap, volume, atr = (
        float(features.gap_pct),
        float(features.relative_volume),
        float(features.atr_pct),
    )
    g, v, a = gap_score(gap), volume_score(volume), range_score(atr)
    base, wg, wv, wa = WEIGHTS
    value = decimal_from_float(base + wg * g + wv * v + wa * a, 4).quantize(_PLACES)
    reason = (
        f"gap {gap:+.2f}% (g {g:.2f}), pre-market volume {volume * 100:.1f}% of a day "
        f"(v {v:.2f}), ATR {atr:.2f}% (a {a:.2f})"
    )
    return Confidence(min(value, Decimal(1))), reason


class RuleScorer:
    """The Scorer port's deterministic implementation."""

    name = "rules-v1"

    def score(
        self, features: Sequence[PremarketFeatures], trading_day: date | None = None
    ) -> ScoreBatch:
        """One candidate per feature row, in the same order; the rules score every row."""
        return ScoreBatch(tuple(self.candidate(row) for row in features))

    def candidate(self, row: PremarketFeatures) -> Candidate:
        confidence, reason = rule_confidence(row)
        return Candidate(row.symbol, confidence, row.last_price, reason)
