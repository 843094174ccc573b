"""Draw report rows as a rich table (the terminal renderer shared by the CLI and the runtime)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.table import Table


def rows_table(rows: Sequence[Mapping[str, str]], columns: Sequence[str], title: str) -> Table:
    """A table with one column per name in ``columns`` and one line per row."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(row.get(column, "") for column in columns))
    return table
