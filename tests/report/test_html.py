"""report.html: summary first, an inline SVG timeline, every section, nothing executable."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

from responder.bundle import write_report
from responder.report import build_report, timeline
from responder.report_html import CSP, render_html, timeline_svg
from tests.analysis.helpers import KEY, OTHER_ACCOUNT, bucket_policy, row

XSS_AGENT = "<script>alert('ua')</script>"
XSS_BUCKET = 'evil"><img src=x onerror=alert(1)>'
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLEtoken+/=="
WINDOW = {"window_start": "2024-04-30T00:00:00Z", "window_end": "2024-05-01T12:00:00Z"}
SECTIONS = [
    "summary",
    "timeline",
    "ips",
    "findings",
    "inventory",
    "backdoors",
    "data",
    "attribution",
    "response",
]


def rows() -> list[dict]:
    return [
        row(
            "GetCallerIdentity", source="sts.amazonaws.com", time="2024-05-01T10:00:00Z", ip="185.220.101.47"
        ),
        row("ListBuckets", time="2024-05-01T10:00:30Z", ip="185.220.101.47", agent=XSS_AGENT),
        row(
            "GetSessionToken",
            source="sts.amazonaws.com",
            time="2024-05-01T10:01:00Z",
            ip="185.220.101.47",
            response={"credentials": {"accessKeyId": "ASIADERIVED0000001", "sessionToken": TOKEN}},
        ),
        row(
            "PutBucketPolicy",
            time="2024-05-01T10:02:00Z",
            ip="203.0.113.7",
            params={
                "bucketName": XSS_BUCKET,
                "bucketPolicy": json.dumps(bucket_policy({"AWS": OTHER_ACCOUNT})),
            },
        ),
        row(
            "GetObject",
            time="2024-05-01T10:05:00Z",
            ip="203.0.113.7",
            params={"bucketName": XSS_BUCKET, "key": "</pre><script>x()</script>.csv"},
            extra={"bytesTransferredOut": 4096},
            error="AccessDenied",
        ),
    ]


def report() -> dict:
    return build_report(
        rows(),
        access_key_id=KEY,
        **WINDOW,
        response={
            "workflow_status": "SUCCEEDED",
            "decision": "contain",
            "actions": [
                {
                    "action": "disable_access_key",
                    "target": KEY,
                    "status": "done",
                    "at": "2024-05-01T10:06:00Z",
                }
            ],
            "evidence": [{"uri": "s3://evidence/inc-1/finding.json", "sha256": "b" * 64}],
        },
    )


class Dom(HTMLParser):
    """Element tags, ids in order, and the visible text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        self.ids += [v for k, v in attrs if k == "id" and v]

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def body_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def parse(page: str) -> Dom:
    dom = Dom()
    dom.feed(page)
    return dom


def test_timeline_buckets_calls_per_ip_by_hand():
    tl = timeline(
        rows(),
        [
            {"ip": "185.220.101.47", "classification": "tor"},
            {"ip": "203.0.113.7", "classification": "reserved"},
        ],
    )
    # 10:00 to 10:05 is 300 s: one-minute buckets, six of them, starting on the minute.
    assert (tl["start"], tl["bucket_seconds"], tl["buckets"]) == ("2024-05-01T10:00:00Z", 60, 6)
    assert tl["series"] == [
        {"ip": "185.220.101.47", "classification": "tor", "points": [[0, 2, 0], [1, 1, 0]]},
        {"ip": "203.0.113.7", "classification": "reserved", "points": [[2, 1, 0], [5, 1, 1]]},
    ]


def test_page_has_summary_first_then_every_section_and_the_chart():
    page = render_html(report())
    dom = parse(page)
    assert [i for i in dom.ids if i in SECTIONS] == SECTIONS  # summary first, then in this order
    assert dom.tags.count("svg") == 1 and dom.tags.count("circle") == 4  # 2 + 2 points of the series above
    text = dom.body_text
    assert "What happened" in text and "What was done" in text and "What you must do now" in text
    assert "disable_access_key" in text and "185.220.101.47 (tor)" in text
    assert '"Sid": "Backdoor"' in text  # the offending statement, pretty-printed
    assert "s3://evidence/inc-1/finding.json" in text and "b" * 64 in text
    assert "tor-exits" in text and "aws-ip-ranges" in text  # the reputation sources and their age


def test_page_is_self_contained_with_no_script_at_all():
    page = render_html(report())
    dom = parse(page)
    assert "script" not in dom.tags and "img" not in dom.tags and "link" not in dom.tags
    assert f'content="{CSP}"' in page and "default-src 'none'" in CSP
    urls = [v for k, v in dom.attrs if k in {"src", "href", "action", "srcset"}]
    assert urls == []
    assert "url(" not in page and "@import" not in page


def test_attacker_strings_are_escaped_and_secrets_redacted():
    page = render_html(report())
    assert XSS_AGENT not in page and XSS_BUCKET not in page and "<script>x()" not in page
    assert "&lt;script&gt;alert(&#x27;ua&#x27;)&lt;/script&gt;" in page
    dom = parse(page)
    assert XSS_AGENT in dom.body_text  # shown, as text
    assert TOKEN not in page


def test_write_report_writes_the_html_too(tmp_path: Path):
    paths = write_report(report(), tmp_path)
    assert [p.name for p in paths] == ["report.json", "report.md", "report.html"]
    assert paths[2].read_text().startswith("<!DOCTYPE html>")


def test_empty_report_renders_without_a_chart():
    page = render_html(build_report([], access_key_id=KEY, **WINDOW))
    dom = parse(page)
    assert "svg" not in dom.tags and "timeline-empty" in dom.ids
    assert "not evidence of absence" in dom.body_text


def test_chromium_renders_summary_chart_and_sections_with_the_script_inert(tmp_path: Path, dump_dom):
    page = tmp_path / "report.html"
    write_report(report(), tmp_path)
    dom = parse(dump_dom(page))
    assert [i for i in dom.ids if i in SECTIONS] == SECTIONS
    assert "svg" in dom.tags and dom.tags.count("circle") == 4 and "title" in dom.tags
    assert "script" not in dom.tags  # the user agent stayed text
    text = dom.body_text
    assert XSS_AGENT in text and XSS_BUCKET in text
    assert "What you must do now" in text and "Backdoors (policies open to outsiders)" in text


def test_user_agents_are_grouped_and_the_page_prints():
    page = render_html(report())
    assert "@media print" in page and "break-inside:avoid-page" in page
    dom = parse(page)
    assert "call)" in dom.body_text or "calls)" in dom.body_text, (
        "user agents by tool, version and platform, counted"
    )


def _text_boxes(svg: str) -> list[tuple[str, float, float, float, float]]:
    """Each <text> of the chart with its box (x0, x1, y0, y1), estimated as the page lays it out."""
    import html as html_lib
    import re

    from responder.report_html import label_width

    boxes = []
    for attrs, body in re.findall(r"<text([^>]*)>(.*?)</text>", svg):
        get = dict(re.findall(r'([\w-]+)="([^"]*)"', attrs))
        text = html_lib.unescape(body)
        size = float(get.get("font-size", 11))
        width = label_width(text) * size / 11 * (1.1 if get.get("font-family") == "monospace" else 1)
        x, y = float(get["x"]), float(get["y"])
        anchor = get.get("text-anchor", "start")
        x0 = x - width if anchor == "end" else x - width / 2 if anchor == "middle" else x
        boxes.append((text, x0, x0 + width, y - size, y + 2))
    return boxes


def test_no_two_labels_of_the_timeline_overlap():
    """Many actions minutes apart (containment, snapshots, remediation, notice) all get a label."""
    data = report()
    base = datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    data["response"]["actions"] = [
        {"action": name, "target": "t", "status": "done", "at": (base + timedelta(seconds=40 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        for i, name in enumerate(
            ["disable_access_key", "revoke_sessions", "tag_principal", "snapshot_bucket_policy",
             "remove_policy_statements", "contain_principal", "notify_soc"]
        )
    ]  # fmt: skip
    data["timeline"]["end"] = "2024-05-01T10:40:00Z"
    svg = timeline_svg(data)
    boxes = _text_boxes(svg)
    labels = [b for b in boxes if "notify_soc" in b[0] or "disable_access_key" in b[0]]
    assert labels, "the action labels are drawn"
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            overlap = a[1] < b[2] and b[1] < a[2] and a[3] < b[4] and b[3] < a[4]
            assert not overlap, f"{a[0]!r} overlaps {b[0]!r}"


MAC_CLI = "aws-cli/2.15.0 Python/3.11.6 Darwin/23.1.0 exe/x86_64 prompt/off command/s3.ls"
KALI_CLI = "aws-cli/2.13.25 Python/3.11.5 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2023 prompt/off"


def test_the_owners_baseline_is_one_band_and_the_chart_zooms_to_the_attack():
    owner = [
        row("ListBuckets", time=f"2024-04-2{d}T0{h}:00:00Z", ip="203.0.113.24", agent=MAC_CLI, read_only=True)
        for d in (7, 8, 9)
        for h in (8, 9)
    ]
    attack = [
        row(
            "ListBuckets", time=f"2024-05-01T10:0{m}:00Z", ip="185.220.101.47", agent=KALI_CLI, read_only=True
        )
        for m in range(5)
    ]
    data = build_report(
        [*owner, *attack],
        access_key_id=KEY,
        window_start="2024-04-24T00:00:00Z",
        window_end="2024-05-01T12:00:00Z",
    )
    tl = data["timeline"]
    assert (tl["start"], tl["end"], tl["bucket_seconds"]) == (
        "2024-05-01T10:00:00Z",
        "2024-05-01T10:05:00Z",
        60,
    )
    assert [s["ip"] for s in tl["series"]] == ["185.220.101.47"]  # no lane of the owner's
    assert tl["owner_band"] == {
        "event_count": 6,
        "first_event": "2024-04-27T08:00:00Z",
        "last_event": "2024-04-29T09:00:00Z",
        "source_ips": ["203.0.113.24"],
        "before_chart": 6,
        "after_chart": 0,
    }
    svg = timeline_svg(data)
    assert svg.count('id="owner-band"') == 1 and "6 before this chart" in svg and "owner (baseline)" in svg
    boxes = _text_boxes(svg.split("</svg>")[0])
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not (a[1] < b[2] and b[1] < a[2] and a[3] < b[4] and b[3] < a[4]), (
                f"{a[0]!r} overlaps {b[0]!r}"
            )
    # Without an anomaly nobody is labelled owner: every call is charted (the cautious reading).
    alone = build_report(
        owner, access_key_id=KEY, window_start="2024-04-24T00:00:00Z", window_end="2024-05-01T12:00:00Z"
    )
    assert alone["actors"][0]["label"] == "unknown" and alone["timeline"]["owner_band"] is None
    assert [s["ip"] for s in alone["timeline"]["series"]] == ["203.0.113.24"]
    # Only the owner's calls in a window (the attacker's outside it): no chart, but the band in words.
    only_owner = {**data, "timeline": {**tl, "series": [], "bucket_seconds": None}}
    page = timeline_svg(only_owner)
    assert "No calls but the owner" in page and "6 calls from 203.0.113.24" in page and "<svg" not in page
