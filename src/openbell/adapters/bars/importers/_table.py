"""Delimited text to typed numpy columns, vectorised, with errors that name the 1-based line.

Every cell is first read as text (pyarrow's CSV reader), then each column is checked with one
vectorised regular expression or ``strptime`` before it is cast, so the first bad cell can be
reported by its line without a Python loop over the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
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

    def numbers(self, name: str) -> F64:
        """Column ``name`` as float64; refuse the first cell that is not a decimal number."""
        column = self._matching(name, _NUMBER, "a number")
        return np.asarray(pc.cast(column, pa.float64()).to_numpy(), dtype=np.float64)

    def integers(self, name: str) -> I64:
        """Column ``name`` as int64; refuse the first cell that is not a whole number."""
        column = self._matching(name, _INTEGER, "a whole number")
        return np.asarray(pc.cast(column, pa.int64()).to_numpy(), dtype=np.int64)

    def times(self, name: str, fmt: str, *, exact: bool = True) -> I64:
        """Column ``name`` parsed with ``strptime`` format ``fmt`` as naive epoch seconds.

        With ``exact`` the text must also round-trip through ``fmt`` (this refuses 2013-02-30,
        which ``strptime`` would roll over into March); pass False for unpadded formats.
        """
        column = self.table.column(name)
        parsed = pc.strptime(column, format=fmt, unit="s", error_is_null=True)
        bad = pc.is_null(parsed)
        if exact:
            shown = pc.strftime(pc.fill_null(parsed, 0), format=fmt)
            bad = pc.or_(bad, pc.not_equal(shown, column))
        self._refuse_first(name, bad, f"a time formatted as {fmt}")
        return np.asarray(pc.cast(parsed, pa.int64()).to_numpy(), dtype=np.int64)

    def _matching(self, name: str, pattern: str, what: str) -> Any:
        column = self.table.column(name)
        self._refuse_first(name, pc.invert(pc.match_substring_regex(column, pattern)), what)
        return column

    def _refuse_first(self, name: str, bad: Any, what: str) -> None:
        flags = np.asarray(bad.to_numpy(zero_copy_only=False), dtype=np.bool_)
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
    invalid: list[tuple[int | None, int]] = []

    def on_invalid(row: Any) -> str:
        invalid.append((row.number, row.actual_columns))
        return "skip"

    table = pa_csv.read_csv(
        pa.py_buffer(body),
        read_options=pa_csv.ReadOptions(
            column_names=list(spec.fields), skip_rows=1 if spec.has_header else 0
        ),
        parse_options=pa_csv.ParseOptions(
            delimiter=spec.delimiter,
            quote_char=False,
            ignore_empty_lines=False,
            invalid_row_handler=on_invalid,
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(spec.fields, pa.string()), strings_can_be_null=False
        ),
    )
    if invalid:
        _refuse_field_count(origin, body, spec, invalid)
    if table.num_rows == 0:
        raise BadBarFile(origin, None, f"at least one row of {spec.describe()}", "no rows")
    first = 2 if spec.has_header else 1
    return TextTable(origin, table, np.arange(first, first + table.num_rows, dtype=np.int64))


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
