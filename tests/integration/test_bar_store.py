"""The Parquet bar store and the directory importer, on real vendor files and hand-made bars."""

from __future__ import annotations

import dataclasses
import shutil
import time
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from openbell.adapters.bars import (
    BadBarFile,
    BarStore,
    BasisMismatch,
    InventoryRow,
    UnreadableBarFile,
    import_path,
)
from openbell.adapters.bars.importers import read_lean_daily, read_lean_trade, read_sp500_5yr
from openbell.bars import Basis, DailyBars, DayBars, to_ns
from openbell.bars.source import BarSource
from openbell.domain.errors import InvalidValue

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
LEAN = REAL / "lean" / "equity" / "usa"


@pytest.fixture(scope="module")
def real() -> Path:
    if not (REAL / "manifest.json").is_file():
        pytest.skip(f"the shared real market data is not present at {REAL}")
    return REAL


def minute_bars(
    symbol: str = "TEST",
    day: date = date(2024, 3, 8),
    *,
    n: int = 3,
    basis: Basis = Basis.RAW,
    synthetic: bool = False,
    source: str = "hand",
) -> DayBars:
    first = to_ns(datetime(day.year, day.month, day.day, 14, 30, tzinfo=UTC))
    price = np.linspace(10.0, 11.0, n)
    return DayBars(
        symbol=symbol,
        trading_day=day,
        resolution_s=60,
        start_ns=first + np.arange(n, dtype=np.int64) * 60_000_000_000,
        open=price,
        high=price + 0.5,
        low=price - 0.5,
        close=price + 0.25,
        volume=np.arange(n, dtype=np.float64) * 100,
        basis=basis,
        synthetic=synthetic,
        source=source,
    )


def daily_bars(
    days: list[str],
    close: list[float],
    *,
    symbol: str = "TEST",
    basis: Basis = Basis.RAW,
    source: str = "hand",
) -> DailyBars:
    c = np.array(close)
    return DailyBars(
        symbol=symbol,
        days=np.array(days, dtype="datetime64[D]"),
        open=c,
        high=c + 1,
        low=c - 1,
        close=c,
        volume=np.full(len(c), 1000.0),
        basis=basis,
        source=source,
    )


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def assert_same_day(a: DayBars, b: DayBars) -> None:
    for name in ("start_ns", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    for name in ("symbol", "trading_day", "resolution_s", "basis", "synthetic", "source"):
        assert getattr(a, name) == getattr(b, name), name


# ---------------------------------------------------------------- intraday


def test_constructing_a_store_touches_no_files(tmp_path: Path) -> None:
    BarStore(tmp_path / "absent")
    assert not (tmp_path / "absent").exists()


def test_a_real_day_round_trips_exactly(real: Path, tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    (bars,) = read_lean_trade(LEAN / "minute" / "spy" / "20230803_trade.zip").days
    path = store.write_day(bars)
    assert path == tmp_path / "minute" / "SPY" / "2023-08-03.parquet"
    loaded = store.day("SPY", date(2023, 8, 3))
    assert loaded is not None and len(loaded) == 947
    assert_same_day(loaded, bars)
    meta = pq.read_schema(path).metadata
    assert meta[b"openbell.symbol"] == b"SPY" and meta[b"openbell.source"] == b"lean"
    assert pq.read_schema(path).names == ["start_ns", "open", "high", "low", "close", "volume"]


def test_metadata_round_trips_for_second_bars_and_synthetic_days(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    seconds = dataclasses.replace(minute_bars(), resolution_s=1, synthetic=True, source="gen")
    assert store.write_day(seconds) == tmp_path / "second" / "TEST" / "2024-03-08.parquet"
    loaded = store.day("TEST", date(2024, 3, 8), resolution_s=1)
    assert loaded is not None
    assert_same_day(loaded, seconds)
    assert store.day("TEST", date(2024, 3, 8)) is None  # no minute bars stored


def test_days_lists_stored_days_in_order(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    for day in (date(2024, 3, 8), date(2024, 3, 6), date(2024, 3, 7)):
        store.write_day(minute_bars(day=day))
    assert store.days("TEST") == [date(2024, 3, 6), date(2024, 3, 7), date(2024, 3, 8)]
    assert store.days("OTHER") == []
    assert store.days("TEST", resolution_s=1) == []


def test_a_rewrite_replaces_the_day_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    store.write_day(minute_bars(n=3))
    store.write_day(minute_bars(n=5, source="second run"))
    loaded = store.day("TEST", date(2024, 3, 8))
    assert loaded is not None and (len(loaded), loaded.source) == (5, "second run")
    assert files_under(tmp_path) == ["minute/TEST/2024-03-08.parquet"]


def test_a_failed_write_leaves_no_temporary_file_and_the_old_day(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    store.write_day(minute_bars(day=date(2024, 3, 7)))
    blocker = store.day_path("TEST", date(2024, 3, 8))
    blocker.mkdir(parents=True)  # os.replace cannot put a file over a directory
    with pytest.raises(OSError, match="Is a directory"):
        store.write_day(minute_bars())
    assert files_under(tmp_path) == ["minute/TEST/2024-03-07.parquet"]
    assert store.days("TEST") == [date(2024, 3, 7)]


def test_a_day_in_another_basis_is_refused(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    store.write_day(minute_bars(day=date(2024, 3, 7)))
    with pytest.raises(BasisMismatch, match="stored as raw"):
        store.write_day(minute_bars(basis=Basis.SPLIT_ADJUSTED))
    assert store.days("TEST") == [date(2024, 3, 7)]


def test_a_misplaced_file_is_refused_on_read(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    path = store.write_day(minute_bars())
    other = store.day_path("OTHER", date(2024, 3, 8))
    other.parent.mkdir(parents=True)
    shutil.copy(path, other)
    with pytest.raises(UnreadableBarFile, match="expected bars of"):
        store.day("OTHER", date(2024, 3, 8))


def test_a_foreign_parquet_file_is_refused_on_read(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    path = store.day_path("TEST", date(2024, 3, 8))
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"start_ns": [1], "price": [1.0]}), path)
    with pytest.raises(UnreadableBarFile, match="expected columns"):
        store.day("TEST", date(2024, 3, 8))


def test_a_symbol_that_is_not_a_ticker_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidValue, match="upper-case ticker"):
        BarStore(tmp_path).day("../etc", date(2024, 3, 8))


def test_the_store_serves_as_the_bar_source_port(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    store.write_day(minute_bars())
    store.write_daily(daily_bars(["2024-03-07"], [10]))
    source: BarSource = store
    day = source.day("TEST", date(2024, 3, 8))
    daily = source.daily("TEST", date(2024, 3, 1), date(2024, 3, 31))
    assert day is not None and len(day) == 3
    assert daily is not None and daily.close.tolist() == [10]


def test_loading_a_day_is_fast(real: Path, tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    (bars,) = read_lean_trade(LEAN / "minute" / "spy" / "20230803_trade.zip").days
    store.write_day(bars)
    started = time.perf_counter()
    for _ in range(50):
        store.day("SPY", date(2023, 8, 3))
    per_load_ms = (time.perf_counter() - started) / 50 * 1000
    assert per_load_ms < 25, f"{per_load_ms:.2f} ms per day() load"


# ---------------------------------------------------------------- daily


def test_daily_merge_is_a_union_by_day_where_new_rows_win(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    store.write_daily(daily_bars(["2024-03-04", "2024-03-05", "2024-03-06"], [10, 11, 12]))
    newer = daily_bars(["2024-03-06", "2024-03-07"], [12.5, 13], source="other")
    assert store.write_daily(newer) == tmp_path / "daily" / "raw" / "TEST.parquet"
    merged = store.daily("TEST")
    assert merged is not None
    assert merged.days.astype(str).tolist() == [
        "2024-03-04",
        "2024-03-05",
        "2024-03-06",
        "2024-03-07",
    ]
    assert merged.close.tolist() == [10, 11, 12.5, 13]
    assert (merged.basis, merged.source) == (Basis.RAW, "hand+other")


def test_daily_reads_an_inclusive_range(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    store.write_daily(daily_bars(["2024-03-04", "2024-03-05", "2024-03-06"], [10, 11, 12]))
    part = store.daily("TEST", start=date(2024, 3, 5), end=date(2024, 3, 6))
    assert part is not None and part.close.tolist() == [11, 12]
    assert store.daily("TEST", start=date(2024, 3, 7)) is None
    assert store.daily("TEST", basis=Basis.SPLIT_ADJUSTED) is None
    assert store.daily("NONE") is None


def test_split_adjusted_aapl_never_merges_into_raw(real: Path, tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    raw = read_lean_daily(LEAN / "daily" / "aapl.zip").daily[0]
    store.write_daily(raw)
    (adjusted,) = read_sp500_5yr(REAL / "sp500_5yr" / "individual_stocks_5yr.zip", {"AAPL"}).daily
    assert adjusted.basis == Basis.SPLIT_ADJUSTED
    mislabelled = dataclasses.replace(adjusted, basis=Basis.RAW)
    with pytest.raises(BasisMismatch, match=r"2013-02-08 closes at 67.8542 .* but 474.98"):
        store.write_daily(mislabelled)
    with pytest.raises(BasisMismatch):
        store.check_daily(mislabelled)
    store.write_daily(adjusted)  # its own basis: a separate series
    kept = store.daily("AAPL", start=date(2013, 2, 8), end=date(2013, 2, 8))
    assert kept is not None and kept.close.tolist() == [474.98]
    split = store.daily("AAPL", start=date(2013, 2, 8), basis=Basis.SPLIT_ADJUSTED)
    assert split is not None and split.close[0] == 67.8542 and len(split) == 1259


def test_a_daily_file_of_the_wrong_basis_is_refused(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    store.write_daily(daily_bars(["2024-03-04"], [10], basis=Basis.SPLIT_ADJUSTED))
    wrong = store.daily_path("TEST", Basis.RAW)
    wrong.parent.mkdir(parents=True)
    shutil.copy(store.daily_path("TEST", Basis.SPLIT_ADJUSTED), wrong)
    with pytest.raises(BasisMismatch, match="in split_adjusted"):
        store.write_daily(daily_bars(["2024-03-05"], [10]))


# ---------------------------------------------------------------- inventory


def test_inventory_lists_every_series(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    assert store.inventory() == []
    store.write_day(minute_bars(day=date(2024, 3, 7)))
    store.write_day(minute_bars(day=date(2024, 3, 8), synthetic=True, source="gen"))
    store.write_day(dataclasses.replace(minute_bars(symbol="ABC"), resolution_s=1))
    store.write_daily(daily_bars(["2024-03-04", "2024-03-05"], [10, 11]))
    store.write_daily(daily_bars(["2024-03-05"], [5], basis=Basis.SPLIT_ADJUSTED, source="x"))
    d = date
    assert store.inventory() == [
        InventoryRow("ABC", "second", Basis.RAW, d(2024, 3, 8), d(2024, 3, 8), 1, False, "hand"),
        InventoryRow("TEST", "daily", Basis.RAW, d(2024, 3, 4), d(2024, 3, 5), 2, False, "hand"),
        InventoryRow(
            "TEST", "daily", Basis.SPLIT_ADJUSTED, d(2024, 3, 5), d(2024, 3, 5), 1, False, "x"
        ),
        InventoryRow(
            "TEST", "minute", Basis.RAW, d(2024, 3, 7), d(2024, 3, 8), 2, True, "gen+hand"
        ),
    ]


# ---------------------------------------------------------------- import_path


def copy_real(real: Path, target: Path, relatives: list[str]) -> None:
    for relative in relatives:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(real / relative, target / relative)


def test_a_directory_import_reports_formats_skips_and_failures(real: Path, tmp_path: Path) -> None:
    tree = tmp_path / "data"
    copy_real(
        real,
        tree,
        [
            "README.md",
            "lean/equity/usa/minute/aapl/20140609_trade.zip",
            "lean/equity/usa/minute/aapl/20140609_quote.zip",
            "lean/equity/usa/second/spy/20131007_trade.zip",
            "lean/equity/usa/daily/uso.zip",
            "lean/equity/usa/map_files/uso.csv",
            "lean/equity/usa/hour/spy.zip",
            "react-stockcharts/AAPL_INTRA_DAY.tsv",
            "zipline/QUANDL_ARCHIVE.zip",
        ],
    )
    broken = tree / "pyalgotrade" / "nt-spy-minute-bad.csv"
    broken.parent.mkdir()
    broken.write_text("20110103 090100;126.35;126.39;126.35;126.39;1579\n20110103 090200;1;2\n")
    store = BarStore(tmp_path / "store")
    report = import_path(tree, store)
    assert report.files_by_format == {
        "lean-daily": 1,
        "lean-trade": 2,
        "quandl-archive": 1,
        "react-stockcharts-minute": 1,
    }
    assert report.files_imported == 5
    assert report.symbol_days_written == 1 + 1 + 21
    assert report.daily_series_written == 1 + 4
    assert report.daily_rows_written == 3770 + 916
    assert sorted((s.path.name, s.reason.split(":")[0]) for s in report.skipped) == [
        ("20140609_quote.zip", "Lean quote bars (bid/ask), not trades"),
        ("README.md", "documentation or licence file"),
        ("spy.zip", "Lean hour bars are not stored (the bar labelled 09"),
        ("uso.csv", "Lean map file"),
    ]
    ((failed_path, why),) = [(f.path, f.reason) for f in report.failed]
    assert failed_path == broken and "line 2: expected 6 semicolon-separated fields" in why
    assert any("dropped 140 of 3910 rows" in note for note in report.notes)
    kinds = {(r.symbol, r.kind): r.count for r in store.inventory()}
    assert kinds == {
        ("AAPL", "daily"): 252,
        ("AAPL", "minute"): 22,
        ("BRK.A", "daily"): 252,
        ("MSFT", "daily"): 252,
        ("SPY", "second"): 1,
        ("USO", "daily"): 3770,
        ("ZEN", "daily"): 160,
    }


def test_a_single_file_import_writes_only_the_named_symbols(real: Path, tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    report = import_path(
        REAL / "sp500_5yr" / "individual_stocks_5yr.zip", store, symbols={"AAPL", "MSFT"}
    )
    assert (report.files_by_format, report.daily_rows_written) == ({"sp500-5yr": 1}, 2 * 1259)
    assert [(r.symbol, r.basis) for r in store.inventory()] == [
        ("AAPL", Basis.SPLIT_ADJUSTED),
        ("MSFT", Basis.SPLIT_ADJUSTED),
    ]


def lean_zip(root: Path, body: str, inner: str = "20131007_spy_minute_trade.csv") -> Path:
    path = root / "minute" / "spy" / "20131007_trade.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(inner, body)
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "nt-spy-minute-short.csv",
            "20110103 090100;126.35;126.39;126.35;126.39;1579\n20110103 090200;1;2;3\n",
            r"nt-spy-minute-short\.csv line 2: expected 6 semicolon-separated fields "
            r"\(utc_bar_end,open,high,low,close,volume\), found 4",
        ),
        (
            "nt-spy-minute-text.csv",
            "20110103 090100;126.35;126.39;126.35;abc;1579\n",
            r"nt-spy-minute-text\.csv line 1: expected a number in close, found 'abc'",
        ),
        (
            "nt-spy-minute-negative.csv",
            "20110103 090100;126.35;126.39;126.35;126.39;1579\n"
            "20110103 090200;-1;126.39;126.35;126.39;1579\n",
            r"nt-spy-minute-negative\.csv line 2: expected prices above 0",
        ),
        (
            "nt-spy-minute-order.csv",
            "20110103 090200;126.35;126.39;126.35;126.39;1579\n"
            "20110103 090300;126.35;126.39;126.35;126.39;1579\n"
            "20110103 090100;126.35;126.39;126.35;126.39;1579\n",
            r"nt-spy-minute-order\.csv line 3: expected times in increasing order "
            r"\(after 2011-01-03 09:03:00\+00:00 on line 2\), found 2011-01-03 09:01:00\+00:00",
        ),
    ],
)
def test_a_bad_file_raises_naming_file_and_line_and_writes_nothing(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / "in" / name
    path.parent.mkdir()
    path.write_text(content)
    store = BarStore(tmp_path / "store")
    with pytest.raises(BadBarFile, match=message):
        import_path(path, store)
    assert not (tmp_path / "store").exists()


def test_a_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadBarFile, match=r"absent: expected a bar file or a directory"):
        import_path(tmp_path / "absent", BarStore(tmp_path / "store"))


def test_a_zip_without_a_csv_raises_and_writes_nothing(tmp_path: Path) -> None:
    path = lean_zip(tmp_path / "in", "not bars", inner="notes.txt")
    store = BarStore(tmp_path / "store")
    with pytest.raises(BadBarFile, match=r"20131007_trade\.zip: expected exactly one CSV file"):
        import_path(path, store)
    assert not (tmp_path / "store").exists()


def test_a_multi_day_file_refused_by_the_store_writes_no_day(tmp_path: Path) -> None:
    store = BarStore(tmp_path / "store")
    path = tmp_path / "nt-spy-minute-two.csv"
    path.write_text(
        "20110103 150000;126.35;126.39;126.35;126.39;1579\n"
        "20110104 150000;126.35;126.39;126.35;126.39;1579\n"
    )
    store.write_day(minute_bars(symbol="SPY", day=date(2011, 1, 4), basis=Basis.SPLIT_ADJUSTED))
    with pytest.raises(BasisMismatch):
        import_path(path, store)
    assert store.days("SPY") == [date(2011, 1, 4)]
