"""Delimited text to typed numpy columns, vectorised, with errors that name the 1-based line.

Every cell is first read as text (pyarrow's CSV reader, one row per physical line), then each
column is cast in one vectorised call. Only when a cast fails is the column matched against a
regular expression (also vectorised) to find the first bad cell, so errors name the line without
a Python loop over the rows.
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from openbell.adapters.bars.importers.base import BadBarFile

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_INTEGER = r"^[+-]?\d+$"
_SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


@dataclass(frozen=True)
class TableSpec:
    """The expected shape of a file: its fields, separator and whether line 1 is a header."""

    fields: tuple[str, ...]
    delimiter: str = ","
    has_header: bool = False

    def describe(self) -> str:
        """``6 comma-separated fields (date,open,...)`` for error messages."""
        sep = _SEPARATOR_NAMES.get(self.delimiter, repr(self.delimiter))
        return f"{len(self.fields)} {sep}-separated fields ({','.join(self.fields)})"


EARLIEST_S = -2_208_988_800  # 1900-01-01: stamps are epoch ns in int64, good to 2262
LATEST_S = 7_258_118_400  # 2200-01-01


@dataclass(frozen=True)
class TextTable:
    """Rows of text cells, each row remembering its 1-based physical line in ``origin``."""

    origin: str
    table: pa.Table
    lines: I64

    def __len__(self) -> int:
        return len(self.lines)

    def cell(self, name: str, row: int) -> str:
        """The text of one cell, for messages."""
        return str(self.table.column(name)[row].as_py())

    def blank(self, name: str) -> BoolArray:
        """True where the cell in column ``name`` is empty."""
        column = self.table.column(name)
        return np.asarray(pc.equal(column, "").to_numpy(zero_copy_only=False), dtype=np.bool_)

    def take(self, rows: BoolArray | I64) -> TextTable:
        """The rows selected by a mask or by indices, keeping their line numbers."""
        index = np.flatnonzero(rows) if rows.dtype == np.bool_ else rows
        return TextTable(self.origin, self.table.take(pa.array(index)), self.lines[index])

    def groups(self, name: str) -> list[tuple[str, TextTable]]:
        """The rows split by the text in column ``name``, in order of first appearance."""
        column = self.table.column(name)
        return [
            (str(key), self.take(np.asarray(pc.equal(column, key).to_numpy(), dtype=np.bool_)))
            for key in pc.unique(column).to_pylist()
        ]

    def numbers(self, name: str) -> F64:
        """Column ``name`` as float64; refuse the first cell that is not a decimal number.

        (``nan`` and ``inf`` pass here; the bar checks refuse them with their line.)
        """
        return np.asarray(self._cast(name, pa.float64(), _NUMBER, "a number"), dtype=np.float64)

    def integers(self, name: str) -> I64:
        """Column ``name`` as int64; refuse the first cell that is not a whole number."""
        return np.asarray(self._cast(name, pa.int64(), _INTEGER, "a whole number"), dtype=np.int64)

    def times(self, name: str, fmt: str) -> I64:
        """Column ``name`` parsed with ``strptime`` format ``fmt`` as naive epoch seconds.

        Parsing is strict: 2013-02-30 or trailing text is refused, not rolled over.
        """
        text = pd.Series(self.table.column(name).to_numpy(zero_copy_only=False), dtype=object)
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        self._refuse_first(name, np.asarray(parsed.isna()), f"a time formatted as {fmt}")
        seconds = np.asarray(parsed.to_numpy().astype("datetime64[s]").astype(np.int64))
        outside = (seconds < EARLIEST_S) | (seconds >= LATEST_S)
        self._refuse_first(name, outside, "a time from 1900 to 2199")
        return seconds

    def epoch_ms(self, name: str) -> I64:
        """Column ``name``: whole epoch milliseconds, from 1900 to 2199."""
        ms = self.integers(name)
        outside = (ms < EARLIEST_S * 1000) | (ms >= LATEST_S * 1000)
        self._refuse_first(name, outside, "epoch milliseconds from 1900 to 2199")
        return ms

    def _cast(self, name: str, to: pa.DataType, pattern: str, what: str) -> Any:
        # Cast first (fast); only when that fails, find the first offending cell by pattern.
        column = self.table.column(name)
        try:
            return pc.cast(column, to).to_numpy()
        except pa.ArrowInvalid as exc:
            self._refuse_first(name, pc.invert(pc.match_substring_regex(column, pattern)), what)
            raise BadBarFile(self.origin, None, f"{what} in every {name} cell", str(exc)) from exc

    def _refuse_first(self, name: str, bad: Any, what: str) -> None:
        flags = np.asarray(bad if isinstance(bad, np.ndarray) else bad.to_numpy(), dtype=np.bool_)
        if flags.any():
            row = int(np.argmax(flags))
            raise BadBarFile(
                self.origin, int(self.lines[row]), f"{what} in {name}", repr(self.cell(name, row))
            )


def read_table(origin: str, data: bytes, spec: TableSpec) -> TextTable:
    """Parse ``data`` (the bytes of one text file) as ``spec`` says; refuse a malformed file.

    Accepts LF or CRLF line ends and a missing final newline. Refuses a wrong header, a row with
    the wrong number of fields (naming its line) and a file without data rows.
    """
    body = data.rstrip(b"\r\n")
    if spec.has_header:
        _check_header(origin, body, spec)
    rows = body.partition(b"\n")[2] if spec.has_header else body
    if not rows.strip():
        raise BadBarFile(origin, None, f"at least one row of {spec.describe()}", "no rows")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:  # pyarrow could not even show such a row
        line = body.count(b"\n", 0, exc.start) + 1
        found = f"bytes that are not UTF-8 ({exc.reason})"
        raise BadBarFile(origin, line, "UTF-8 text", found) from None
    invalid: list[tuple[int | None, int]] = []

    def on_invalid(row: Any) -> str:
        invalid.append((row.number, row.actual_columns))
        return "skip"

    try:
        table = pa_csv.read_csv(pa.py_buffer(body), **_csv_options(spec, on_invalid))
    except pa.ArrowInvalid as exc:
        raise BadBarFile(origin, None, spec.describe(), str(exc)) from exc
    if invalid:
        _refuse_field_count(origin, body, spec, invalid)
    first = 2 if spec.has_header else 1
    return TextTable(origin, table, np.arange(first, first + table.num_rows, dtype=np.int64))


def _csv_options(spec: TableSpec, on_invalid: Callable[[Any], str]) -> dict[str, Any]:
    # Every cell as text, every physical line a row (so row i is line i + first), no quoting.
    return {
        "read_options": pa_csv.ReadOptions(
            column_names=list(spec.fields), skip_rows=1 if spec.has_header else 0
        ),
        "parse_options": pa_csv.ParseOptions(
            delimiter=spec.delimiter,
            quote_char=False,
            ignore_empty_lines=False,
            invalid_row_handler=on_invalid,
        ),
        "convert_options": pa_csv.ConvertOptions(
            column_types=dict.fromkeys(spec.fields, pa.string()), strings_can_be_null=False
        ),
    }


def _check_header(origin: str, body: bytes, spec: TableSpec) -> None:
    header = body.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", errors="replace")
    expected = spec.delimiter.join(spec.fields)
    if header.lstrip("\ufeff") != expected:
        raise BadBarFile(origin, 1, f"the header {expected!r}", repr(header))


def _refuse_field_count(
    origin: str, body: bytes, spec: TableSpec, invalid: list[tuple[int | None, int]]
) -> None:
    known = [item for item in invalid if item[0] is not None]
    if known:
        line, found = min(known, key=lambda item: item[0] or 0)
    else:  # the reader could not say where; find the first short or long line ourselves
        line, found = _scan_field_counts(body, spec)
    raise BadBarFile(origin, line, spec.describe(), str(found))


def _scan_field_counts(body: bytes, spec: TableSpec) -> tuple[int, int]:
    separator = spec.delimiter.encode()
    for number, text in enumerate(body.splitlines(), start=1):
        if number == 1 and spec.has_header:
            continue
        count = text.count(separator) + 1
        if count != len(spec.fields):
            return number, count
    return 0, 0


def file_bytes(path: Path) -> bytes:
    """The bytes of a plain or gzip-compressed (``.gz``) file; refuse a broken gzip stream."""
    data = path.read_bytes()
    if path.suffix.lower() != ".gz":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise BadBarFile(str(path), None, "a gzip-compressed file", f"{exc}") from exc


def zip_csv_names(path: Path) -> list[str]:
    """The CSV members of the zip at ``path``; refuse a file that is not a zip archive."""
    try:
        with zipfile.ZipFile(path) as archive:
            return [name for name in archive.namelist() if name.lower().endswith(".csv")]
    except zipfile.BadZipFile as exc:
        raise BadBarFile(str(path), None, "a zip archive", f"{exc}") from exc


def zip_members(path: Path, names: Sequence[str]) -> Iterator[tuple[str, bytes]]:
    """``(origin, bytes)`` of each named zip member; ``origin`` reads ``<zip>!<member>``."""
    try:
        with zipfile.ZipFile(path) as archive:
            for name in names:
                yield f"{path}!{name}", archive.read(name)
    except (zipfile.BadZipFile, KeyError, zlib.error) as exc:
        raise BadBarFile(str(path), None, "readable zip members", f"{exc}") from exc


def zip_member(path: Path, name: str) -> tuple[str, bytes]:
    """``(origin, bytes)`` of one zip member; ``origin`` reads ``<zip>!<member>``."""
    return next(zip_members(path, [name]))


def single_csv_in_zip(path: Path) -> tuple[str, bytes]:
    """``(origin, bytes)`` of the one CSV inside the zip at ``path``; refuse none or several."""
    names = zip_csv_names(path)
    if len(names) != 1:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
        raise BadBarFile(
            str(path), None, "exactly one CSV file inside the zip", f"{len(names)} in {members}"
        )
    return zip_member(path, names[0])
