"""report.html: one self-contained page for the SOC, readable offline and safe to open.

No scripts, fonts, images or stylesheets from elsewhere: CSS is inline, the timeline is inline SVG,
and a Content-Security-Policy forbids anything else (``default-src 'none'``), so even a string that
slipped through escaping could not run. Every value is escaped with :func:`html.escape`: user agents,
bucket names, object keys and policy documents are chosen by the attacker. The report is redacted
again before rendering, and the finished page once more for secret-looking text.

Order: summary (what happened, what was done, what to do now), timeline of calls by source IP,
credentials (followed, not followed, seen from the same addresses), source IPs, findings by tactic, inventory, backdoors with the offending statements, data accessed,
attribution, response and evidence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from responder.analysis.provenance import provenance_sentence
from responder.analysis.rows import coverage_notes
from responder.query.digest import describe as integrity_line
from responder.redact import redact_text, redacted
from responder.report_tables import (
    ACTOR_HEADERS,
    CLASSIFICATION_HEADERS,
    CLASSIFICATION_NOTE,
    CREDENTIAL_HEADERS,
    INVENTORY_HEADERS,
    SAME_IP_HEADERS,
    SAME_IP_NOTE,
    actor_rows,
    classification_rows,
    credential_rows,
    human_bytes,
    inventory_rows,
    owner_sentence,
)
from responder.signals import view as signal_view

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

# Colour per classification: reds for the hostile, blues for AWS, greens for internal.
CLASS_COLOURS = {
    "threat-list": "#67001f",
    "tor": "#b2182b",
    "vpn": "#d6604d",
    "hosting": "#f4a582",
    "public": "#737373",
    "aws": "#2166ac",
    "aws-service": "#92c5de",
    "private": "#1a9850",
    "reserved": "#66bd63",
    "invalid": "#bababa",
    "mixed": "#999999",
}
_SEVERITY_COLOURS = {"critical": "#67001f", "high": "#b2182b", "medium": "#e08214", "low": "#4d4d4d"}

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1a1a1a;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:13px;background:#fff}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:break-word}
td code,td .mono,td.long{overflow-wrap:anywhere}
th{background:#f0f0f0}
pre{background:#fff;border:1px solid #ddd;padding:8px;overflow-x:auto;font-size:12px;white-space:pre-wrap}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
.summary{background:#fff;border:1px solid #ccc;border-left:6px solid #b2182b;padding:8px 16px}
.todo li{margin:4px 0}.muted{color:#666}.note{background:#fff8e1;border-left:4px solid #e08214;padding:6px 10px}
#ips td:nth-child(-n+2){white-space:nowrap}ul.ua{margin:0;padding-left:16px}svg{background:#fff;border:1px solid #ddd;max-width:100%;height:auto}
@media print{body{background:#fff;font-size:11px}main{max-width:none;padding:0}h2{break-after:avoid-page}
table,svg,pre,.summary{break-inside:avoid-page}tr{break-inside:avoid}.badge{border:1px solid #000;color:#000!important;background:#fff!important}}
"""


def _e(value: Any) -> str:
    """Escaped text of any value ('' for None); lists are joined with commas."""
    if value is None:
        return ""
    if isinstance(value, list | tuple | set):
        return escape(", ".join(str(v) for v in value), quote=True)
    return escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, raw: Collection[int] = ()) -> str:
    """A table; cells are escaped except the column indexes in ``raw`` (already built HTML)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v, i in raw) for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


LONG_TOKEN = 24  # characters without a space: an ARN, an object key, a user agent


def _cell(value: Any, raw: bool) -> str:
    """A cell; one holding a long unbroken token may break it anywhere (class ``long``), the others
    only between words, so a short word is never split to make room for the long one."""
    if raw:
        return f"<td>{value}</td>"
    text = "" if value is None else str(value)
    long = any(len(token) >= LONG_TOKEN for token in text.split())
    return f'<td class="long">{_e(value)}</td>' if long else f"<td>{_e(value)}</td>"


def _badge(text: str, colour: str) -> str:
    return f'<span class="badge" style="background:{colour}">{_e(text)}</span>'


def _class_badge(cls: str) -> str:
    return _badge(cls, CLASS_COLOURS.get(cls, "#737373"))


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{body}</section>'


# --- sections --------------------------------------------------------------------------------


def _summary(report: Mapping[str, Any]) -> str:
    summary = report.get("summary") or {}
    cov = report["coverage"]
    done = "".join(f"<li>{_e(line)}</li>" for line in summary.get("what_was_done") or [])
    steps = "".join(f"<li>{_e(line)}</li>" for line in summary.get("next_steps") or [])
    severity = str(summary.get("severity") or "low")
    # How the window was chosen, the key's events outside it and what was not read: never silence.
    notes = coverage_notes(cov, str(report["subject"]["access_key_id"]))
    return (
        '<section id="summary" class="summary">'
        f"<p><strong>{_e(summary.get('headline'))}</strong> "
        f"{_badge(severity, _SEVERITY_COLOURS.get(severity, '#4d4d4d'))}</p>"
        f'<p class="muted">Window {_e(report["window"]["start"])} to {_e(report["window"]["end"])}; '
        f"logs: {_e(cov['status'])} ({_e(cov['events_scanned'])} events scanned)."
        f"{' ' + _e(integrity_line(cov['log_file_validation'])) + '.' if cov.get('log_file_validation') else ''}</p>"
        + "".join(f'<p class="muted window-note">{_e(line)}</p>' for line in notes)
        + f'<h2 id="what-happened">What happened</h2><p>{_e(summary.get("what_happened"))}</p>'
        f'<h2 id="what-was-done">What was done</h2><ul>{done}</ul>'
        f'<h2 id="what-to-do">What you must do now</h2><ol class="todo">{steps}</ol>'
        "</section>"
    )


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _tick_label(when: datetime, span_seconds: float) -> str:
    return when.strftime("%H:%M" if span_seconds <= 86400 else "%m-%d %H:%M")


def timeline_svg(report: Mapping[str, Any]) -> str:
    """Inline SVG: one lane per source IP, a dot per time bucket sized by calls, actions as lines."""
    tl = report.get("timeline") or {}
    series = tl.get("series") or []
    band = tl.get("owner_band") or None
    if not series or not tl.get("bucket_seconds"):
        if band:
            return (
                '<p id="timeline-empty">No calls but the owner\'s in the window: '
                f"{_e(_band_text(band))} (see Who used the key).</p>"
            )
        return '<p id="timeline-empty">No timed events in the window: nothing to chart.</p>'
    start = _parse(tl["start"])
    end = _parse(tl["end"])
    if start is None or end is None:
        return '<p id="timeline-empty">The timeline has no valid times.</p>'
    # Stretch the axis to show containment that came after the last call (within a week).
    acted = [
        t
        for a in (report.get("response") or {}).get("actions") or []
        if a.get("status") in {"done", "already_done"} and (t := _parse(a.get("at") or "")) is not None
    ]
    later = [t for t in acted if end < t <= end + timedelta(days=7)]
    if later:
        end = max(later) + (max(later) - start) / 40
    size = int(tl["bucket_seconds"])
    # The lane labels sit right-aligned left of the lanes: the margin is as wide as the longest
    # (an IPv6 address and its class run past 250 px), and the plot keeps at least 600 px beside it.
    lane_labels = [_lane_label(item) for item in series] + ([OWNER_LANE] if band else [])
    left = max(250, math.ceil(16 + MONO_WIDTH * max((len(t) for t in lane_labels), default=0)))
    right, lane_h, axis_h = 20, 30, 40
    width = max(1040, left + 600 + right)
    plot_w = width - left - right
    span = (end - start).total_seconds() or 1.0
    peak = max((p[1] for s in series for p in s["points"]), default=1) or 1

    def x_of(when: datetime) -> float:
        return left + plot_w * (when - start).total_seconds() / span

    markers = _action_markers(report, start, end, x_of)
    placed = _label_rows(markers)
    top = 24 + LABEL_ROW * (max(placed) + 1 if placed else 0)  # label rows sit between key and lanes
    shift = 1 if band else 0  # the owner's baseline, one band above the attack's lanes
    lanes = len(series) + shift
    height = top + lane_h * lanes + axis_h

    out = [
        f'<svg id="timeline-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="API calls over time by source IP ({len(series)} lanes, {size // 60} minute buckets)">',
        f'<text x="{left}" y="14" font-size="11" fill="#666">dot area = calls per {_e(_bucket_name(size))}; '
        f"ringed = some calls failed; peak {peak} calls</text>",
    ]
    if band:
        out.append(_band_svg(band, start, end, x_of, left, width - right, top + lane_h / 2))
    for lane, item in enumerate(series, start=shift):
        y = top + lane_h * lane + lane_h / 2
        colour = CLASS_COLOURS.get(str(item.get("classification")), "#737373")
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
            + _lane_text(left, y, _lane_label(item))
        )
        for index, calls, failed in item["points"]:
            when = start + timedelta(seconds=size * (index + 0.5))
            radius = 2.5 + 9.5 * math.sqrt(calls / peak)
            ring = ' stroke="#000" stroke-width="1.5"' if failed else ""
            title = f"{item['ip']}: {calls} call(s), {failed} failed, from {_tick_label(when, 0)}"
            out.append(
                f'<circle class="point" cx="{x_of(when):.1f}" cy="{y:.1f}" r="{radius:.1f}" '
                f'fill="{colour}" fill-opacity="0.8"{ring}><title>{_e(title)} UTC</title></circle>'
            )
    axis_y = top + lane_h * lanes + 4
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{axis_y}" y2="{axis_y}" stroke="#333"/>')
    for i in range(7):
        when = start + (end - start) * i / 6
        x = x_of(when)
        anchor = "start" if i == 0 else "end" if i == 6 else "middle"
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{axis_y}" y2="{axis_y + 5}" stroke="#333"/>'
            f'<text x="{x:.1f}" y="{axis_y + 18}" text-anchor="{anchor}" font-size="11">'
            f"{_e(_tick_label(when, span))}</text>"
        )
    out.append(
        f'<text x="{left}" y="{axis_y + 34}" font-size="11" fill="#666">UTC, {_e(tl["start"])} to '
        f"{_e(_iso(end))}</text>"
    )
    for (x, what, label), row in zip(markers, placed, strict=True):
        y = top - 8 - LABEL_ROW * row
        out.append(
            f'<line class="action" x1="{x:.1f}" x2="{x:.1f}" y1="{y + 2}" y2="{axis_y}" stroke="#1a9850" '
            f'stroke-dasharray="4 3" stroke-width="2"><title>{_e(what)}</title></line>'
            f'<text class="action-label" x="{x - 3:.1f}" y="{y}" text-anchor="end" font-size="11" '
            f'fill="#1a9850">{_e(label)}</text>'
        )
    out.append("</svg>")
    legend = " ".join(_class_badge(c) for c in dict.fromkeys(str(s.get("classification")) for s in series))
    return "".join(out) + f'<p class="legend">{legend}</p>'


def _label_rows(markers: Sequence[tuple[float, str, str]]) -> list[int]:
    """Each action label's row: the first above the chart where it fits (labels never overlap)."""
    rows: list[list[tuple[float, float]]] = []
    placed: list[int] = []
    for x, _what, label in markers:
        box = (x - 3 - label_width(label), x - 3)
        row = next(
            (i for i, used in enumerate(rows) if all(box[1] + 4 < a or box[0] - 4 > b for a, b in used)),
            len(rows),
        )
        if row == len(rows):
            rows.append([])
        rows[row].append(box)
        placed.append(row)
    return placed


def _band_text(band: Mapping[str, Any]) -> str:
    outside = [
        f"{band[k]} {where} this chart"
        for k, where in (("before_chart", "before"), ("after_chart", "after"))
        if band.get(k)
    ]
    return (
        f"{band['event_count']} calls from {', '.join(band['source_ips'])}, {band['first_event']} to "
        f"{band['last_event']}" + (f" ({', '.join(outside)})" if outside else "")
    )


def _band_svg(
    band: Mapping[str, Any], start: datetime, end: datetime, x_of: Any, x_min: float, x_max: float, y: float
) -> str:
    """The owner's baseline, collapsed: one grey band over the span it covers in the chart (a stub at
    the edge when it all lies before or after), and what it holds, in words."""
    first, last = _parse(band.get("first_event")), _parse(band.get("last_event"))
    lo = x_of(max(first, start)) if first else x_min
    hi = x_of(min(last, end)) if last else x_min
    if hi < lo:  # all before (or all after) the chart: a stub at that edge
        lo, hi = (x_min, x_min + 6) if last and last < start else (x_max - 6, x_max)
    hi = max(hi, lo + 6)
    words = _band_text(band)
    room = int((x_max - x_min - 8) / CHAR_WIDTH)
    shown = words if len(words) <= room else words[: room - 3] + "..."
    return (
        f'<rect id="owner-band" x="{lo:.1f}" y="{y - 7:.1f}" width="{hi - lo:.1f}" height="14" fill="#bdbdbd" '
        f'fill-opacity="0.6"><title>{_e("owner: " + words)}</title></rect>'
        + _lane_text(x_min, y, OWNER_LANE)
        + f'<text x="{x_min + 4}" y="{y + 4:.1f}" font-size="11" fill="#444">{_e(shown)}</text>'
    )


LABEL_ROW = 14  # px between rows of action labels
CHAR_WIDTH = 6.6  # px per character at font-size 11, generous (the widest glyphs of a sans font)


MONO_WIDTH = 7.4  # px per character of a lane label (monospace at font-size 12 is 7.2), generous


OWNER_LANE = "owner (baseline)"  # the lane label of the owner's collapsed baseline


def _lane_label(item: Mapping[str, Any]) -> str:
    return f"{item['ip']} ({item.get('classification')})"


def _lane_text(left: float, y: float, label: str) -> str:
    """A lane's label, right-aligned just left of the lanes (the margin is sized to the longest)."""
    return (
        f'<text class="lane" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="12" '
        f'font-family="monospace">{_e(label)}</text>'
    )


def label_width(text: str) -> float:
    """A label's width in the chart, estimated (no font metrics in a self-contained page)."""
    return CHAR_WIDTH * len(text)


def _action_markers(
    report: Mapping[str, Any], start: datetime, end: datetime, x_of: Any
) -> list[tuple[float, str, str]]:
    """``(x, what, label)`` per action mark, left to right; actions a few pixels apart share one."""
    groups: dict[int, list[Mapping[str, Any]]] = {}
    for action in (report.get("response") or {}).get("actions") or []:
        at = _parse(action.get("at")) if action.get("at") else None
        if at is None or not start <= at <= end or action.get("status") not in {"done", "already_done"}:
            continue
        groups.setdefault(round(x_of(at) / 8), []).append(action)
    out = []
    for _, group in sorted(groups.items()):
        x = x_of(_parse(group[0]["at"]) or start)
        what = "; ".join(f"{a['action']} {a['target']} at {a['at']}" for a in group)
        out.append((x, what, " + ".join(dict.fromkeys(str(a["action"]) for a in group))))
    return out


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _bucket_name(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} day(s)"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour(s)"
    return f"{seconds // 60} minute(s)"


def _signal(report: Mapping[str, Any]) -> str:
    """What AWS reported (AWS Health's exposure, GuardDuty's attack sequence); '' when neither."""
    incident = report.get("incident")
    rows = signal_view.facts(incident)
    if not rows:
        return ""
    body = _table(("", "What AWS says"), rows)
    if indicators := signal_view.indicator_rows(incident):
        body += "<h3>GuardDuty&#x27;s indicators</h3>" + _table(signal_view.INDICATOR_HEADERS, indicators)
    if signals := signal_view.signal_rows(incident):
        body += "<h3>Signals in the sequence</h3>" + _table(signal_view.SIGNAL_HEADERS, signals)
    return _section("signal", "What AWS reported", body)


def _actors(report: Mapping[str, Any]) -> str:
    sentence = owner_sentence(report)
    return _table(ACTOR_HEADERS, actor_rows(report)) + (f"<p>{_e(sentence)}</p>" if sentence else "")


def _credentials(report: Mapping[str, Any]) -> str:
    chain, same_ip = credential_rows(report)
    origin = provenance_sentence(report)
    body = (f'<p id="provenance">{_e(origin)}</p>' if origin else "") + _table(CREDENTIAL_HEADERS, chain)
    if same_ip:
        body += f"<p>{_e(SAME_IP_NOTE)}</p>" + _table(SAME_IP_HEADERS, same_ip)
    return body


def _ips(report: Mapping[str, Any]) -> str:
    ips = report.get("source_ips") or []
    if not ips:
        return "<p>None.</p>"
    rows = []
    for ip in ips:
        where = " / ".join(
            str(v)
            for v in (ip.get("org"), f"AS{ip['asn']}" if ip.get("asn") else None, ip.get("country"))
            if v
        )
        if ip.get("aws_service"):
            where = " ".join(p for p in (where, f"AWS {ip['aws_service']} {ip.get('aws_region') or ''}") if p)
        if ip.get("threat_list"):
            where = " ".join(p for p in (where, f"threat list: {ip['threat_list']}") if p)
        # Grouped by tool, version and platform (the full strings are in report.json).
        groups = ip.get("user_agent_groups") or ip.get("user_agents") or []
        agents = "".join(f"<li>{_e(ua)}</li>" for ua in groups[:8])
        if len(groups) > 8:
            agents += f"<li>... and {len(groups) - 8} more</li>"
        rows.append(
            [
                f'<span class="mono">{_e(ip["ip"])}</span>',
                _class_badge(str(ip["classification"])),
                ip["event_count"],
                ip.get("errors"),
                ip["first_seen"],
                ip["last_seen"],
                where,
                f'<ul class="ua">{agents}</ul>',
            ]
        )
    out = _table(
        ["IP", "Class", "Events", "Failed", "First seen", "Last seen", "Org / ASN / country", "User agents"],
        rows,
        raw=(0, 1, 7),
    )
    sources = report.get("ip_sources") or []
    if sources:
        out += '<h3 id="ip-sources">Reputation sources and their age</h3>' + _table(
            ["Source", "From", "As of", "Age (days)", "Entries", "Note"],
            (
                [s["name"], s["source"], s.get("as_of"), s.get("age_days"), s.get("entries"), s.get("note")]
                for s in sources
            ),
        )
    return out


def _findings(report: Mapping[str, Any]) -> str:
    findings = report.get("findings") or []
    if not findings:
        return "<p>None.</p>"
    out, tactic = [], None
    for finding in findings:
        if finding["tactic"] != tactic:
            if tactic is not None:
                out.append("</ul>")
            tactic = finding["tactic"]
            out.append(f"<h3>{_e(tactic)}</h3><ul>")
        ids = finding["event_ids"]
        shown = ", ".join(ids[:5]) + (f" (+{len(ids) - 5} more)" if len(ids) > 5 else "")
        severity = str(finding["severity"])
        out.append(
            f"<li>{_badge(severity, _SEVERITY_COLOURS.get(severity, '#4d4d4d'))} {_e(finding['title'])} "
            f'<span class="muted">({_e(finding.get("technique") or "no technique")}; {len(ids)} event(s): '
            f'<span class="mono">{_e(shown)}</span>)</span></li>'
        )
    out.append("</ul>")
    return "".join(out)


def _inventory(report: Mapping[str, Any]) -> str:
    inv = report.get("inventory") or {}
    changes = inventory_rows(report)
    out = ""
    if changes:
        out += _table(INVENTORY_HEADERS, changes)
    else:
        out += "<p>No resources created, modified or deleted.</p>"
    reads = inv.get("read") or []
    if reads:
        out += f"<details><summary>Reads ({len(reads)} kinds, counted)</summary>" + _table(
            ["Event", "Target", "Count", "Failed"],
            ([r["event_name"], r["target"], r["count"], r["failed"]] for r in reads[:200]),
        )
        out += "</details>"
    return out


def _pretty(statement: Any) -> str:
    try:
        return json.dumps(
            json.loads(statement) if isinstance(statement, str) else statement, indent=2, sort_keys=True
        )
    except (TypeError, ValueError):
        return str(statement)


def _backdoors(report: Mapping[str, Any]) -> str:
    found: list[Mapping[str, Any]] = [
        b for b in report.get("bucket_policy_changes") or [] if b["grants_external"]
    ]
    found += [
        {**r, "bucket": f"role {r['role']}"}
        for r in report.get("role_trust_changes") or []
        if r["grants_external"]
    ]
    found += [
        {**c, "event_name": "current policy", "event_time": "now"}
        for c in report.get("current_bucket_policies") or []
        if c["grants_external"]
    ]
    if not found:
        reviewed = len(report.get("bucket_policy_changes") or [])
        return f"<p>None found ({reviewed} bucket policy change(s) reviewed).</p>"
    out = []
    for change in found:
        state = "" if change.get("succeeded", True) else " (attempt failed)"
        out.append(
            f'<div class="backdoor"><h3>{_e(change["bucket"])}: {_e(change["event_name"])} at '
            f"{_e(change['event_time'])}{_e(state)}</h3>"
            f"<p>Grants: {_e(change.get('external_principals'))}</p>"
        )
        for statement in change.get("offending_statements") or []:
            out.append(
                f"<p>Statement <code>{_e(statement.get('sid'))}</code>: {_e('; '.join(statement.get('reasons') or []))}</p>"
                f'<pre class="statement">{_e(_pretty(statement.get("statement")))}</pre>'
            )
        out.append("</div>")
    return "".join(out)


def _data(report: Mapping[str, Any]) -> str:
    access = report.get("data_access") or []
    summary = report.get("data_access_summary") or {}
    out = ""
    if summary.get("read_calls"):
        out += (
            f"<p>{_e(summary.get('objects_read'))} object(s) read in {_e(summary.get('read_calls'))} call(s), "
            f"{_e(human_bytes(summary.get('bytes_out') or 0))} out.</p>"
        )
    if access:
        out += _table(
            ["Bucket", "Object", "Event", "Count", "Bytes out"],
            (
                [a["bucket"], a["object_key"], a["event_name"], a["count"], a.get("bytes_out")]
                for a in access[:200]
            ),
        )
        if len(access) > 200:
            out += f"<p>... and {len(access) - 200} more in report.json.</p>"
    else:
        out += "<p>No S3 data events from the key in the logs.</p>"
    out += "".join(f'<p class="note">{_e(note)}</p>' for note in report.get("data_access_notes") or [])
    if report.get("data_classification"):
        out += f"<p>{_e(CLASSIFICATION_NOTE)}</p>" + _table(
            CLASSIFICATION_HEADERS, classification_rows(report)
        )
    return out


def _attribution(report: Mapping[str, Any]) -> str:
    att = report["attribution"]
    reasons = "".join(f"<li>{_e(r)}</li>" for r in att.get("reasons") or [])
    return f"<p>Assessment: <strong>{_e(att['assessment'])}</strong> (an estimate, not a verdict).</p><ul>{reasons}</ul>"


def _response(report: Mapping[str, Any]) -> str:
    response = report.get("response") or {}
    out = ""
    if response.get("actions"):
        out += _table(
            ["Action", "Target", "Status", "At", "Detail"],
            (
                [a["action"], a["target"], a["status"], a.get("at"), a.get("detail")]
                for a in response["actions"]
            ),
        )
    else:
        out += "<p>No response actions recorded.</p>"
    evidence = report.get("evidence") or response.get("evidence") or []
    out += '<h3 id="evidence">Evidence</h3>'
    if evidence:
        out += _table(
            ["Object", "SHA-256"],
            (
                [f'<span class="mono">{_e(e["uri"])}</span>', f'<span class="mono">{_e(e["sha256"])}</span>']
                for e in evidence
            ),
            raw=(0, 1),
        )
    else:
        out += "<p>None recorded.</p>"
    manifest = report.get("evidence_manifest")
    if manifest:
        out += (
            f'<p id="manifest">Evidence manifest: <span class="mono">{_e(manifest.get("uri"))}</span> '
            f'sha256 <span class="mono">{_e(manifest.get("sha256"))}</span></p>'
        )
    if report.get("redactions"):
        out += f"<p>{len(report['redactions'])} secret value(s) were redacted from this report (see report.json).</p>"
    return out


def render_html(report: Mapping[str, Any], *, redaction_key: bytes | None = None) -> str:
    """The self-contained report.html of a report (from :func:`responder.report.build_report`)."""
    data: Mapping[str, Any] = redacted(report, key=redaction_key)
    key = data["subject"]["access_key_id"]
    sections = [
        _summary(data),
        _signal(data),
        _section("timeline", "API calls over time, by source IP", timeline_svg(data)),
        _section("actors", "Who used the key", _actors(data)),
        _section("credentials", "Credentials", _credentials(data)),
        _section("ips", "Source IPs", _ips(data)),
        _section("findings", "Findings by tactic", _findings(data)),
        _section("inventory", "Resources created, modified, deleted", _inventory(data)),
        _section("backdoors", "Backdoors (policies open to outsiders)", _backdoors(data)),
        _section("data", "Data accessed", _data(data)),
        _section("attribution", f"Attribution: {data['attribution']['assessment']}", _attribution(data)),
        _section("response", "Response actions and evidence", _response(data)),
    ]
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Exposed key {_e(key)}: incident report</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>Exposed key <code>{_e(key)}</code></h1>"
        + "".join(sections)
        + f'<footer class="muted"><p>Generated {_e(data.get("generated_at"))}, report version '
        f"{_e(data.get('report_version'))}, account {_e(data.get('account_id'))}.</p></footer>"
        "</main></body></html>\n"
    )
    # A secret found only in the finished page: its placeholder escaped, or it would read as a tag.
    return redact_text(page, key=redaction_key, wrap=escape)
