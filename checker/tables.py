"""Plain-text tables: a header, a rule, aligned columns. No terminal styling."""

from __future__ import annotations


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Lines of a left-aligned table; trailing spaces are stripped from every line."""
    widths = [len(h) for h in header]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"row has {len(row)} cells, header has {len(header)}")
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    return [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]
