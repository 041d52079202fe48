"""One encoder per output sink: what the attacker wrote is shown, never obeyed.

CloudTrail fields (object keys, user agents, policy Sids, error messages, even source addresses in a
forged record) reach report.md, the terminal, the SOC e-mail and the chat webhook. Each sink has its
own live syntax, so each gets its own encoder:

- :func:`md_text` (prose and table cells) and :func:`md_code` (identifiers) for Markdown: one line,
  control characters gone, every character a Markdown viewer would act on escaped (``<`` ``>`` ``&``
  as entities, which every dialect honours; ``[`` ``]`` ``!`` backticks ``|`` ``#`` ``*`` ``_`` ...
  with backslashes; ``://``, ``www.`` and ``@`` too, so GFM's bare-URL autolinks do not fire);
- :func:`terminal` for anything printed: escape sequences, carriage returns and bidi overrides are
  shown as ``\\x1b``-style text, so a terminal never receives one that came from input;
- :func:`email_value` for a value in the SOC e-mail: one line, control characters stripped, URLs
  defanged (``hxxp``-style: ``[:]//``), capped at a length with what was cut said;
- :func:`chat_text` for Slack and Chime payloads: ``&`` ``<`` ``>`` escaped (Slack's control
  characters for mentions and ``<url|label>`` links) and ``@channel``-style mentions neutralized.

report.html has its own escaping (:mod:`responder.report_html`: ``html.escape`` and a CSP).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

MD_VALUE_MAX = 1000  # a value in report.md; report.json keeps it whole
EMAIL_VALUE_MAX = 200  # a value in the SOC e-mail
EMAIL_TEXT_MAX = 600  # a sentence of the e-mail that carries values (an error message, a reason)

# ESC/CSI sequences as a whole (so no "[2J" is left behind): CSI, OSC (to BEL or ST), DCS/SOS/PM/APC
# strings, two-character escapes, and the 8-bit CSI.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
)
_LINE_BREAKS = frozenset("\r\n\x0b\x0c\x85\u2028\u2029\t")
# Markdown: escaped with a backslash wherever they are; < > & become entities.
_MD_PUNCT = frozenset("\\`*_{}[]#+!|~$")
_MD_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_MD_LINE_START = re.compile(r"^(\d+)([.)])|^([-=])")
_URL = re.compile(r"(?i)\b(?:https?|ftps?|file)://|\bwww\.")
_MENTION = re.compile(r"@(?=(?:channel|here|everyone|all|present)\b)", re.IGNORECASE)


def _invisible(char: str) -> bool:
    """A character that moves the cursor, reorders text or hides: control, format, surrogate."""
    return unicodedata.category(char) in ("Cc", "Cf", "Cs")


def plain(value: Any) -> str:
    """One line of text: escape sequences removed, line breaks and tabs as spaces, other controls,
    bidi overrides and zero-width characters removed, lone surrogates as U+FFFD."""
    text = "" if value is None else str(value)
    if text.isprintable():  # the common case: nothing to do
        return text
    text = _ESCAPES.sub("", text)
    out = []
    for char in text:
        if char in _LINE_BREAKS:
            out.append(" ")
        elif unicodedata.category(char) == "Cs":
            out.append("\ufffd")
        elif not _invisible(char):
            out.append(char)
    return "".join(out)


def cap(text: str, limit: int, *, where: str = "") -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut (and where the rest is)."""
    if len(text) <= limit:
        return text
    rest = f" in {where}" if where else ""
    note = f"... [{len(text) - limit} more characters{rest}]"
    return text[: max(limit, 0)].rstrip() + note


def defang(text: str) -> str:
    """Links a mail client would make clickable, made inert: ``http[:]//host``, ``www[.]host``
    (``s3://`` and ARNs stay as they are: nothing links them)."""
    return _URL.sub(
        lambda m: m.group(0)[:-3] + "[:]//" if m.group(0).endswith("://") else m.group(0)[:3] + "[.]", text
    )


# --- Markdown ---------------------------------------------------------------------------------


def md_text(value: Any, *, limit: int = MD_VALUE_MAX) -> str:
    """Text that renders as itself in any Markdown viewer, on one line (prose, table cells)."""
    text = cap(plain(value), limit, where="report.json")
    out: list[str] = []
    for i, char in enumerate(text):
        if char in _MD_ENTITIES:
            out.append(_MD_ENTITIES[char])
        elif char == "_" and text[i - 1 : i].isalnum() and text[i + 1 : i + 2].isalnum():
            out.append(char)  # intraword: never emphasis in CommonMark (disable_access_key)
        elif char in _MD_PUNCT:
            out.append("\\" + char)
        elif char == ":" and text.startswith("//", i + 1):
            out.append("\\:")  # GFM autolinks a bare http://...: an escape splits the text node
        elif char == "." and text[max(i - 3, 0) : i].lower() == "www":
            out.append("\\.")
        elif char == "@":
            out.append("\\@")  # e-mail autolinks
        else:
            out.append(char)
    escaped = "".join(out)
    # Where the value starts a line: a list marker, an ordered-list number, a setext underline.
    return _MD_LINE_START.sub(
        lambda m: f"{m.group(1)}\\{m.group(2)}" if m.group(1) else f"\\{m.group(3)}", escaped
    )


def md_code(value: Any, *, limit: int = MD_VALUE_MAX, table: bool = False) -> str:
    """An identifier as a code span (nothing inside is parsed), fenced longer than any backtick run.

    ``table``: inside a GFM table row, where a ``|`` ends the cell even in a code span unless escaped.
    """
    text = cap(plain(value), limit, where="report.json")
    if not text:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text.startswith(("`", " ")) or text.endswith(("`", " ")):
        text = f" {text} "  # CommonMark strips one space on each side
    if table:
        text = text.replace("|", "\\|")
    return f"{fence}{text}{fence}"


def md_fence(body: str, info: str = "") -> list[str]:
    """A fenced code block that the body cannot close: the fence is longer than any backtick run."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    clean = "\n".join(plain(line) for line in body.splitlines())
    return [f"{fence}{info}", clean, fence]


# --- terminal ---------------------------------------------------------------------------------


def _visible(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def terminal(text: Any) -> str:
    """Text safe to print: our own newlines kept, every other control, escape sequence, bidi
    override or zero-width character shown as ``\\x1b``-style text instead of being sent."""
    value = "" if text is None else str(text)
    if all(char.isprintable() or char == "\n" for char in value):
        return value
    return "".join(
        char if char == "\n" or not (_invisible(char) or char in _LINE_BREAKS) else _visible(char)
        for char in value
    )


def terminal_line(text: Any) -> str:
    """:func:`terminal` for a line redrawn in place (a progress line): newlines shown too."""
    return terminal(text).replace("\n", "\\x0a")


def terminal_writer(write: Callable[[str], Any]) -> Callable[[str], None]:
    """``write`` (print, a list's append...) receiving only :func:`terminal`-encoded text."""

    def safe(text: str) -> None:
        write(terminal(text))

    return safe


# --- e-mail -----------------------------------------------------------------------------------


def email_value(value: Any, *, limit: int = EMAIL_VALUE_MAX) -> str:
    """A value for the SOC e-mail: one line, no control characters, no live URL, at most ``limit``."""
    return cap(defang(" ".join(plain(value).split())), limit)


def email_list(values: Any, *, limit: int = 10, each: int = EMAIL_VALUE_MAX) -> str:
    """At most ``limit`` values, comma-separated, each encoded; says how many more there were."""
    items = list(values or [])
    shown = ", ".join(email_value(v, limit=each) for v in items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


# --- Slack and Chime --------------------------------------------------------------------------


def chat_text(text: str) -> str:
    """A message for a Slack or Chime webhook: ``&`` ``<`` ``>`` escaped, no mentions, our newlines kept.

    Slack reads ``<!channel>``, ``<@U123>``, ``<#C123>`` and ``<https://x|label>`` only between
    ``<`` and ``>``; with them escaped every such sequence shows as typed. Chime mentions a room with
    a bare ``@All`` / ``@Present``: the ``@`` becomes a full-width one.
    """
    lines = [plain(line) for line in str(text).split("\n")]
    escaped = "\n".join(lines).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION.sub("\uff20", escaped)
