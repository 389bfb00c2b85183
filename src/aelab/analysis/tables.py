"""Markdown tables: they read in a terminal and paste into the docs as they are."""

from __future__ import annotations


def markdown_table(header: list[str], rows: list[list[str]], numeric_from: int = 1) -> list[str]:
    """Lines of a table; columns from ``numeric_from`` on are right-aligned (numbers)."""
    align = ["---" if i < numeric_from else "--:" for i in range(len(header))]
    return ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"] + [
        "| " + " | ".join(row) + " |" for row in rows
    ]
