"""Bar importers: real vendor files parse to the documented facts; bad files name file and line."""

from __future__ import annotations

import gzip
import zipfile
from datetime import UTC, date, datetime, time
from pathlib import Path

import numpy as np
import pytest

from openbell.adapters.bars.importers import (
    BadBarFile,
    Format,
    Skip,
    detect,
    parse_file,
    read_lean_daily,
    read_lean_map,
    read_lean_trade,
    read_mplfinance_daily,
    read_mplfinance_minutes,
    read_ninjatrader_minutes,
    read_quandl_archive,
    read_quandl_wiki_csv,
    read_react_stockcharts,
    read_sp500_5yr,
)
from openbell.bars import NEW_YORK, Basis, DailyBars, DayBars, to_ns
from openbell.domain.errors import RefusedInput

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
LEAN = REAL / "lean" / "equity" / "usa"
NS_PER_MINUTE = 60_000_000_000


@pytest.fixture(scope="module")
def real() -> Path:
    if not (REAL / "manifest.json").is_file():
        pytest.skip(f"the shared real market data is not present at {REAL}")
    return REAL


def ny(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=NEW_YORK)


def rth(bars: DayBars) -> tuple[float, float, float, float, float, int]:
    """Regular-session (09:30-15:59 starts) open, high, low, close, volume and bar count."""
    s = bars.between(ny(bars.trading_day, 9, 30), ny(bars.trading_day, 16))
    return (
        float(bars.open[s][0]),
        float(bars.high[s].max()),
        float(bars.low[s].min()),
        float(bars.close[s][-1]),
        float(bars.volume[s].sum()),
        s.stop - s.start,
    )


def by_day(days: tuple[DayBars, ...]) -> dict[date, DayBars]:
    return {d.trading_day: d for d in days}


def by_symbol(series: tuple[DailyBars, ...]) -> dict[str, DailyBars]:
    return {s.symbol: s for s in series}


# ---------------------------------------------------------------- Lean


def test_lean_spy_minute_rth_aggregates_to_the_lean_daily_bar(real: Path) -> None:
    (bars,) = read_lean_trade(LEAN / "minute" / "spy" / "20131007_trade.zip").days
    assert (bars.symbol, bars.trading_day, bars.resolution_s) == ("SPY", date(2013, 10, 7), 60)
    assert (bars.basis, bars.source, len(bars)) == (Basis.RAW, "lean", 828)
    assert rth(bars) == (167.43, 168.45, 167.25, 167.42, 81_489_219.0, 390)
    first_rth = bars.index_at_or_after(ny(date(2013, 10, 7), 9, 30))
    assert bars.start_ns[first_rth] == to_ns(datetime(2013, 10, 7, 13, 30, tzinfo=UTC))
    assert bars.start(0) == ny(date(2013, 10, 7), 4)

    daily = read_lean_daily(LEAN / "daily" / "spy.zip").daily[0]
    row = daily.row(date(2013, 10, 7))
    assert row is not None
    assert (daily.open[row], daily.high[row], daily.low[row], daily.close[row]) == (
        167.43,
        168.45,
        167.25,
        167.42,
    )
    assert daily.volume[row] == 81_489_219


def test_lean_aapl_minute_is_raw_across_the_7_for_1_split(real: Path) -> None:
    (before,) = read_lean_trade(LEAN / "minute" / "aapl" / "20140606_trade.zip").days
    (after,) = read_lean_trade(LEAN / "minute" / "aapl" / "20140609_trade.zip").days
    assert rth(before)[3] == 645.57
    assert rth(after)[3] == 93.70
    assert before.low.min() > 640 and before.high.max() < 652
    assert after.low.min() > 91 and rth(after)[1] < 95
    # Lean's 04:00 bar on 06-09 opens with a stale pre-split print, then trades at ~$92.
    assert (after.open[0], after.high[0], after.close[0]) == (645.57, 645.57, 92.42)
    assert before.basis == after.basis == Basis.RAW


def test_lean_second_bars_are_one_second_start_stamped(real: Path) -> None:
    (bars,) = read_lean_trade(LEAN / "second" / "spy" / "20131007_trade.zip").days
    assert (bars.resolution_s, len(bars)) == (1, 16_675)
    assert bars.start(0) == ny(date(2013, 10, 7), 4)
    assert (np.diff(bars.start_ns) % 1_000_000_000 == 0).all()


def test_lean_daily_drops_rows_of_a_reused_ticker_per_the_map_file(real: Path) -> None:
    in_effect = read_lean_map(LEAN / "map_files" / "goog.csv")
    parsed = read_lean_daily(LEAN / "daily" / "goog.zip", in_effect)
    (series,) = parsed.daily
    assert series.days[0] == np.datetime64("2014-04-03")
    assert series.close[0] == 569.74
    assert "dropped 2422 of 4183 rows" in parsed.notes[0]
    whole = read_lean_daily(LEAN / "daily" / "uso.zip").daily[0]
    assert whole.days[0] == np.datetime64("1998-01-02")


def test_a_lean_map_keeps_only_days_when_the_ticker_was_in_effect(tmp_path: Path) -> None:
    path = tmp_path / "qqq.csv"
    path.write_text("19990310,qqq,Q\n20041130,qqq,Q\n20110322,qqqq,Q\n20501231,qqq,Q\n")
    days = np.array(
        ["1999-03-09", "1999-03-10", "2004-11-30", "2004-12-01", "2011-03-22", "2011-03-23"],
        dtype="datetime64[D]",
    )
    mask = read_lean_map(path).mask("QQQ", days)
    assert mask.tolist() == [False, True, True, False, False, True]


def test_a_lean_map_out_of_date_order_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("20000101,x\n19990101,x\n")
    with pytest.raises(BadBarFile, match=r"x\.csv line 2: expected a date after 2000-01-01"):
        read_lean_map(path)


# ---------------------------------------------------------------- NinjaTrader


def test_ninjatrader_bar_ends_in_utc_become_new_york_bar_starts_across_dst(real: Path) -> None:
    days = by_day(read_ninjatrader_minutes(REAL / "pyalgotrade" / "nt-spy-minute-2011-03.csv").days)
    assert len(days) == 23
    march9, march15 = days[date(2011, 3, 9)], days[date(2011, 3, 15)]
    at = march9.index_at_or_after(ny(date(2011, 3, 9), 9, 30))
    assert march9.start_ns[at] == to_ns(datetime(2011, 3, 9, 14, 30, tzinfo=UTC))
    assert march9.close[at] == 132.35  # the file's "20110309 143100" row
    at = march15.index_at_or_after(ny(date(2011, 3, 15), 9, 30))
    assert march15.start_ns[at] == to_ns(datetime(2011, 3, 15, 13, 30, tzinfo=UTC))
    assert rth(march15) == (126.58, 129.33, 126.50, 128.63, 256_559_446.0, 390)
    assert rth(days[date(2011, 3, 14)])[:4] == (129.99, 130.48, 129.06, 130.07)
    for bars in days.values():
        s = bars.between(ny(bars.trading_day, 9, 30), ny(bars.trading_day, 16))
        assert (s.stop - s.start, bars.start(s.start)) == (390, ny(bars.trading_day, 9, 30))


def test_ninjatrader_january_crlf_file_has_20_full_sessions(real: Path) -> None:
    days = read_ninjatrader_minutes(REAL / "pyalgotrade" / "nt-spy-minute-2011.csv").days
    assert [d.trading_day for d in days][:2] == [date(2011, 1, 3), date(2011, 1, 4)]
    assert len(days) == 20 and date(2011, 1, 17) not in by_day(days)
    assert sum(len(d) for d in days) == 14_180
    for bars in days:
        s = bars.between(ny(bars.trading_day, 9, 30), ny(bars.trading_day, 16))
        assert s.stop - s.start == 390
        assert bars.start(s.start) == ny(bars.trading_day, 9, 30)
        assert bars.start(s.stop - 1) == ny(bars.trading_day, 15, 59)
    assert days[-1].start(len(days[-1]) - 1) == ny(date(2011, 1, 31), 19, 59)


# ---------------------------------------------------------------- react-stockcharts


def test_react_stockcharts_aapl_gap_day_has_390_bars_opening_at_the_96_print(real: Path) -> None:
    days = by_day(read_react_stockcharts(REAL / "react-stockcharts" / "AAPL_INTRA_DAY.tsv").days)
    assert len(days) == 21 and {len(d) for d in days.values()} == {390}
    gap = days[date(2016, 4, 27)]
    assert gap.start(0) == ny(date(2016, 4, 27), 9, 30)
    assert gap.start(389) == ny(date(2016, 4, 27), 15, 59)
    # the 09:30 opening-print row folded into the 09:30-09:31 bar
    assert (gap.open[0], gap.high[0], gap.low[0], gap.close[0]) == (96.00, 98.71, 95.68, 96.148)
    assert gap.volume[0] == 2_228_957 + 2_191_430
    assert gap.close[-1] == 97.82
    assert days[date(2016, 4, 26)].close[-1] == 104.35
    lines = (real / "react-stockcharts" / "AAPL_INTRA_DAY.tsv").read_text().splitlines()[1:]
    in_file = sum(int(line.split("\t")[5]) for line in lines)
    assert sum(float(d.volume.sum()) for d in days.values()) == in_file  # no volume lost


# ---------------------------------------------------------------- mplfinance


def test_mplfinance_index_minutes_start_at_the_daily_open(real: Path) -> None:
    days = read_mplfinance_minutes(REAL / "mplfinance" / "SP500_NOV2019_IDay.csv").days
    assert [len(d) for d in days] == [391, 391, 391, 390]
    daily = read_mplfinance_daily(REAL / "mplfinance" / "SP500_NOV2019_Hist.csv").daily[0]
    assert (daily.symbol, daily.basis, len(daily)) == ("SPX", Basis.RAW, 20)
    for bars in days:
        row = daily.row(bars.trading_day)
        assert row is not None and bars.open[0] == daily.open[row]
        assert bars.start(0) == ny(bars.trading_day, 9, 30)
        assert (bars.volume == 0).all()
    first = days[0]  # Close comes before High in the file: 3080.8,3080.49,3081.47,3080.3
    assert (first.open[0], first.high[0], first.low[0], first.close[0]) == (
        3080.8,
        3081.47,
        3080.3,
        3080.49,
    )


# ---------------------------------------------------------------- daily CSVs


def test_sp500_5yr_is_split_adjusted_and_drops_known_blank_rows(real: Path) -> None:
    zip_path = REAL / "sp500_5yr" / "individual_stocks_5yr.zip"
    parsed = read_sp500_5yr(zip_path, symbols={"AAPL", "AOS", "BHF", "NOPE"})
    series = by_symbol(parsed.daily)
    assert set(series) == {"AAPL", "AOS", "BHF"}
    assert series["AOS"].row(date(2014, 5, 19)) is None  # high 23.595 below open 23.89
    aapl = series["AAPL"]
    assert (aapl.basis, len(aapl), aapl.days[0]) == (
        Basis.SPLIT_ADJUSTED,
        1259,
        np.datetime64("2013-02-08"),
    )
    assert aapl.close[0] == 67.8542
    assert aapl.close[aapl.row(date(2014, 6, 9))] == 93.70
    assert series["BHF"].row(date(2017, 7, 26)) is None
    member = f"{zip_path}!individual_stocks_5yr/"
    assert parsed.notes == (
        f"{member}AOS_data.csv: dropped 1 row(s) with high below open/close or low above "
        "(line 322)",
        f"{member}BHF_data.csv: dropped 1 row(s) with a blank price (line 9)",
    )


def test_quandl_bokeh_csv_imports_raw_columns_and_renames_old_goog(real: Path) -> None:
    parsed = read_quandl_wiki_csv(REAL / "bokeh" / "stocks.csv.gz")
    series = by_symbol(parsed.daily)
    assert {s: len(b) for s, b in series.items()} == {
        "AAPL": 3270,
        "IBM": 3270,
        "MSFT": 3270,
        "GOOGL": 2148,
        "FB": 196,
    }
    aapl = series["AAPL"]
    assert aapl.basis == Basis.RAW and aapl.close[0] == 130.31  # not the 4.19 Adj Close
    assert aapl.close.max() == 702.10 and aapl.close.min() == 13.12


def test_quandl_archive_is_raw_with_the_aapl_split_visible(real: Path) -> None:
    series = by_symbol(read_quandl_archive(REAL / "zipline" / "QUANDL_ARCHIVE.zip").daily)
    assert set(series) == {"AAPL", "BRK.A", "MSFT", "ZEN"}
    aapl = series["AAPL"]
    assert aapl.close[aapl.row(date(2014, 6, 9))] == 93.70
    assert aapl.close[aapl.row(date(2014, 6, 6))] == 645.57
    assert series["BRK.A"].close.min() > 160_000


# ---------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("lean/equity/usa/minute/spy/20131007_trade.zip", Format.LEAN_TRADE),
        ("lean/equity/usa/second/spy/20131007_trade.zip", Format.LEAN_TRADE),
        ("lean/equity/usa/daily/spy.zip", Format.LEAN_DAILY),
        ("pyalgotrade/nt-spy-minute-2011.csv", Format.NINJATRADER),
        ("react-stockcharts/MSFT_INTRA_DAY.tsv", Format.REACT_STOCKCHARTS),
        ("mplfinance/SP500_NOV2019_IDay.csv", Format.MPLFINANCE_MINUTE),
        ("mplfinance/SP500_NOV2019_Hist.csv", Format.MPLFINANCE_DAILY),
        ("bokeh/stocks.csv.gz", Format.QUANDL_WIKI_CSV),
        ("zipline/QUANDL_ARCHIVE.zip", Format.QUANDL_ARCHIVE),
        ("sp500_5yr/individual_stocks_5yr.zip", Format.SP500_5YR),
    ],
)
def test_detect_recognises_each_format(real: Path, relative: str, expected: Format) -> None:
    assert detect(real / relative) == expected


@pytest.mark.parametrize(
    ("relative", "reason"),
    [
        ("lean/equity/usa/minute/spy/20131007_quote.zip", "quote bars"),
        ("lean/equity/usa/hour/spy.zip", "hour bars"),
        ("lean/equity/usa/map_files/spy.csv", "map file"),
        ("lean/equity/usa/factor_files/spy.csv", "factor file"),
        ("lean/equity/usa/fundamental/coarse/20140324.csv", "coarse universe"),
        ("bokeh/LICENSE.bokeh_sampledata.txt", "licence"),
        ("README.md", "documentation"),
    ],
)
def test_detect_skips_non_bar_files_with_a_reason(real: Path, relative: str, reason: str) -> None:
    found = detect(real / relative)
    assert isinstance(found, Skip) and reason in found.reason


# ---------------------------------------------------------------- bad input


def lean_minute_zip(root: Path, rows: list[str], *, inner: str | None = None) -> Path:
    path = root / "minute" / "spy" / "20131007_trade.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        if inner != "":
            archive.writestr(inner or "20131007_spy_minute_trade.csv", "\n".join(rows) + "\n")
        else:
            archive.writestr("readme.txt", "no bars here")
    return path


GOOD_LEAN = [
    "34200000,1674100,1674500,1673000,1674000,3197",
    "34260000,1674000,1674100,1672500,1672700,1150",
    "34320000,1672700,1672800,1672000,1672400,3313",
]


def test_a_clean_hand_written_lean_file_parses(tmp_path: Path) -> None:
    (bars,) = read_lean_trade(lean_minute_zip(tmp_path, GOOD_LEAN)).days
    assert bars.start(0) == ny(date(2013, 10, 7), 9, 30)
    assert list(bars.close) == [167.4, 167.27, 167.24]


def test_a_short_row_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "daily" / "spy.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "spy.csv",
            "19980102 00:00,973100,975300,965300,973600,2150000\r\n"
            "19980105 00:00,978400,984400,967800,977500,4030800\r\n"
            "19980106 00:00,972500,972800,961900\r\n",
        )
    with pytest.raises(BadBarFile) as caught:
        read_lean_daily(path)
    assert str(caught.value) == (
        f"{path}!spy.csv line 3: expected 6 comma-separated fields "
        "(date,open,high,low,close,volume), found 4"
    )
    assert caught.value.line == 3


def test_a_non_numeric_price_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "nt-spy-minute-2011.csv"
    path.write_bytes(
        b"20110103 090100;126.35;126.39;126.35;126.39;1579\r\n"
        b"20110103 090200;126.45;12x.45;126.45;126.45;100\r\n"
    )
    with pytest.raises(BadBarFile, match=r"line 2: expected a number in high, found '12x.45'"):
        read_ninjatrader_minutes(path)


def test_a_negative_price_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "AAPL_INTRA_DAY.tsv"
    path.write_text(
        "date\topen\thigh\tlow\tclose\tvolume\n"
        "1460727000000\t112.11\t112.11\t112\t112.06\t2316232\n"
        "1460727060000\t-112.04\t112.1\t112\t112.085\t115476\n"
    )
    with pytest.raises(BadBarFile) as caught:
        read_react_stockcharts(path)
    assert str(caught.value).startswith(f"{path} line 3: expected prices above 0, found open=-112")


def test_out_of_order_times_are_refused_naming_file_and_line(tmp_path: Path) -> None:
    rows = [GOOD_LEAN[0], GOOD_LEAN[2], GOOD_LEAN[1]]
    path = lean_minute_zip(tmp_path, rows)
    with pytest.raises(BadBarFile, match=r"_trade\.csv line 3: expected times in increasing order"):
        read_lean_trade(path)


def test_a_zip_without_a_csv_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = lean_minute_zip(tmp_path, GOOD_LEAN, inner="")
    with pytest.raises(BadBarFile, match=r"expected exactly one CSV file inside the zip, found 0"):
        read_lean_trade(path)


def test_a_quote_file_inside_a_trade_zip_is_refused(tmp_path: Path) -> None:
    path = lean_minute_zip(tmp_path, GOOD_LEAN, inner="20131007_spy_minute_quote.csv")
    with pytest.raises(BadBarFile, match=r"a member named 20131007_spy_minute_trade\.csv"):
        read_lean_trade(path)


def test_a_lean_time_off_the_minute_grid_is_refused(tmp_path: Path) -> None:
    path = lean_minute_zip(tmp_path, [GOOD_LEAN[0], "34230000,1674000,1674100,1672500,1672700,1"])
    with pytest.raises(BadBarFile, match=r"line 2: expected milliseconds since midnight"):
        read_lean_trade(path)


def test_high_below_close_is_refused(tmp_path: Path) -> None:
    path = lean_minute_zip(tmp_path, [GOOD_LEAN[0], "34260000,1674000,1673000,1672500,1673500,1"])
    with pytest.raises(BadBarFile, match=r"line 2: expected low <= open, close <= high"):
        read_lean_trade(path)


def test_an_impossible_date_is_refused_not_rolled_over(tmp_path: Path) -> None:
    path = tmp_path / "stocks.csv.gz"
    path.write_bytes(
        gzip.compress(
            b"Ticker,Date,Open,High,Low,Close,Volume,Adj Close\n"
            b"AAPL,2013-02-28,1,2,1,2,10,2\n"
            b"AAPL,2013-02-30,1,2,1,2,10,2\n"
        )
    )
    with pytest.raises(BadBarFile, match=r"line 3: expected a time formatted as %Y-%m-%d"):
        read_quandl_wiki_csv(path)


def test_a_wrong_header_is_refused_on_line_1(tmp_path: Path) -> None:
    path = tmp_path / "MSFT_INTRA_DAY.tsv"
    path.write_text("date\topen\tlow\thigh\tclose\tvolume\n1460727000000\t1\t1\t1\t1\t1\n")
    with pytest.raises(BadBarFile, match=r"line 1: expected the header"):
        read_react_stockcharts(path)


def test_a_blank_line_inside_a_file_is_refused_by_its_line(tmp_path: Path) -> None:
    path = tmp_path / "nt-spy-minute-gap.csv"
    path.write_bytes(
        b"20110103 090100;126.35;126.39;126.35;126.39;1579\r\n\r\n"
        b"20110103 090300;126.35;126.39;126.35;126.39;1579\r\n"
    )
    with pytest.raises(BadBarFile, match=r"nt-spy-minute-gap\.csv line 2: expected a time"):
        read_ninjatrader_minutes(path)


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nt-spy-minute-empty.csv"
    path.write_bytes(b"\r\n")
    with pytest.raises(BadBarFile, match=r"expected at least one row"):
        read_ninjatrader_minutes(path)


def test_an_unrecognised_file_is_refused_by_parse_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("when,price\n2020-01-01,3\n")
    with pytest.raises(RefusedInput, match=r"unrecognised format"):
        parse_file(path)
