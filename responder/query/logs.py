"""Local CloudTrail log files: discovery, pruning by date, and telling the three file forms apart.

A path is a file or a folder (searched recursively for ``*.json``, ``*.json.gz``, ``*.jsonl``,
``*.jsonl.gz``). Where a path follows CloudTrail's layout,
``AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>``, only days of the window (plus a
margin for late delivery) are opened; whole year, month and day folders outside it are never entered.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Literal

from responder.errors import LogsUnreadable

FileForm = Literal["records", "array", "lines"]
SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz")
# .../CloudTrail/<region>/YYYY[/MM[/DD]] (a folder) or .../YYYY/MM/DD/<file>
_DIR_RE = re.compile(r"(?:^|/)CloudTrail/[^/]+/(\d{4})(?:/(\d{2})(?:/(\d{2}))?)?$")
_FILE_RE = re.compile(r"(?:^|/)CloudTrail/[^/]+/(\d{4})/(\d{2})/(\d{2})/[^/]+$")
_RECORDS_RE = re.compile(rb'^\s*\{\s*"Records"\s*:')
_SKIP_DIRS = frozenset({"CloudTrail-Digest"})  # digests are signatures, not events


def is_log_file(path: Path) -> bool:
    return path.name.endswith(SUFFIXES)


def file_day(path: Path | str) -> date | None:
    """The day of a file in CloudTrail's layout, or None where the path does not follow it."""
    match = _FILE_RE.search(Path(path).as_posix())
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _dir_overlaps(dirpath: str, first: date, last: date) -> bool:
    match = _DIR_RE.search(Path(dirpath).as_posix())
    if not match:
        return True
    year, month, day = match.groups()
    try:
        if day:
            lo = hi = date(int(year), int(month), int(day))
        elif month:
            lo = date(int(year), int(month), 1)
            hi = date(int(year) + (int(month) == 12), int(month) % 12 + 1, 1).replace(day=1)
            hi = date.fromordinal(hi.toordinal() - 1)
        else:
            lo, hi = date(int(year), 1, 1), date(int(year), 12, 31)
    except ValueError:
        return True  # not a date after all: look inside
    return lo <= last and hi >= first


def select_files(
    paths: Iterable[str | Path], first: date | None = None, last: date | None = None
) -> list[Path]:
    """Log files under ``paths``; with ``first``/``last``, CloudTrail-layout files outside those days are left out."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            day = file_day(path)
            if first is None or last is None or day is None or first <= day <= last:
                out.append(path)
            continue
        if not path.is_dir():
            raise LogsUnreadable(f"{path}: no such file or folder")
        for dirpath, dirnames, filenames in os.walk(path):
            keep = []
            for d in sorted(dirnames):
                if d in _SKIP_DIRS:
                    continue
                if (
                    first is not None
                    and last is not None
                    and not _dir_overlaps(f"{dirpath}/{d}", first, last)
                ):
                    continue
                keep.append(d)
            dirnames[:] = keep
            for name in sorted(filenames):
                file = Path(dirpath) / name
                if not is_log_file(file):
                    continue
                day = file_day(file)
                if first is None or last is None or day is None or first <= day <= last:
                    out.append(file)
    return sorted(dict.fromkeys(out))


def file_form(path: Path) -> FileForm:
    """``records`` ({"Records": [...]}, CloudTrail's own), ``array`` (a bare list) or ``lines`` (JSON lines)."""
    name = path.name
    try:
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            head = fh.read(4096)
    except (OSError, EOFError) as exc:
        raise LogsUnreadable(f"{path}: cannot read: {exc}") from exc
    stripped = head.lstrip()
    if not stripped:
        raise LogsUnreadable(f"{path}: empty file")
    if name.endswith((".jsonl", ".jsonl.gz")):
        return "lines"
    if stripped[:1] == b"[":
        return "array"
    if stripped[:1] != b"{":
        raise LogsUnreadable(f"{path}: not JSON (starts with {stripped[:16]!r})")
    return "records" if _RECORDS_RE.match(head) else "lines"
