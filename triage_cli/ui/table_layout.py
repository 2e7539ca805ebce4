"""Tables that fit the window: whole columns are dropped by priority until the others fit at a
readable width, and long text wraps at word boundaries (a word wider than its column folds).

rich squeezes every column of a too-wide table, down to zero width or one letter a line; here the
widths are worked out first, so a narrow window shows fewer columns, each of them readable.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text

MIN_WRAP = 10  # a wrapping column narrower than this reads a word or two a line


@dataclass(frozen=True)
class Column:
    header: str
    priority: int  # 0 is kept longest; the highest is dropped first
    wraps: bool = False  # free text that may wrap at spaces; other columns keep one line


def fit_table(title: str, columns: list[Column], rows: list[list[Text]], width: int) -> tuple[Table, list[str]]:
    """A table of `rows` at most `width` columns wide, and the headers of the columns left out."""
    natural = [max([len(c.header), *(cell.cell_len for cell in cells)]) for c, cells in
               zip(columns, zip(*rows, strict=True) if rows else [()] * len(columns), strict=True)]
    least = [min(n, max(MIN_WRAP, *(len(w) for w in c.header.split()))) if c.wraps else n
             for c, n in zip(columns, natural, strict=True)]
    kept = list(range(len(columns)))
    while len(kept) > 1 and _needed([least[i] for i in kept]) > width:
        kept.remove(max(kept, key=lambda i: columns[i].priority))
    widths = {i: least[i] for i in kept}
    spare = width - _needed(list(widths.values()))
    growing = [i for i in kept if columns[i].wraps]
    while spare > 0 and any(widths[i] < natural[i] for i in growing):
        for i in growing:
            if spare > 0 and widths[i] < natural[i]:
                widths[i] += 1
                spare -= 1
    table = Table(title=title, title_justify="left")
    for i in kept:
        column = columns[i]
        table.add_column(column.header, width=widths[i], no_wrap=not column.wraps,
                         overflow="fold" if column.wraps else "ellipsis")
    for row in rows:
        table.add_row(*(row[i] for i in kept))
    return table, [columns[i].header for i in range(len(columns)) if i not in kept]


def _needed(widths: list[int]) -> int:
    """The width of a table with these column widths: one space of padding each side of every
    column, and a border before, between and after them."""
    return sum(widths) + 3 * len(widths) + 1


def hidden_note(dropped: list[str]) -> Text | None:
    """One dim line naming the columns a narrow window left out."""
    if not dropped:
        return None
    return Text(f"Not shown at this width: {', '.join(h.lower() for h in dropped)}.", style="dim")
