"""Selection: which scored candidates become today's picks, and why the others did not."""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from decimal import Decimal

from openbell.domain.candidates import Candidate
from openbell.domain.values import Symbol
from openbell.strategy.exits import TargetTier, target_pct_for


@dataclass(frozen=True, slots=True)
class SelectionRules:
    """Top ``top_n`` by confidence, within a price band (dollars, inclusive)."""

    top_n: int
    tiers: tuple[TargetTier, ...]
    min_price: Decimal = Decimal(1)
    max_price: Decimal = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class Pick:
    candidate: Candidate
    rank: int
    target_pct: Decimal


@dataclass(frozen=True, slots=True)
class Skip:
    symbol: Symbol
    reason: str


@dataclass(frozen=True, slots=True)
class Selection:
    picks: tuple[Pick, ...]
    skipped: tuple[Skip, ...]


@dataclass(frozen=True, slots=True)
class Exclusions:
    """Symbols that may not be entered today, by why."""

    protected: Set[Symbol] = frozenset()
    active: Set[Symbol] = frozenset()
    closed_today: Set[Symbol] = frozenset()
    proposed: Set[Symbol] = frozenset()
    """Already proposed today by a rescan (whatever the person decided)."""


NOTHING_EXCLUDED = Exclusions()


def _why_not(candidate: Candidate, rules: SelectionRules, excluded: Exclusions) -> str | None:
    symbol, price = candidate.symbol, candidate.reference_price.value
    for names, reason in (
        (excluded.protected, "protected symbol"),
        (excluded.active, "already held"),
        (excluded.closed_today, "closed earlier today: no re-entry"),
        (excluded.proposed, "already proposed today"),
    ):
        if symbol in names:
            return reason
    if not rules.min_price <= price <= rules.max_price:
        return f"price {price} outside {rules.min_price}-{rules.max_price}"
    if target_pct_for(candidate.confidence, rules.tiers) is None:
        return f"confidence {candidate.confidence} below every target tier"
    return None


def select(
    candidates: Sequence[Candidate], rules: SelectionRules, excluded: Exclusions
) -> Selection:
    """Rank by confidence (ties by symbol, so the result is deterministic) and keep the best
    ``top_n`` that pass every rule; every other candidate is skipped with its reason."""
    ranked = sorted(candidates, key=lambda c: (-c.confidence.value, c.symbol.value))
    picks: list[Pick] = []
    skipped: list[Skip] = []
    seen: set[Symbol] = set()
    for candidate in ranked:
        reason = "duplicate candidate" if candidate.symbol in seen else None
        reason = reason or _why_not(candidate, rules, excluded)
        seen.add(candidate.symbol)
        if reason is None and len(picks) >= rules.top_n:
            reason = f"ranked below the top {rules.top_n}"
        if reason is not None:
            skipped.append(Skip(candidate.symbol, reason))
            continue
        target = target_pct_for(candidate.confidence, rules.tiers)
        assert target is not None  # _why_not refused candidates without a tier
        picks.append(Pick(candidate, len(picks) + 1, target))
    return Selection(tuple(picks), tuple(skipped))
