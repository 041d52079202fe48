"""What "no live markup" means for each sink, as checks that return the problems they find.

No Markdown renderer is a dependency, so :func:`markdown_problems` models the CommonMark/GFM rules
that could turn a value into markup: fenced blocks, code spans (a run of n backticks to the next run
of exactly n), backslash escapes, raw HTML and autolinks (any ``<``), links and images (``[``, ``]``),
GFM's bare-URL and e-mail autolinks, entities, ATX and setext headings, and table cells (unescaped
``|``). Whatever a code span holds is inert; outside code spans and our fences only this module's
allowances may remain.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

# Controls, bidi overrides and zero-width characters: nothing of the kind may reach any sink.
CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_ESCAPE = re.compile(r"\\[!-/:-@\[-`{-~]")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]|$)")
_SETEXT = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
# A line a setext underline would turn into a heading: paragraph text, not a block of its own.
_PARAGRAPH = re.compile(r"^ {0,3}(?![-*+>#|]|\d+[.)]|`{3}|~{3})\S")
_AUTOLINK = re.compile(r"(?i)\b(?:https?|ftp)://|\bwww\.|[A-Za-z0-9._%+-]@[A-Za-z0-9-]+\.[A-Za-z]")
_ENTITY_OK = re.compile(r"&(?:amp|lt|gt);")


def strip_code_spans(line: str) -> tuple[str, list[str]]:
    """The line without its code spans (CommonMark's rule), and the spans' contents."""
    out: list[str] = []
    spans: list[str] = []
    i = 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            out.append(line[i : i + 2])
            i += 2
            continue
        if line[i] != "`":
            out.append(line[i])
            i += 1
            continue
        run = len(line[i:]) - len(line[i:].lstrip("`"))
        j = i + run
        close = None
        while True:
            k = line.find("`" * run, j)
            if k < 0:
                break
            after = len(line[k:]) - len(line[k:].lstrip("`"))
            if after == run:
                close = k
                break
            j = k + after
        if close is None:
            out.append("`" * run)  # an unclosed run is literal backticks
            i += run
            continue
        spans.append(line[i + run : close])
        out.append("\x00CODE\x00")
        i = close + run
    return "".join(out), spans


def _table_cells(line: str) -> int:
    """Cells of a GFM table row: unescaped pipes (also inside code spans), minus the outer two."""
    return len(re.findall(r"(?<!\\)\|", line)) - 1


def markdown_problems(markdown: str, *, allowed_headings: list[str] | None = None) -> list[str]:
    """Everything in ``markdown`` that a viewer would render as markup other than ours."""
    problems: list[str] = []
    if CONTROLS.search(markdown.replace("\n", "")):
        problems.append("a control, bidi or zero-width character")
    fence: str | None = None
    headings: list[str] = []
    columns: int | None = None
    previous = ""
    for n, line in enumerate(markdown.split("\n"), start=1):
        opened = _FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                if opened.group(2).strip():
                    problems.append(f"line {n}: text after a closing fence")
                fence = None
            continue
        if opened:
            fence = opened.group(1)
            continue
        if _HEADING.match(line):
            headings.append(line)
        if _SETEXT.match(line) and _PARAGRAPH.match(previous):
            problems.append(f"line {n}: a setext heading underline")
        previous = line
        if line.startswith("|"):
            cells = _table_cells(line)
            if line.startswith("|---") or line.startswith("|--"):
                columns = cells
            elif columns is not None and cells != columns:
                problems.append(f"line {n}: {cells} cells in a {columns}-column table")
        else:
            columns = None
        text, _ = strip_code_spans(line)
        text = _ESCAPE.sub("", text)
        body = re.sub(r"^\s*- \[ \] ", "", text)  # our own checklist
        for char, what in (("<", "raw HTML or an autolink"), ("[", "a link or image"), ("]", "a link")):
            if char in body:
                problems.append(f"line {n}: {what}: {line[:120]!r}")
        if _AUTOLINK.search(body):
            problems.append(f"line {n}: a bare URL or e-mail address (GFM autolink): {line[:120]!r}")
        if re.search(r"&(?!amp;|lt;|gt;)", body):
            problems.append(f"line {n}: an entity or bare &: {line[:120]!r}")
    if fence is not None:
        problems.append("a fenced block never closed")
    if allowed_headings is not None and headings != allowed_headings:
        extra = [h for h in headings if h not in allowed_headings]
        problems.append(f"headings differ from ours: {extra[:5] or headings[:5]}")
    return problems


def headings(markdown: str) -> list[str]:
    """The heading lines of a Markdown text (outside fenced blocks)."""
    out: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        opened = _FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            continue
        if opened:
            fence = opened.group(1)
        elif _HEADING.match(line):
            out.append(line)
    return out


def terminal_problems(text: str) -> list[str]:
    """A control other than newline, an escape sequence, a bidi override or a zero-width character."""
    return [
        f"{unicodedata.name(m.group(0), hex(ord(m.group(0))))} at {m.start()}"
        for m in CONTROLS.finditer(text)
    ]


def email_problems(
    subject: str, body: str, *, fake_lines: tuple[str, ...] = (), max_line: int = 2600
) -> list[str]:
    """One line per value, no controls, URLs from data defanged, lines capped; a plain-ASCII subject."""
    problems: list[str] = []
    if len(subject) > 100 or not subject.isascii() or CONTROLS.search(subject) or "\n" in subject:
        problems.append(f"subject: {subject!r}")
    if CONTROLS.search(body.replace("\n", "")):
        problems.append("body: a control, bidi or zero-width character")
    for n, line in enumerate(body.split("\n"), start=1):
        if len(line) > max_line:
            problems.append(f"line {n}: {len(line)} characters")
        if line.strip() in fake_lines:
            problems.append(f"line {n}: a line of the data alone: {line[:80]!r}")
    return problems


MENTIONS = re.compile(r"(?i)@(?:channel|here|everyone|all|present)\b")


def chat_problems(text: str) -> list[str]:
    """Slack/Chime: no < or > (mentions, links), & only in entities, no bare @-mentions, no controls."""
    problems: list[str] = []
    if "<" in text or ">" in text:
        problems.append("a < or > (a Slack mention or link)")
    if re.search(r"&(?!amp;|lt;|gt;)", text):
        problems.append("a bare &")
    if MENTIONS.search(text):
        problems.append(f"a mention: {MENTIONS.search(text).group(0)}")  # type: ignore[union-attr]
    if CONTROLS.search(text.replace("\n", "")):
        problems.append("a control character")
    return problems


_SAFE_TAGS = frozenset(
    [
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "main",
        "header",
        "footer",
        "section",
        "h1",
        "h2",
        "h3",
        "h4",
        "p",
        "div",
        "span",
        "code",
        "pre",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "ul",
        "ol",
        "li",
        "strong",
        "em",
        "b",
        "small",
        "details",
        "summary",
        "nav",
        "svg",
        "g",
        "rect",
        "line",
        "text",
        "path",
        "circle",
        "polyline",
    ]
)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.csp: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SAFE_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in ("href", "src", "srcset", "action", "formaction"):
                self.problems.append(f"<{tag} {name}={value!r}>")
        if tag == "meta" and dict(attrs).get("http-equiv") == "Content-Security-Policy":
            self.csp.append(str(dict(attrs).get("content")))


def html_problems(page: str, csp: str) -> list[str]:
    """Elements or attributes that could run, load or link anything; the CSP present and unchanged."""
    parser = _Tags()
    parser.feed(page)
    parser.close()
    if parser.csp != [csp]:
        parser.problems.append(f"Content-Security-Policy {parser.csp}")
    return parser.problems
