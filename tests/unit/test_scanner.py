"""The pre-market funnel: every symbol is kept with a rank or dropped with its reason."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from openbell.domain.candidates import PremarketFeatures
from openbell.domain.values import Price, Symbol
from openbell.strategy.scanner import Drop, ScanFilters, ScanResult, scan
from openbell.strategy.selection import Exclusions


def row(
    symbol: str,
    last: str = "10.50",
    pre_volume: int = 100_000,
    atr: str = "4",
    *,
    previous: str = "10",
    kind: str | None = "CS",
    halted: bool | None = False,
) -> PremarketFeatures:
    return PremarketFeatures(
        Symbol(symbol),
        Price(Decimal(previous)),
        Price(Decimal(last)),
        Decimal(pre_volume),
        Decimal(2_000_000),
        Decimal(atr),
        security_type=kind,
        halted=halted,
    )


STRICT = ScanFilters(
    min_price=Decimal(2),
    max_price=Decimal(500),
    min_premarket_dollar_volume=Decimal(500_000),
    min_gap_pct=Decimal(2),
    max_gap_pct=Decimal(30),
    min_atr_pct=Decimal(3),
    top_k=2,
)


def test_each_rule_drops_with_its_reason_in_the_funnels_order() -> None:
    universe = [
        row("WULF", "10.60", 200_000),
        row("BBAR", "10.50", 150_000),
        row("RCAT", "10.35", 100_000),
        row("WULF", "11"),  # listed twice: the first row counts
        row("SKYX", "11", 900_000),
        row("AMZN"),
        row("GONE"),
        row("PROP"),
        row("HALT", halted=True),
        row("SPY", kind="ETF"),
        row("PENY", "1.50", 900_000, previous="1.40"),
        row("THIN", "10.50", 1_000),
        row("FLAT", "10.05", 900_000),
        row("DULL", "10.60", 900_000, "1.5"),
        row("UNKN", "10.20", 100_000, kind=None),  # an unknown type passes
    ]
    excluded = Exclusions(
        protected=frozenset({Symbol("SKYX")}),
        active=frozenset({Symbol("AMZN")}),
        closed_today=frozenset({Symbol("GONE")}),
        proposed=frozenset({Symbol("PROP")}),
    )
    result = scan(universe, STRICT, excluded)
    assert [(r.features.symbol.value, r.rank) for r in result.kept] == [("WULF", 1), ("BBAR", 2)]
    reasons = {r.features.symbol.value: (r.drop, r.reason) for r in result.dropped}
    assert reasons == {
        "RCAT": (Drop.RANK, "below the top 2"),
        "UNKN": (Drop.RANK, "below the top 2"),
        "WULF": (Drop.DUPLICATE, "listed twice"),
        "SKYX": (Drop.PROTECTED, "protected symbol"),
        "AMZN": (Drop.HELD, "already held"),
        "GONE": (Drop.CLOSED_TODAY, "closed earlier today: no re-entry"),
        "PROP": (Drop.PROPOSED, "already proposed today"),
        "HALT": (Drop.HALTED, "trading halted"),
        "SPY": (Drop.NOT_COMMON, "not common stock (type ETF)"),
        "PENY": (Drop.PRICE, "price 1.50 outside 2-500"),
        "THIN": (Drop.DOLLAR_VOLUME, "pre-market dollar volume 10,500 below 500,000"),
        "FLAT": (Drop.GAP, "gap +0.50% outside 2%..30%"),
        "DULL": (Drop.ATR, "ATR 1.50% below 3%"),
    }
    assert result.drop_counts()["rank"] == 2
    assert list(result.drop_counts()) == [d.value for d in Drop if d.value in reasons_kinds(result)]
    assert result.summary().startswith("15 scanned, 2 kept; dropped: duplicate 1, protected 1")
    assert [f.symbol.value for f in result.candidates()] == ["WULF", "BBAR"]
    # the ranking score is kept for every ranked row, and only for those
    assert all(r.pre_score is not None for r in result.kept)
    assert reasons_without_score(result) == {
        "WULF",
        "SKYX",
        "AMZN",
        "GONE",
        "PROP",
        "HALT",
        "SPY",
        "PENY",
        "THIN",
        "FLAT",
        "DULL",
    }


def reasons_kinds(result: ScanResult) -> set[str]:
    return {r.drop.value for r in result.dropped if r.drop is not None}


def reasons_without_score(result: ScanResult) -> set[str]:
    return {r.features.symbol.value for r in result.dropped if r.pre_score is None}


def test_common_only_off_keeps_other_types_and_ties_rank_by_symbol() -> None:
    universe = [row("ZZZ"), row("SPY", kind="ETF"), row("AAA")]
    result = scan(universe, ScanFilters(common_only=False))
    assert [r.features.symbol.value for r in result.kept] == ["AAA", "SPY", "ZZZ"]
    assert result.dropped == ()
    assert result.summary() == "3 scanned, 3 kept; dropped: none"


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C", "D", "E", "F"]),
            st.decimals(min_value=Decimal("0.5"), max_value=Decimal(40), places=2),
            st.integers(min_value=0, max_value=2_000_000),
        ),
        max_size=12,
    ),
    st.integers(min_value=1, max_value=5),
)
def test_every_symbol_comes_out_once_kept_or_with_a_reason(
    rows: list[tuple[str, Decimal, int]], top_k: int
) -> None:
    universe = [row(name, str(price), volume) for name, price, volume in rows]
    result = scan(universe, ScanFilters(min_premarket_dollar_volume=Decimal(1000), top_k=top_k))
    assert len(result.rows) == len(universe)
    assert len(result.kept) <= top_k
    assert [r.rank for r in result.kept] == list(range(1, len(result.kept) + 1))
    assert all(r.reason for r in result.dropped)
    scores = [r.pre_score.value for r in result.kept if r.pre_score is not None]
    assert len(scores) == len(result.kept)
    assert scores == sorted(scores, reverse=True)


def test_a_provider_scan_drops_what_it_cannot_tell_is_common_stock() -> None:
    universe = [row("AAA"), row("WRNT", kind=None)]
    strict = ScanFilters(unknown_type_passes=False)
    result = scan(universe, strict)
    assert [r.features.symbol.value for r in result.kept] == ["AAA"]
    [dropped] = result.dropped
    assert (dropped.drop, dropped.reason) == (
        Drop.NOT_COMMON,
        "type unknown: the data did not say it is common stock",
    )
    assert [r.features.symbol.value for r in scan(universe, ScanFilters()).kept] == [
        "AAA",
        "WRNT",
    ]
