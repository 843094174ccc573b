"""Splits: read from Lean factor files, kept in the store, and used by the pre-market scan."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest

from openbell.adapters.bars.importers.base import BadBarFile
from openbell.adapters.bars.importers.dispatch import import_path
from openbell.adapters.bars.importers.lean import read_lean_splits
from openbell.adapters.bars.store import BarStore
from openbell.backtest.market import BarMarketData
from openbell.bars.frame import NEW_YORK, Split
from openbell.domain.errors import InvalidValue
from openbell.domain.values import Symbol

LEAN = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real" / "lean"
USA = LEAN / "equity" / "usa"
needs_data = pytest.mark.skipif(not USA.is_dir(), reason="real data not found")


@needs_data
def test_aapl_splits_from_its_factor_file() -> None:
    splits = read_lean_splits(USA / "factor_files" / "aapl.csv", "aapl")
    assert [(s.last_day_before, s.ratio) for s in splits] == [
        (date(2000, 6, 20), 2.0),
        (date(2005, 2, 25), 2.0),
        (date(2014, 6, 6), 7.0),
        (date(2020, 8, 28), 4.0),
    ]


def test_a_bad_factor_file_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("20140606,0.9,0.0357,645.57\n20140806,0.9,zero,94.97\n")
    with pytest.raises(BadBarFile, match="line 2"):
        read_lean_splits(bad, "x")
    with pytest.raises(InvalidValue):
        Split("X", date(2014, 6, 6), 1.0)


@needs_data
def test_the_scan_on_a_split_day_sees_no_phantom_gap(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    import_path(USA / "daily" / "aapl.zip", store)  # brings factor_files/aapl.csv along
    import_path(USA / "minute" / "aapl" / "20140609_trade.zip", store)
    assert Split("AAPL", date(2014, 6, 6), 7.0) in store.splits("AAPL")
    scan = datetime.combine(date(2014, 6, 9), time(8, 30), NEW_YORK)
    (row,) = BarMarketData(store, ["AAPL"]).premarket_features(date(2014, 6, 9), scan)
    assert row.symbol == Symbol("AAPL")
    # 645.57 on the last pre-split session, in post-split shares: 645.57 / 7
    assert row.previous_close.value == Decimal("92.2243")
    assert abs(row.gap_pct) < 1  # not the -86% a raw comparison would show
    (before,) = BarMarketData(store, ["AAPL"]).premarket_features(
        date(2014, 6, 6), datetime.combine(date(2014, 6, 6), time(8, 30), NEW_YORK)
    )
    assert before.previous_close.value > 600  # before the split, prices stay as they were


@needs_data
def test_an_import_limited_to_some_symbols_keeps_their_splits(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    import_path(USA / "daily" / "aapl.zip", store, symbols=["AAPL"])
    assert Split("AAPL", date(2014, 6, 6), 7.0) in store.splits("AAPL")
    other = BarStore(tmp_path / "other")
    import_path(USA / "daily" / "aapl.zip", other, symbols=["MSFT"])
    assert tuple(other.splits("AAPL")) == ()
