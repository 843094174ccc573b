"""Recognise bar files by place, name and first line, parse them, and write them to a store.

:func:`import_path` takes one file or a directory tree. A directory is walked in sorted order:
every recognised file is imported, documentation, licences and non-bar data are skipped with a
reason, and a file that fails to parse is listed with its error while the walk goes on. A single
file is strict: anything unrecognised or malformed raises. Each file is parsed completely and its
series checked against the store before the first write, so a refused file writes nothing.
"""

from __future__ import annotations

import gzip
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from openbell.adapters.bars.importers import lean, mplfinance, quandl, sp500_5yr
from openbell.adapters.bars.importers.base import BadBarFile, ParsedFile
from openbell.adapters.bars.importers.ninjatrader import read_ninjatrader_minutes
from openbell.adapters.bars.importers.react_stockcharts import read_react_stockcharts
from openbell.adapters.bars.store import BarStore
from openbell.domain.errors import RefusedInput


class Format(StrEnum):
    """The bar file formats :func:`import_path` recognises."""

    LEAN_TRADE = "lean-trade"
    LEAN_DAILY = "lean-daily"
    NINJATRADER = "ninjatrader-minute"
    REACT_STOCKCHARTS = "react-stockcharts-minute"
    MPLFINANCE_MINUTE = "mplfinance-minute"
    MPLFINANCE_DAILY = "mplfinance-daily"
    QUANDL_WIKI_CSV = "quandl-wiki-csv"
    QUANDL_ARCHIVE = "quandl-archive"
    SP500_5YR = "sp500-5yr"


@dataclass(frozen=True)
class Skip:
    """A file that is deliberately not imported, and why."""

    reason: str


@dataclass(frozen=True)
class SkippedFile:
    """A file left out of an import: skipped on purpose, or failed with this error."""

    path: Path
    reason: str


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote and what it left out.

    ``files_by_format`` counts imported files per :class:`Format` value; ``symbol_days_written``
    counts intraday symbol-days; ``daily_rows_written`` counts daily rows handed to the store
    (rows that replaced stored ones included); ``notes`` lists rows dropped on purpose.
    """

    files_by_format: dict[str, int]
    symbol_days_written: int
    daily_series_written: int
    daily_rows_written: int
    skipped: tuple[SkippedFile, ...]
    failed: tuple[SkippedFile, ...]
    notes: tuple[str, ...]

    @property
    def files_imported(self) -> int:
        """How many files were imported, over all formats."""
        return sum(self.files_by_format.values())


@dataclass
class _Tally:
    formats: Counter[str] = field(default_factory=Counter)
    symbol_days: int = 0
    daily_series: int = 0
    daily_rows: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    failed: list[SkippedFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def report(self) -> ImportReport:
        return ImportReport(
            files_by_format=dict(sorted(self.formats.items())),
            symbol_days_written=self.symbol_days,
            daily_series_written=self.daily_series,
            daily_rows_written=self.daily_rows,
            skipped=tuple(self.skipped),
            failed=tuple(self.failed),
            notes=tuple(self.notes),
        )


_DOC_NAMES = ("license", "licence", "readme", "copying", "notice", "manifest")
_DOC_SUFFIXES = {".md", ".txt", ".json", ".rst", ".html", ".pdf"}
_PLACE_SKIPS = {
    "hour": "Lean hour bars are not stored (the bar labelled 09:00 covers 09:30-10:00); "
    "import the minute bars instead",
    "map_files": "Lean map file: ticker history, not bars (read to trim daily files)",
    "factor_files": "Lean factor file: split and dividend factors, not bars",
    "coarse": "Lean coarse universe snapshot: one close per security, not bars",
    "tick": "Lean tick data is not imported",
}
_HEADERS = {
    "\t".join(("date", "open", "high", "low", "close", "volume")): Format.REACT_STOCKCHARTS,
    ",".join(mplfinance.MINUTE_SPEC.fields): Format.MPLFINANCE_MINUTE,
    ",".join(mplfinance.DAILY_SPEC.fields): Format.MPLFINANCE_DAILY,
    ",".join(quandl.CSV_SPEC.fields): Format.QUANDL_WIKI_CSV,
}
_NINJATRADER_LINE = re.compile(r"^\d{8} \d{6};")


def detect(path: Path) -> Format | Skip:
    """The format of the file at ``path``, or why it is not imported."""
    return _by_place(path) or _by_content(path)


def _by_place(path: Path) -> Format | Skip | None:
    name = path.name.lower()
    if name.startswith(_DOC_NAMES) or path.suffix.lower() in _DOC_SUFFIXES:
        return Skip("documentation or licence file")
    for folder in (path.parent.name, path.parent.parent.name):
        if folder in _PLACE_SKIPS:
            return Skip(_PLACE_SKIPS[folder])
    if name.endswith("_quote.zip"):
        return Skip("Lean quote bars (bid/ask), not trades: not imported")
    if name.endswith("_trade.zip") and path.parent.parent.name in lean.RESOLUTION_DIRS:
        return Format.LEAN_TRADE
    if name.endswith(".zip") and path.parent.name == "daily":
        return Format.LEAN_DAILY
    return None


def _by_content(path: Path) -> Format | Skip:
    if path.suffix.lower() == ".zip":
        return _zip_format(path)
    first = _first_line(path)
    if first in _HEADERS:
        return _HEADERS[first]
    if _NINJATRADER_LINE.match(first):
        return Format.NINJATRADER
    return Skip(f"unrecognised format (first line {first[:60]!r})")


def _first_line(path: Path) -> str:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            line: bytes = handle.readline(4096)
    except (OSError, EOFError, zlib.error):
        return ""
    return line.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")


def _zip_format(path: Path) -> Format | Skip:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            header = _member_line(archive, names[0]) if names else ""
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error):
        return Skip("not a readable zip archive")
    if names and sp500_5yr.MEMBER.search(names[0]) and header == ",".join(sp500_5yr.SPEC.fields):
        return Format.SP500_5YR
    if len(names) == 1 and header == ",".join(quandl.ARCHIVE_SPEC.fields):
        return Format.QUANDL_ARCHIVE
    return Skip("zip without a recognised CSV inside")


def _member_line(archive: zipfile.ZipFile, name: str) -> str:
    with archive.open(name) as handle:
        return handle.readline(4096).decode("utf-8", errors="replace").rstrip("\r\n")


def _lean_daily(path: Path) -> ParsedFile:
    symbol = path.name.removesuffix(".zip")
    map_file = path.parent.parent / "map_files" / f"{symbol}.csv"
    in_effect = lean.read_lean_map(map_file) if map_file.is_file() else None
    parsed = lean.read_lean_daily(path, in_effect)
    factor_file = path.parent.parent / "factor_files" / f"{symbol}.csv"
    splits = lean.read_lean_splits(factor_file, symbol) if factor_file.is_file() else ()
    notes = parsed.notes
    if in_effect is None:
        notes = (*notes, f"{path}: no Lean map file at {map_file}; reused-ticker rows not checked")
    if not factor_file.is_file():
        notes = (*notes, f"{path}: no Lean factor file at {factor_file}; splits unknown")
    return ParsedFile(parsed.format, parsed.days, parsed.daily, notes, splits)


_PARSERS: dict[Format, Callable[[Path, Collection[str] | None], ParsedFile]] = {
    Format.LEAN_TRADE: lambda p, _: lean.read_lean_trade(p),
    Format.LEAN_DAILY: lambda p, _: _lean_daily(p),
    Format.NINJATRADER: lambda p, _: read_ninjatrader_minutes(p),
    Format.REACT_STOCKCHARTS: lambda p, _: read_react_stockcharts(p),
    Format.MPLFINANCE_MINUTE: lambda p, _: mplfinance.read_mplfinance_minutes(p),
    Format.MPLFINANCE_DAILY: lambda p, _: mplfinance.read_mplfinance_daily(p),
    Format.QUANDL_WIKI_CSV: lambda p, _: quandl.read_quandl_wiki_csv(p),
    Format.QUANDL_ARCHIVE: lambda p, _: quandl.read_quandl_archive(p),
    Format.SP500_5YR: sp500_5yr.read_sp500_5yr,
}


def parse_file(path: Path, symbols: Collection[str] | None = None) -> ParsedFile:
    """Detect and parse one file (no store writes); refuse an unrecognised or malformed file.

    With ``symbols``, keep only bars of those tickers.
    """
    kind = detect(path)
    if isinstance(kind, Skip):
        raise BadBarFile(str(path), None, "a supported bar file", kind.reason)
    try:
        parsed = _PARSERS[kind](path, symbols)
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:  # a damaged archive
        found = f"{type(exc).__name__}: {exc}"
        raise BadBarFile(str(path), None, "a readable archive", found) from None
    if symbols is None:
        return parsed
    wanted = set(symbols)
    return replace(
        parsed,
        days=tuple(d for d in parsed.days if d.symbol in wanted),
        daily=tuple(d for d in parsed.daily if d.symbol in wanted),
        splits=tuple(s for s in parsed.splits if s.symbol in wanted),
    )


def import_path(
    path: Path, store: BarStore, *, symbols: Collection[str] | None = None
) -> ImportReport:
    """Import one file (strict) or every recognised file under a directory into ``store``."""
    if not path.exists():
        raise BadBarFile(str(path), None, "a bar file or a directory of them", "nothing there")
    tally = _Tally()
    if path.is_dir():
        for file in _walk(path):
            _import_file(file, store, symbols, tally, strict=False)
    else:
        _import_file(path, store, symbols, tally, strict=True)
    return tally.report()


def _walk(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def _import_file(
    path: Path, store: BarStore, symbols: Collection[str] | None, tally: _Tally, *, strict: bool
) -> None:
    kind = detect(path)
    if isinstance(kind, Skip) and not strict:
        tally.skipped.append(SkippedFile(path, kind.reason))
        return
    try:
        parsed = parse_file(path, symbols)
        _write(parsed, store, tally)
    except RefusedInput as exc:
        if strict:
            raise
        tally.failed.append(SkippedFile(path, str(exc)))


def _write(parsed: ParsedFile, store: BarStore, tally: _Tally) -> None:
    for bars in parsed.days:
        store.check_day(bars)
    for series in parsed.daily:
        store.check_daily(series)
    for bars in parsed.days:
        store.write_day(bars)
    for series in parsed.daily:
        store.write_daily(series)
    for symbol in sorted({split.symbol for split in parsed.splits}):
        store.write_splits(symbol, [s for s in parsed.splits if s.symbol == symbol])
    tally.formats[parsed.format] += 1
    tally.symbol_days += len(parsed.days)
    tally.daily_series += len(parsed.daily)
    tally.daily_rows += sum(len(s) for s in parsed.daily)
    tally.notes.extend(parsed.notes)
