"""Draw report rows: a rich table for the terminal (shared by the CLI and the runtime), or
Markdown for notes and issues."""

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


def markdown_table(rows: Sequence[Mapping[str, str]], columns: Sequence[str], title: str) -> str:
    """A GitHub-flavoured Markdown table under a ``### title`` line; ``|`` in cells is
    escaped and line breaks become spaces, so a cell never breaks the table."""

    def cell(text: str) -> str:
        return " ".join(text.replace("|", "\\|").split())

    lines = [f"### {title}", "", "| " + " | ".join(columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n\n"
