"""The report's page: blocks of content laid out as one self-contained HTML file.

Everything is inline (the CSS in a ``<style>``, the figures as ``data:`` URIs) and the page's
Content-Security-Policy refuses it any request at all, so it opens offline, from a mail or a
USB stick, and tells no server that it was opened. Every string is escaped here, whatever its
source: class names and paths come from the user's own files. No torch here.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from html import escape

# Nothing may be fetched: images only from data: URIs, styles only from the page itself.
CONTENT_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
:root { color-scheme: light; --ink: #1d232a; --muted: #5b6672; --rule: #d7dde3; --band: #f3f6f8; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; padding: 1.5rem 1.25rem 3rem; max-width: 70rem; }
header { border-bottom: 2px solid var(--ink); padding-bottom: .75rem; margin-bottom: 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--rule); padding-bottom: .2rem; }
.subtitle, figcaption, .note { color: var(--muted); }
nav ol { display: flex; flex-wrap: wrap; gap: .25rem 1.25rem; list-style: none; padding: 0; margin: .5rem 0 0; }
nav a { color: #0b5cad; text-decoration: none; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { padding: .2rem .7rem; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
th { background: var(--band); }
td.num, th.num { text-align: right; }
table.facts { display: inline-table; vertical-align: top; margin-right: 2.5rem; }
table.facts th { background: none; font-weight: 600; white-space: nowrap; }
figure { margin: .75rem 0 1.25rem; }
#summary figure { display: inline-block; vertical-align: top; margin: 0; }
img { max-width: 100%; height: auto; display: block; }
details { margin: .5rem 0 1rem; }
summary { cursor: pointer; color: #0b5cad; }
pre { background: var(--band); padding: .5rem; overflow-x: auto; }
"""


@dataclass
class Text:
    text: str
    note: bool = False  # a side remark, shown muted


@dataclass
class Facts:
    """Name and value pairs, one per row."""

    rows: list[tuple[str, str]]


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    numeric_from: int = 1  # columns from here on hold numbers, right-aligned


@dataclass
class Markdown:
    """Lines as :func:`.tables.markdown_table` and the text reports write them: tables and paragraphs."""

    lines: list[str]


@dataclass
class Image:
    png: bytes
    alt: str
    caption: str = ""


@dataclass
class Details:
    """Blocks folded away behind a summary line (no script: the browser's own <details>)."""

    summary: str
    blocks: list


@dataclass
class Section:
    anchor: str
    heading: str
    blocks: list = field(default_factory=list)


@dataclass
class Page:
    title: str
    subtitle: str
    sections: list[Section]


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def cell(tag: str, text: str, numeric: bool) -> str:
    return f"<{tag}{' class=num' if numeric else ''}>{escape(text)}</{tag}>"


def table_html(header: list[str], rows: list[list[str]], numeric: list[bool]) -> str:
    head = "".join(cell("th", h, n) for h, n in zip(header, numeric))
    body = "".join("<tr>" + "".join(cell("td", c, n) for c, n in zip(row, numeric)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def paragraphs(lines: list[str]) -> list[list[str]]:
    """Runs of non-blank lines."""
    chunks, current = [], []
    for line in lines + [""]:
        if line.strip():
            current.append(line)
        elif current:
            chunks.append(current)
            current = []
    return chunks


def markdown_row(line: str) -> list[str]:
    return [c.strip() for c in line.strip().removeprefix("|").removesuffix("|").split("|")]


def markdown_html(lines: list[str]) -> str:
    """The tables of ``lines`` as HTML tables, the rest as paragraphs.

    A row whose cells do not line up with the header (a class name holding a ``|``) cannot be
    split back into cells; that table is shown as the text it is, escaped.
    """
    parts = []
    for chunk in paragraphs(lines):
        if len(chunk) < 2 or not all(line.lstrip().startswith("|") for line in chunk):
            parts.append(f"<p>{escape(' '.join(chunk))}</p>")
            continue
        header, align, *rows = (markdown_row(line) for line in chunk)
        if any(len(row) != len(header) for row in [align] + rows):
            parts.append(f"<pre>{escape(chr(10).join(chunk))}</pre>")
            continue
        parts.append(table_html(header, rows, [a.endswith(":") for a in align]))
    return "\n".join(parts)


def block_html(block) -> str:
    if isinstance(block, Text):
        return f"<p{' class=note' if block.note else ''}>{escape(block.text)}</p>"
    if isinstance(block, Facts):
        rows = "".join(f"<tr><th scope=row>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in block.rows)
        return f"<table class=facts><tbody>{rows}</tbody></table>"
    if isinstance(block, Table):
        return table_html(block.header, block.rows, [i >= block.numeric_from for i in range(len(block.header))])
    if isinstance(block, Markdown):
        return markdown_html(block.lines)
    if isinstance(block, Image):
        caption = f"<figcaption>{escape(block.caption)}</figcaption>" if block.caption else ""
        return f'<figure><img src="{data_uri(block.png)}" alt="{escape(block.alt)}">{caption}</figure>'
    if isinstance(block, Details):
        inner = "\n".join(block_html(b) for b in block.blocks)
        return f"<details><summary>{escape(block.summary)}</summary>\n{inner}\n</details>"
    raise TypeError(f"no HTML for a {type(block).__name__}")


def render(page: Page) -> str:
    """The whole page as one string."""
    nav = "".join(f'<li><a href="#{escape(s.anchor)}">{escape(s.heading)}</a></li>' for s in page.sections)
    body = "\n".join(
        f'<section id="{escape(s.anchor)}">\n<h2>{escape(s.heading)}</h2>\n'
        + "\n".join(block_html(b) for b in s.blocks)
        + "\n</section>"
        for s in page.sections
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CONTENT_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(page.title)}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>{escape(page.title)}</h1>
<div class="subtitle">{escape(page.subtitle)}</div>
<nav><ol>{nav}</ol></nav>
</header>
{body}
</body>
</html>
"""
