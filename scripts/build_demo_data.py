"""Build the demo dataset that ships inside the package (run by hand; its output is committed).

Sources, both licence-clean (see src/openbell/data/demo/ATTRIBUTION.md):
* daily bars: the S&P 500 five-year set (IEX data, attribution required), split-adjusted as of
  2018-02; the symbols chosen did not split between the demo window and then, so for the
  window these prices equal the raw ones;
* minute bars: react-stockcharts' AAPL and MSFT regular sessions, 2016-04-15 to 2016-05-13 (MIT).

Every other symbol-day's intraday path is drawn at run time by the seeded generator in
``openbell.bars.synthetic`` from these real daily bars, and marked synthetic.

    .venv/bin/python scripts/build_demo_data.py [--real ../shared/data/real]
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

from openbell.adapters.bars.importers.dispatch import parse_file
from openbell.adapters.bars.store import BarStore
from openbell.bars.frame import DailyBars

DEMO = Path(__file__).resolve().parents[1] / "src" / "openbell" / "data" / "demo"
SYMBOLS = (
    "AAPL",
    "MSFT",
    "AMZN",
    "GOOGL",
    "FB",
    "NVDA",
    "AMD",
    "MU",
    "INTC",
    "CSCO",
    "ORCL",
    "IBM",
    "QCOM",
    "NFLX",
    "JPM",
    "BAC",
    "C",
    "WFC",
    "XOM",
    "CVX",
    "JNJ",
    "PFE",
    "MRK",
    "ABBV",
    "GILD",
    "UNH",
    "PG",
    "KO",
    "PEP",
    "WMT",
    "HD",
    "MCD",
    "NKE",
    "DIS",
    "T",
    "VZ",
    "BA",
    "GE",
    "CAT",
    "FCX",
)
FIRST, LAST = date(2016, 2, 1), date(2016, 5, 13)


def _window(bars: DailyBars) -> DailyBars:
    window = bars.between(FIRST, LAST)
    if window is None:
        raise SystemExit(f"{bars.symbol}: no daily bars between {FIRST} and {LAST}")
    return replace(window, source="sp500_5yr (IEX)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--real",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "data" / "real",
    )
    args = parser.parse_args()
    for kind in ("daily", "minute", "second"):
        shutil.rmtree(DEMO / kind, ignore_errors=True)
    store = BarStore(DEMO)
    daily = parse_file(args.real / "sp500_5yr" / "individual_stocks_5yr.zip", SYMBOLS)
    for series in daily.daily:
        store.write_daily(_window(series))
    for name in ("AAPL", "MSFT"):
        parsed = parse_file(args.real / "react-stockcharts" / f"{name}_INTRA_DAY.tsv")
        for day in parsed.days:
            store.write_day(day)
    found = sorted(s.symbol for s in daily.daily)
    missing = sorted(set(SYMBOLS) - set(found))
    print(f"daily: {len(found)} symbols {FIRST}..{LAST}; missing: {missing or 'none'}")
    print(f"minute: {len(store.days('AAPL'))} AAPL days, {len(store.days('MSFT'))} MSFT days")


if __name__ == "__main__":
    main()
