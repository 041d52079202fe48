"""report.html as laid out by headless Chromium at 1280 px: measured, not parsed.

Three reports: the small hand-made one of test_html.py, the demo's incident (its CloudTrail logs,
investigated offline, with the workflow's response added), and a crowded one (many addresses, IPv6,
many user agents, long object keys, many actions). Each is opened 1280 px wide and measured with the
browser's own layout (bounding boxes, getBBox, computed styles); the screenshot goes to tmp_path.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from responder.bundle import write_report
from responder.report import build_report
from tests.analysis.helpers import KEY, OTHER_ACCOUNT, bucket_policy, row
from tests.report.test_html import SECTIONS, WINDOW, report
from workstation.demo import default_scenario, generate_logs
from workstation.offline import run_investigation
from workstation.screenshot import DEFAULT_WIDTH, screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Page

OpenPage = Callable[[Path], "Page"]
WIDTH = DEFAULT_WIDTH
DEMO_NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ACTIONS = [
    "disable_access_key",
    "revoke_sessions",
    "tag_principal",
    "snapshot_bucket_policy",
    "remove_policy_statements",
    "contain_principal",
    "notify_soc",
]


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _response(at: datetime, *, step: timedelta = timedelta(seconds=3)) -> dict[str, Any]:
    """The workflow's containment, as the demo records it: every action, seconds apart."""
    return {
        "workflow_status": "SUCCEEDED",
        "decision": "contain",
        "actions": [
            {"action": name, "target": f"target-{i}", "status": "done", "at": _iso(at + step * i)}
            for i, name in enumerate(ACTIONS)
        ],
        "evidence": [{"uri": f"s3://evidence/inc-1/{n}.json", "sha256": "c" * 64} for n in range(5)],
    }


def _demo_report(folder: Path) -> dict[str, Any]:
    """The demo's incident: its generated CloudTrail logs, investigated offline, then contained."""
    logs = generate_logs(default_scenario(DEMO_NOW), folder / "logs")
    data = run_investigation([logs.root], logs.exposed_key_id, generated_at=DEMO_NOW).report
    data["response"] = _response(logs.attack_end + timedelta(hours=1))
    return data


def _crowded_report() -> dict[str, Any]:
    """Many source IPs (more than the chart's lanes, IPv6 among them), each with many user agents,
    long object keys and actions minutes apart: the lists that stretch a layout."""
    base = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    ips = [f"198.51.100.{n}" for n in range(1, 25)] + [
        "2001:db8:4f2a:91c3:7d10:2bb4:e5a9:1f06",
        "2600:1f18:24e6:b900:cbd7:5c43:8a7e:2d11",
        "2a01:4f8:c17:9b2e:44d1:aa90:3e7c:b5f0",
    ]
    rows = []
    for n, ip in enumerate(ips):
        for k in range(n % 12 + 1):
            when = _iso(base + timedelta(minutes=3 * n + k))
            agent = (
                f"Boto3/1.34.{k} md/Botocore#1.34.{k} ua/2.0 os/linux#6.{n} Python/3.{k} custom-tool/{n}.{k}"
            )
            rows.append(row("ListBuckets", time=when, ip=ip, agent=agent, event_id=f"lb-{n}-{k}"))
            long_key = f"exports/{'nested-folder-name/' * 6}customer-{n}-{k}-{'x' * 90}.csv.gz"
            rows.append(
                row(
                    "GetObject",
                    time=when,
                    ip=ip,
                    params={"bucketName": "acme-customer-exports-111122223333", "key": long_key},
                    extra={"bytesTransferredOut": 1000 * k},
                    error="AccessDenied" if k % 5 == 4 else None,
                    event_id=f"go-{n}-{k}",
                )
            )
    rows.append(
        row(
            "PutBucketPolicy",
            time=_iso(base + timedelta(minutes=40)),
            ip=ips[-1],
            params={
                "bucketName": "acme-customer-exports-111122223333",
                "bucketPolicy": json.dumps(bucket_policy({"AWS": OTHER_ACCOUNT})),
            },
        )
    )
    return build_report(
        rows,
        access_key_id=KEY,
        **WINDOW,
        response=_response(base + timedelta(minutes=90), step=timedelta(seconds=50)),
    )


REPORTS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "small": lambda _folder: report(),
    "demo": _demo_report,
    "crowded": lambda _folder: _crowded_report(),
}


@pytest.fixture(scope="module", params=sorted(REPORTS))
def report_html(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp(request.param)
    return write_report(REPORTS[request.param](folder), folder)[2]


def _boxes(page: Page, selector: str) -> list[dict[str, Any]]:
    """The border box of each element matching ``selector``, in page px, with a short label."""
    boxes: list[dict[str, Any]] = page.eval_on_selector_all(
        selector,
        """els => els.map(e => {
            const r = e.getBoundingClientRect();
            return {label: e.id || e.tagName + ' ' + (e.textContent || '').trim().slice(0, 40),
                    left: r.left + scrollX, right: r.right + scrollX, top: r.top + scrollY,
                    bottom: r.bottom + scrollY, width: r.width, height: r.height};
        })""",
    )
    return boxes


def test_every_section_is_shown_with_a_box_and_a_heading(report_html: Path, browser_page: OpenPage):
    page = browser_page(report_html)
    found = page.eval_on_selector_all(
        "main > section",
        """els => els.map(s => {
            const r = s.getBoundingClientRect(), style = getComputedStyle(s);
            const h = s.querySelector('h2');
            const hr = h ? h.getBoundingClientRect() : null;
            return {id: s.id, width: r.width, height: r.height,
                    shown: style.display !== 'none' && style.visibility === 'visible' && style.opacity !== '0',
                    heading: h ? h.textContent.trim() : '', heading_height: hr ? hr.height : 0};
        })""",
    )
    ids = [s["id"] for s in found]
    assert [i for i in ids if i in SECTIONS] == SECTIONS, ids  # all there, in the reading order
    for section in found:  # SECTIONS and the rest (actors, credentials) alike
        assert section["shown"] and section["width"] > 0 and section["height"] > 0, section
        assert section["heading"] and section["heading_height"] > 0, section


def test_nothing_is_wider_than_the_1280px_window(report_html: Path, browser_page: OpenPage):
    page = browser_page(report_html)
    assert page.evaluate("innerWidth") == WIDTH
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, "the page scrolls sideways"
    main = _boxes(page, "main")[0]
    for box in _boxes(page, "main > section, table, svg, pre"):
        assert box["left"] >= 0 and box["right"] <= WIDTH, box
        # Inside the page's column too: a table spilling out of it overlaps the margin.
        assert box["right"] <= main["right"] + 0.5, (box, main)


def _outside(items: list[dict[str, Any]], box: dict[str, Any]) -> list[dict[str, Any]]:
    """The items whose box is not within ``box`` (half a pixel of rounding allowed)."""
    return [
        item
        for item in items
        if item["left"] < box["left"] - 0.5
        or item["right"] > box["right"] + 0.5
        or item["top"] < box["top"] - 0.5
        or item["bottom"] > box["bottom"] + 0.5
    ]


def test_the_timeline_holds_its_dots_and_labels(report_html: Path, browser_page: OpenPage):
    page = browser_page(report_html)
    chart = _boxes(page, "#timeline-chart")
    assert len(chart) == 1 and chart[0]["width"] > 0 and chart[0]["height"] > 0
    box = chart[0]
    assert box["right"] <= WIDTH
    dots = _boxes(page, "#timeline-chart circle")
    assert dots, "no dot drawn"
    assert _outside(dots, box) == []
    # Key line, action labels, ticks and caption; the lane labels have their own test below.
    assert _outside(_boxes(page, "#timeline-chart text:not(.lane)"), box) == []


# The crowded report's IPv6 lanes (39 characters of monospace, plus the class) are the long ones:
# the margin grows to hold them rather than cutting them off at the chart's edge.
def test_lane_labels_fit_left_of_the_lanes(report_html: Path, browser_page: OpenPage):
    page = browser_page(report_html)
    box = _boxes(page, "#timeline-chart")[0]
    lanes = _boxes(page, "#timeline-chart text.lane")
    assert lanes, "no lane label drawn"
    assert _outside(lanes, box) == []


def test_no_two_chart_labels_overlap_as_drawn(report_html: Path, browser_page: OpenPage):
    """The real glyph boxes (getBBox, in the chart's own units): complements the estimated widths
    of test_html.py, which cannot know the fonts this machine draws with."""
    page = browser_page(report_html)
    labels = page.eval_on_selector_all(
        "#timeline-chart text",
        """els => els.map(t => { const b = t.getBBox();
            return {text: t.textContent, x0: b.x, x1: b.x + b.width, y0: b.y, y1: b.y + b.height}; })""",
    )
    assert len(labels) >= 9  # the key line, a lane label, seven ticks, the axis caption
    for i, a in enumerate(labels):
        assert a["x1"] > a["x0"], a  # drawn, with a width
        for b in labels[i + 1 :]:
            overlap = (
                a["x0"] < b["x1"] - 0.5
                and b["x0"] < a["x1"] - 0.5
                and a["y0"] < b["y1"] - 0.5
                and b["y0"] < a["y1"] - 0.5
            )
            assert not overlap, f"{a['text']!r} overlaps {b['text']!r}: {a} {b}"


def _png(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed scanlines of a PNG (the stdlib is enough)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # IHDR is always the first chunk
    idat, at = b"", 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        if kind == b"IDAT":
            idat += data[at + 8 : at + 8 + length]
        at += 12 + length
    return width, height, zlib.decompress(idat)


def test_the_full_page_screenshot_is_1280px_wide_and_shows_something(
    report_html: Path, browser_page: OpenPage, tmp_path: Path
):
    page = browser_page(report_html)
    shot = screenshot(page, tmp_path / "report.png", max_height=None)
    width, height, pixels = _png(shot)
    assert width == WIDTH
    assert height == page.evaluate("document.documentElement.scrollHeight") > 900  # the whole page
    # A blank page compresses to a handful of byte values (the filters turn flat rows to zeros);
    # text, badges and the chart give nearly all 256.
    assert len(set(pixels)) > 200
    assert len(pixels) / shot.stat().st_size < 100, "compresses like an empty page"


def test_the_print_stylesheet_applies(report_html: Path, browser_page: OpenPage):
    page = browser_page(report_html)

    def styles() -> dict[str, str]:
        values: dict[str, str] = page.evaluate(
            """() => {
                const css = (sel, prop) => getComputedStyle(document.querySelector(sel))[prop];
                return {body: css('body', 'backgroundColor'), main: css('main', 'maxWidth'),
                        table: css('table', 'breakInside'), svg: css('#timeline-chart', 'breakInside'),
                        summary: css('#summary', 'breakInside'), h2: css('section h2', 'breakAfter'),
                        badge: css('.badge', 'color')};
            }"""
        )
        return values

    screen = styles()
    page.emulate_media(media="print")
    printed = styles()
    assert screen["table"] == "auto" and screen["main"] == "1100px"  # the screen layout first
    assert printed == {
        "body": "rgb(255, 255, 255)",
        "main": "none",
        "table": "avoid-page",
        "svg": "avoid-page",
        "summary": "avoid-page",
        "h2": "avoid-page",
        "badge": "rgb(0, 0, 0)",
    }


# overflow-wrap:anywhere on every cell would let the automatic table layout size a column to one
# character: short headers and values split mid-word (Sta/tus, do/ne). Only code may break anywhere.
def test_short_words_in_table_cells_are_not_split(report_html: Path, browser_page: OpenPage):
    page = browser_page(report_html)
    # A cell of one short word (no markup inside) draws its text on one line: one line box top.
    split = page.evaluate(
        """() => [...document.querySelectorAll('th, td')].flatMap(c => {
            const t = c.textContent.trim();
            if (c.children.length || !t || /\\s/.test(t) || t.length > 10) return [];
            const r = document.createRange(); r.selectNodeContents(c);
            const tops = new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top)));
            return tops.size > 1 ? [c.closest('section').id + ': ' + t] : [];
        })"""
    )
    assert sorted(set(split)) == []
