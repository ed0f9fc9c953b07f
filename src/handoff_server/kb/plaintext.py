"""KB answers are Markdown; a chat message is plain text. :func:`markdown_to_text` turns
one into the other the same way for every client, so the server sends plain text and
no client renders Markdown on its own.

Parsing is markdown-it-py's (CommonMark, plus tables and strikethrough); only the output
is ours, so what counts as emphasis, a link or code is exactly what a Markdown viewer
would show.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

__all__ = ["markdown_to_text"]

_parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])

_LIST_KINDS = ("bullet_list", "ordered_list")


def markdown_to_text(markdown: str) -> str:
    """Markdown → plain text a visitor reads well.

    - headings and paragraphs: their text, blocks separated by one blank line;
    - emphasis, strong, strikethrough: the text without the markers;
    - links: ``text (url)`` (just the url when the text is the url); images
      ``alt (url)``;
    - bullet lists: ``- item``; ordered lists keep their numbers (``1. item``); nested
      items are indented two spaces per level;
    - code: kept verbatim (inline code without its backticks, blocks line for line);
    - tables: one line per row, cells joined by `` | ``;
    - raw HTML is kept as written (it is data, never interpreted).

    Escapes and entities are resolved (``\\*`` → ``*``, ``&amp;`` → ``&``). Never raises
    on any string.
    """
    tree = SyntaxTreeNode(_parser.parse(markdown))
    return _join_blocks(tree.children).strip()


def _join_blocks(nodes: list[SyntaxTreeNode]) -> str:
    return "\n\n".join(text for text in (_block(n) for n in nodes) if text)


def _block(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind in ("paragraph", "heading"):
        return _inline_children(node).strip()
    if kind in _LIST_KINDS:
        return _list(node)
    if kind in ("code_block", "fence"):
        return node.content.rstrip("\n")
    if kind == "html_block":
        return node.content.strip()
    if kind == "table":
        return _table(node)
    if kind == "hr":
        return ""
    return _join_blocks(node.children)


def _list(node: SyntaxTreeNode) -> str:
    ordered = node.type == "ordered_list"
    start = int(node.attrs.get("start", 1)) if ordered else 1
    items = []
    for i, item in enumerate(node.children):
        marker = f"{start + i}. " if ordered else "- "
        body = "\n".join(text for text in (_block(c) for c in item.children) if text)
        first, *rest = body.split("\n") if body else [""]
        pad = " " * len(marker) if ordered else "  "
        items.append("\n".join([marker + first, *(pad + line if line else line for line in rest)]))
    return "\n".join(items)


def _table(node: SyntaxTreeNode) -> str:
    rows = []
    for section in node.children:
        for row in section.children:
            rows.append(" | ".join(_inline_children(cell).strip() for cell in row.children))
    return "\n".join(rows)


def _inline_children(node: SyntaxTreeNode) -> str:
    return "".join(_inline(c) for c in node.children)


def _inline(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind in ("text", "code_inline", "html_inline"):
        return node.content
    if kind == "softbreak":
        return " "
    if kind == "hardbreak":
        return "\n"
    if kind == "link":
        label = _inline_children(node)
        href = str(node.attrs.get("href", ""))
        if not href or label in (href, href.removeprefix("mailto:")):
            return label or href
        return f"{label} ({href})"
    if kind == "image":
        alt = _inline_children(node) or node.content
        src = str(node.attrs.get("src", ""))
        return f"{alt} ({src})" if alt else src
    return _inline_children(node)
