"""Saved queries: files, parameters, rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from responder.errors import InvalidQueryParameter, UnknownQuery
from responder.query import ALL_QUERIES, QUERY_NAMES, QueryParams, query_text
from responder.query.sql import parse, positional, render_duckdb

REPO = Path(__file__).resolve().parents[2]


def test_the_playbooks_six_queries_and_provenance_and_the_top_level_folder():
    assert len(QUERY_NAMES) == 7 and QUERY_NAMES[-1] == "key_provenance"
    for name in ALL_QUERIES:
        assert (REPO / "queries" / f"{name}.sql").read_text() == query_text(name)
        assert parse(name).sql(dialect="trino")  # parses as Trino


@pytest.mark.parametrize(
    "key",
    [
        "AKIA'; DROP TABLE x --",
        "akiaabcdefghijklmnop",
        "AKIAABCDEFGHIJKLMNO",
        "AROAABCDEFGHIJKLMNOP",
        "",
        None,
    ],
)
def test_bad_keys_rejected(key):
    with pytest.raises(InvalidQueryParameter):
        QueryParams(key, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))


def test_times_are_validated_and_rendered():
    cet = timezone(timedelta(hours=1))
    p = QueryParams.of(
        {
            "access_key_id": "ASIAABCDEFGHIJKLMNOP",
            "start": datetime(2024, 1, 1, 1, tzinfo=cet),
            "end": "2024-01-02T00:00:00.123Z",
        }
    )
    assert p.bindings()["window_start"] == "2024-01-01T00:00:00Z"
    assert p.bindings()["window_end"] == "2024-01-02T00:00:00Z"
    for start, end in [
        ("2024-01-02T00:00:00Z", "2024-01-01T00:00:00Z"),
        ("2024-01-01T00:00:00", "2024-01-02T00:00:00Z"),
        ("2024-01-01'; --", "2024-01-02T00:00:00Z"),
        (5, "2024-01-02T00:00:00Z"),
    ]:
        with pytest.raises(InvalidQueryParameter):
            QueryParams.of({"access_key_id": "ASIAABCDEFGHIJKLMNOP", "start": start, "end": end})
    with pytest.raises(InvalidQueryParameter, match="missing"):
        QueryParams.of({"access_key_id": "ASIAABCDEFGHIJKLMNOP"})


def test_unknown_query():
    with pytest.raises(UnknownQuery):
        query_text("../../etc/passwd")


def test_duckdb_binds_named_parameters():
    params = QueryParams.of(
        {
            "access_key_id": "ASIAABCDEFGHIJKLMNOP",
            "start": "2024-01-01T00:00:00Z",
            "end": "2024-01-02T00:00:00Z",
        }
    )
    sql, bindings = render_duckdb("coverage", params)
    assert "$window_start" in sql and "2024" not in sql
    assert bindings == {"window_start": "2024-01-01T00:00:00Z", "window_end": "2024-01-02T00:00:00Z"}


def test_positional_skips_literals_and_comments():
    assert positional("SELECT ':x' /* :y */, :a, :b, :a", {"a": "1", "b": "2"}) == (
        "SELECT ':x' /* :y */, ?, ?, ?",
        ["1", "2", "1"],
    )
    with pytest.raises(InvalidQueryParameter):
        positional("SELECT :nope", {})
