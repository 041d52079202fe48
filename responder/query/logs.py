"""Local CloudTrail log files: discovery, pruning by date, and telling the four file forms apart.

A path is a file or a folder (searched recursively for ``*.json``, ``*.json.gz``, ``*.jsonl``,
``*.jsonl.gz``, and Security Lake's OCSF ``*.parquet``). Where a path follows CloudTrail's layout,
``AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>``, or Security Lake's,
``.../region=<region>/accountId=<account>/eventDay=YYYYMMDD/<file>``, only days of the window (plus a
margin for late delivery) are opened; whole year, month and day folders outside it are never entered.
An Iceberg table's ``metadata`` files (``*.metadata.json``) describe files, they hold no event.
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

FileForm = Literal["records", "array", "lines", "ocsf"]
SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".parquet")
_NOT_LOGS = (".metadata.json",)  # Iceberg table metadata beside Security Lake's data files
# .../CloudTrail/<region>/YYYY[/MM[/DD]] (a folder) or .../YYYY/MM/DD/<file>
_DIR_RE = re.compile(r"(?:^|/)CloudTrail/[^/]+/(\d{4})(?:/(\d{2})(?:/(\d{2}))?)?$")
_FILE_RE = re.compile(r"(?:^|/)CloudTrail/[^/]+/(\d{4})/(\d{2})/(\d{2})/[^/]+$")
# Security Lake: .../eventDay=YYYYMMDD (a folder) or .../eventDay=YYYYMMDD/<file>
_LAKE_DIR_RE = re.compile(r"(?:^|/)eventDay=(\d{4})(\d{2})(\d{2})$")
_LAKE_FILE_RE = re.compile(r"(?:^|/)eventDay=(\d{4})(\d{2})(\d{2})/[^/]+$")
_PARQUET_MAGIC = b"PAR1"
_RECORDS_RE = re.compile(rb'^\s*\{\s*"Records"\s*:')
_SKIP_DIRS = frozenset({"CloudTrail-Digest"})  # digests are signatures, not events


def is_ocsf_file(path: Path) -> bool:
    """A Security Lake (OCSF Parquet) file: events, but not CloudTrail's signed files."""
    return path.name.endswith(".parquet")


def is_log_file(path: Path) -> bool:
    return path.name.endswith(SUFFIXES) and not path.name.endswith(_NOT_LOGS)


def file_day(path: Path | str) -> date | None:
    """The day of a file in CloudTrail's (or Security Lake's) layout, or None where the path follows neither."""
    posix = Path(path).as_posix()
    match = _FILE_RE.search(posix) or _LAKE_FILE_RE.search(posix)
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _dir_overlaps(dirpath: str, first: date, last: date) -> bool:
    posix = Path(dirpath).as_posix()
    match = _DIR_RE.search(posix) or _LAKE_DIR_RE.search(posix)
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
    """``records`` ({"Records": [...]}, CloudTrail's own), ``array`` (a bare list), ``lines`` (JSON lines)
    or ``ocsf`` (Security Lake's OCSF Parquet)."""
    name = path.name
    if is_ocsf_file(path):
        try:
            with open(path, "rb") as fh:
                magic = fh.read(4)
        except OSError as exc:
            raise LogsUnreadable(f"{path}: cannot read: {exc}") from exc
        if magic != _PARQUET_MAGIC:
            raise LogsUnreadable(f"{path}: not a Parquet file (starts with {magic!r})")
        return "ocsf"
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
