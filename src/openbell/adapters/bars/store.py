"""The bar store: Parquet files under one root, one per symbol-day or per daily series.

Layout::

    <root>/minute/<SYMBOL>/<YYYY-MM-DD>.parquet     one-minute bars of one trading day
    <root>/second/<SYMBOL>/<YYYY-MM-DD>.parquet     one-second bars (other sizes: ``<n>s``)
    <root>/daily/<basis>/<SYMBOL>.parquet           daily bars, one file per price basis

Intraday files hold ``start_ns`` (int64, UTC epoch ns of each bar's start) and
``open/high/low/close/volume`` (float64 dollars and shares); daily files hold ``day`` (date32)
instead of ``start_ns``. The Parquet key-value metadata carries symbol, trading day, resolution,
basis, synthetic flag and source. Every write goes to a temporary file in the target folder and
is moved into place with ``os.replace``, so readers never see half a file.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from openbell.bars import Basis, DailyBars, DayBars, Split
from openbell.domain.errors import InvalidValue, RefusedInput

FORMAT_VERSION = "1"
MAX_CLOSE_RATIO = 1.15
_PREFIX = "openbell."
_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-]{0,14}$")
_DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.parquet$")
_RESOLUTION_DIRS = {60: "minute", 1: "second"}
_PRICES = ("open", "high", "low", "close", "volume")
_INTRADAY_SCHEMA = pa.schema([("start_ns", pa.int64())] + [(n, pa.float64()) for n in _PRICES])
_DAILY_SCHEMA = pa.schema([("day", pa.date32())] + [(n, pa.float64()) for n in _PRICES])


class BasisMismatch(RefusedInput):
    """Refuse to put bars of one price basis next to bars of another (raw vs split-adjusted)."""


class UnreadableBarFile(RefusedInput):
    """A file in the store is not an openbell bar file (or not the one its path promises)."""


@dataclass(frozen=True)
class InventoryRow:
    """One series in the store: what ``data list`` shows.

    ``kind`` is ``minute``, ``second`` (or ``<n>s``) or ``daily``; ``count`` is the number of
    symbol-days for intraday kinds and of rows for daily; ``source`` joins every source with ``+``.
    """

    symbol: str
    kind: str
    basis: Basis
    first_day: date
    last_day: date
    count: int
    synthetic: bool
    source: str


def resolution_dir(resolution_s: int) -> str:
    """The folder name for bars of ``resolution_s`` seconds."""
    if resolution_s <= 0:
        raise InvalidValue("resolution_s", "seconds above 0", resolution_s)
    return _RESOLUTION_DIRS.get(resolution_s, f"{resolution_s}s")


def _checked_symbol(symbol: str) -> str:
    if not _SYMBOL.match(symbol):
        raise InvalidValue("symbol", "an upper-case ticker such as AAPL or BRK.B", symbol)
    return symbol


def _metadata(**fields: str) -> dict[bytes, bytes]:
    pairs = {"version": FORMAT_VERSION, **fields}
    return {f"{_PREFIX}{key}".encode(): value.encode() for key, value in pairs.items()}


def _read_metadata(path: Path, schema: pa.Schema) -> dict[str, str]:
    raw = schema.metadata or {}
    found = {
        key.decode()[len(_PREFIX) :]: value.decode()
        for key, value in raw.items()
        if key.startswith(_PREFIX.encode())
    }
    if found.get("version") != FORMAT_VERSION:
        raise UnreadableBarFile(
            f"{path}: expected openbell bar metadata version {FORMAT_VERSION}, "
            f"found {found.get('version')!r}"
        )
    return found


def _read(path: Path, schema: pa.Schema) -> tuple[pa.Table, dict[str, str]]:
    try:
        with pq.ParquetFile(path) as parquet:
            table = parquet.read(use_threads=False)
    except (OSError, pa.ArrowException) as exc:
        raise UnreadableBarFile(f"{path}: expected a Parquet bar file, found {exc}") from exc
    if not table.schema.remove_metadata().equals(schema):
        raise UnreadableBarFile(f"{path}: expected columns {schema.names}, found {table.schema}")
    return table, _read_metadata(path, table.schema)


def _basis(path: Path, meta: dict[str, str]) -> Basis:
    try:
        return Basis(meta.get("basis", ""))
    except ValueError:
        known = [b.value for b in Basis]
        raise UnreadableBarFile(f"{path}: expected a basis in {known}, found {meta}") from None


def _column(table: pa.Table, name: str) -> npt.NDArray[Any]:
    return np.asarray(table.column(name).to_numpy())


def _write_atomic(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class BarStore:
    """Reads and writes bars under ``root``; the constructor touches no files."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # ------------------------------------------------------------------ intraday

    def day_path(self, symbol: str, day: date, resolution_s: int = 60) -> Path:
        """Where one symbol-day of ``resolution_s`` bars lives."""
        folder = self.root / resolution_dir(resolution_s) / _checked_symbol(symbol)
        return folder / f"{day.isoformat()}.parquet"

    def write_day(self, bars: DayBars) -> Path:
        """Store one symbol-day, replacing any earlier copy of that day; return its path.

        Refuses (:class:`BasisMismatch`) a basis other than the one the symbol's stored days
        of this resolution already have.
        """
        path = self.check_day(bars)
        columns = [bars.start_ns, bars.open, bars.high, bars.low, bars.close, bars.volume]
        table = pa.Table.from_arrays(
            [pa.array(np.ascontiguousarray(c)) for c in columns], schema=_INTRADAY_SCHEMA
        )
        metadata = _metadata(
            kind="intraday",
            symbol=bars.symbol,
            trading_day=bars.trading_day.isoformat(),
            resolution_s=str(bars.resolution_s),
            basis=bars.basis.value,
            synthetic="true" if bars.synthetic else "false",
            source=bars.source,
        )
        _write_atomic(table.replace_schema_metadata(metadata), path)
        return path

    def check_day(self, bars: DayBars) -> Path:
        """Refuse (:class:`BasisMismatch`) what :meth:`write_day` would refuse; write nothing.

        Return the path the day would be written to.
        """
        path = self.day_path(bars.symbol, bars.trading_day, bars.resolution_s)
        neighbour = path if path.is_file() else next(iter(self._day_files(path.parent)), None)
        if neighbour is None:
            return path
        stored = _read_metadata(neighbour, pq.read_schema(neighbour)).get("basis")
        if stored != bars.basis.value:
            raise BasisMismatch(
                f"{bars.symbol} {bars.resolution_s}s bars are stored as {stored}; refusing to "
                f"add {bars.trading_day} as {bars.basis.value} (raw and split-adjusted never mix)"
            )
        return path

    def day(self, symbol: str, day: date, resolution_s: int = 60) -> DayBars | None:
        """One stored symbol-day, or None if the store has none."""
        path = self.day_path(symbol, day, resolution_s)
        if not path.exists():
            return None
        table, meta = _read(path, _INTRADAY_SCHEMA)
        promised = (symbol, day.isoformat(), str(resolution_s))
        if (meta.get("symbol"), meta.get("trading_day"), meta.get("resolution_s")) != promised:
            raise UnreadableBarFile(f"{path}: expected bars of {promised}, found {meta}")
        return DayBars(
            symbol=symbol,
            trading_day=day,
            resolution_s=resolution_s,
            start_ns=_column(table, "start_ns"),
            open=_column(table, "open"),
            high=_column(table, "high"),
            low=_column(table, "low"),
            close=_column(table, "close"),
            volume=_column(table, "volume"),
            basis=_basis(path, meta),
            synthetic=meta.get("synthetic") == "true",
            source=meta.get("source", ""),
        )

    def days(self, symbol: str, resolution_s: int = 60) -> list[date]:
        """Every stored trading day of ``symbol`` at ``resolution_s``, ascending."""
        folder = self.root / resolution_dir(resolution_s) / _checked_symbol(symbol)
        return [date.fromisoformat(p.name[:10]) for p in self._day_files(folder)]

    @staticmethod
    def _day_files(folder: Path) -> list[Path]:
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if _DAY_FILE.match(p.name) and p.is_file())

    # ------------------------------------------------------------------ daily

    def daily_path(self, symbol: str, basis: Basis = Basis.RAW) -> Path:
        """Where the daily series of ``symbol`` in ``basis`` lives."""
        return self.root / "daily" / basis.value / f"{_checked_symbol(symbol)}.parquet"

    def check_daily(self, bars: DailyBars) -> None:
        """Refuse (:class:`BasisMismatch`) what :meth:`write_daily` would refuse; write nothing.

        Besides a stored file of another basis, refuse a series whose close differs from the
        stored close of a shared day by more than ``MAX_CLOSE_RATIO`` (15%): two sources of
        one basis agree to within cents, so such a gap means a mislabelled basis (a 2:1 split
        shows as 100%, a 5:4 split as 25%).
        """
        stored = self._stored_daily(bars.symbol, bars.basis)
        if stored is not None:
            _check_closes(stored[0], stored[1].get("source", ""), bars)

    def write_daily(self, bars: DailyBars) -> Path:
        """Merge ``bars`` into the stored series of its basis (union by day, new rows win)."""
        path = self.daily_path(bars.symbol, bars.basis)
        table = pa.Table.from_arrays(
            [pa.array(bars.days.astype("datetime64[D]"), type=pa.date32())]
            + [pa.array(np.ascontiguousarray(getattr(bars, n))) for n in _PRICES],
            schema=_DAILY_SCHEMA,
        )
        source = bars.source
        stored = self._stored_daily(bars.symbol, bars.basis)
        if stored is not None:
            old, meta = stored
            _check_closes(old, meta.get("source", ""), bars)
            kept = old.filter(pc.invert(pc.is_in(old.column("day"), value_set=table["day"])))
            table = pa.concat_tables([kept, table]).sort_by("day")
            source = _joined([meta.get("source", ""), source] if kept.num_rows else [source])
        metadata = _metadata(
            kind="daily",
            symbol=bars.symbol,
            basis=bars.basis.value,
            synthetic="false",
            source=source,
        )
        _write_atomic(table.replace_schema_metadata(metadata), path)
        return path

    def _stored_daily(self, symbol: str, basis: Basis) -> tuple[pa.Table, dict[str, str]] | None:
        path = self.daily_path(symbol, basis)
        if not path.exists():
            return None
        table, meta = _read(path, _DAILY_SCHEMA)
        if meta.get("basis") != basis.value or meta.get("symbol") != symbol:
            raise BasisMismatch(
                f"{path}: expected {symbol} daily bars in basis {basis.value}, found "
                f"{meta.get('symbol')} in {meta.get('basis')} (raw and split-adjusted never mix)"
            )
        return table.replace_schema_metadata(None), meta

    def daily(
        self,
        symbol: str,
        start: date | None = None,
        end: date | None = None,
        basis: Basis = Basis.RAW,
    ) -> DailyBars | None:
        """Stored daily bars of ``symbol`` in ``basis`` with start <= day <= end (both optional,
        inclusive), or None if there are none."""
        stored = self._stored_daily(symbol, basis)
        if stored is None:
            return None
        table, meta = stored
        days = _column(table, "day").astype("datetime64[D]")
        lo = 0 if start is None else int(np.searchsorted(days, np.datetime64(start, "D")))
        hi = len(days)
        if end is not None:
            hi = int(np.searchsorted(days, np.datetime64(end, "D"), side="right"))
        if hi <= lo:
            return None
        rows = table.slice(lo, hi - lo)
        return DailyBars(
            symbol=symbol,
            days=days[lo:hi],
            open=_column(rows, "open"),
            high=_column(rows, "high"),
            low=_column(rows, "low"),
            close=_column(rows, "close"),
            volume=_column(rows, "volume"),
            basis=basis,
            source=meta.get("source", ""),
        )

    # ------------------------------------------------------------------ inventory

    def splits_path(self, symbol: str) -> Path:
        return self.root / "splits" / f"{_checked_symbol(symbol)}.parquet"

    def write_splits(self, symbol: str, splits: Sequence[Split]) -> Path:
        """Replace the split history of ``symbol`` (from a factor file: always the whole)."""
        ordered = sorted(splits, key=lambda s: s.last_day_before)
        table = pa.table(
            {
                "last_day_before": pa.array([s.last_day_before for s in ordered], pa.date32()),
                "ratio": pa.array([s.ratio for s in ordered], pa.float64()),
            }
        )
        path = self.splits_path(symbol)
        _write_atomic(table, path)
        return path

    def splits(self, symbol: str) -> tuple[Split, ...]:
        """The splits of ``symbol`` the store knows, oldest first (none if never imported)."""
        path = self.splits_path(symbol)
        if not path.is_file():
            return ()
        table = pq.read_table(path)
        days = table.column("last_day_before").to_pylist()
        ratios = table.column("ratio").to_pylist()
        return tuple(Split(symbol, d, float(r)) for d, r in zip(days, ratios, strict=True))

    def inventory(self) -> list[InventoryRow]:
        """Every stored series, sorted by symbol, kind and basis."""
        if not self.root.is_dir():
            return []
        rows: list[InventoryRow] = []
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if folder.name == "daily":
                rows.extend(self._daily_inventory(folder))
            else:
                rows.extend(self._intraday_inventory(folder))
        return sorted(rows, key=lambda r: (r.symbol, r.kind, r.basis.value))

    def _intraday_inventory(self, folder: Path) -> list[InventoryRow]:
        rows = []
        for symbol_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            files = self._day_files(symbol_dir)
            if not files:
                continue
            metas = [_read_metadata(p, pq.read_schema(p)) for p in files]
            rows.append(
                InventoryRow(
                    symbol=symbol_dir.name,
                    kind=folder.name,
                    basis=_basis(files[0], metas[0]),
                    first_day=date.fromisoformat(files[0].name[:10]),
                    last_day=date.fromisoformat(files[-1].name[:10]),
                    count=len(files),
                    synthetic=any(m.get("synthetic") == "true" for m in metas),
                    source=_joined(m.get("source", "") for m in metas),
                )
            )
        return rows

    def _daily_inventory(self, folder: Path) -> list[InventoryRow]:
        rows = []
        for basis in Basis:
            for path in sorted((folder / basis.value).glob("*.parquet")):
                try:
                    with pq.ParquetFile(path) as parquet:
                        days = parquet.read(columns=["day"], use_threads=False)
                except (OSError, pa.ArrowException) as exc:
                    raise UnreadableBarFile(f"{path}: expected a Parquet bar file: {exc}") from exc
                meta = _read_metadata(path, days.schema)
                values = _column(days, "day")
                if len(values) == 0:
                    continue
                rows.append(
                    InventoryRow(
                        symbol=meta.get("symbol", path.stem),
                        kind="daily",
                        basis=basis,
                        first_day=values.min().item(),
                        last_day=values.max().item(),
                        count=len(values),
                        synthetic=meta.get("synthetic") == "true",
                        source=meta.get("source", ""),
                    )
                )
        return rows


def _joined(sources: Iterable[str]) -> str:
    names: set[str] = set()
    for source in sources:
        names.update(part for part in source.split("+") if part)
    return "+".join(sorted(names))


def _check_closes(stored: pa.Table, stored_source: str, new: DailyBars) -> None:
    stored_days = _column(stored, "day").astype("datetime64[D]")
    shared, at_stored, at_new = np.intersect1d(stored_days, new.days, return_indices=True)
    if len(shared) == 0:
        return
    old_close = _column(stored, "close")[at_stored]
    ratio = old_close / new.close[at_new]
    off = np.maximum(ratio, 1 / ratio) > MAX_CLOSE_RATIO
    if off.any():
        i = int(np.argmax(off))
        raise BasisMismatch(
            f"{new.symbol} {new.basis.value} daily bars: {shared[i]} closes at "
            f"{new.close[at_new[i]]:g} in the new series ({new.source}) but {old_close[i]:g} in "
            f"the store ({stored_source}); the series look like different price bases "
            "(raw vs split-adjusted), refusing to merge"
        )
