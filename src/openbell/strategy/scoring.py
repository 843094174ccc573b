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
from decimal import Decimal

from openbell.domain.candidates import Candidate, PremarketFeatures
from openbell.domain.values import Confidence

_ZERO, _ONE = Decimal(0), Decimal(1)
WEIGHTS = (Decimal("0.40"), Decimal("0.30"), Decimal("0.20"), Decimal("0.10"))


def _clamp(value: Decimal) -> Decimal:
    return max(_ZERO, min(_ONE, value))


def gap_score(gap_pct: Decimal) -> Decimal:
    if gap_pct <= 10:
        return _clamp(gap_pct / 6)
    return _clamp(1 - (gap_pct - 10) / 10)


def volume_score(relative_volume: Decimal) -> Decimal:
    # float log10, rounded to 6 places: exact enough, and Decimal.log10 is 30x slower
    value = math.log10(1 + 100 * float(relative_volume)) / 2
    return _clamp(Decimal(repr(round(value, 6))))


def range_score(atr_pct: Decimal) -> Decimal:
    return _clamp(atr_pct / 4)


def rule_confidence(features: PremarketFeatures) -> tuple[Confidence, str]:
    """The confidence and a one-line reason naming every input."""
    g = gap_score(features.gap_pct)
    v = volume_score(features.relative_volume)
    a = range_score(features.atr_pct)
    base, wg, wv, wa = WEIGHTS
    value = (base + wg * g + wv * v + wa * a).quantize(Decimal("0.0001"))
    reason = (
        f"gap {features.gap_pct:+.2f}% (g {g:.2f}), pre-market volume "
        f"{features.relative_volume * 100:.1f}% of a day (v {v:.2f}), ATR {features.atr_pct:.2f}%"
        f" (a {a:.2f})"
    )
    return Confidence(min(value, _ONE)), reason


class RuleScorer:
    """The Scorer port's deterministic implementation."""

    name = "rules-v1"

    def score(self, features: Sequence[PremarketFeatures]) -> list[Candidate]:
        """One candidate per feature row, in the same order."""
        scored = []
        for row in features:
            confidence, reason = rule_confidence(row)
            scored.append(Candidate(row.symbol, confidence, row.last_price, reason))
        return scored
