"""QueryResults' handler: the rows saved redacted, with their hash, and the coverage measured once."""

from __future__ import annotations

import json

import pytest

from lambdas.query_results import handler as query_results
from lambdas.query_status import handler as query_status
from lambdas.start_query import handler as query_start
from responder.errors import InvalidQueryParameter
from responder.evidence import read_evidence, sha256_hex
from tests.lambdas.conftest import EXPOSED, Account, context
from tests.lambdas.saved import account_state, saved_input
from tests.lambdas.support import plan, query_values
from workstation.demo.cloudtrail import LogSet


def test_start_status_results_save_redacted_rows_with_their_hash(queries: Account, logs: LogSet) -> None:
    [task] = [t for t in plan(0)["batch"] if t["name"] == "key_activity"]
    handle = query_start.handler(task, context())
    assert handle["engine"] == "duckdb" and handle["query_id"]
    assert handle["wait_seconds"] in (0, 3)  # 0 once done: the Wait state does not sleep for nothing
    polled = query_status.handler(handle, context())
    assert polled["state"] == "FINISHED" and polled["polls"] == 1
    saved = query_results.handler(polled, context())
    assert saved["row_count"] > 0 and saved["name"] == "key_activity"
    body = read_evidence(queries.s3, saved["rows_uri"])
    assert saved["rows_sha256"] == sha256_hex(body)
    rows = [json.loads(line) for line in body.decode().splitlines()]
    assert len(rows) == saved["row_count"]
    assert {r["access_key_id"] for r in rows} == {EXPOSED}
    assert all(token not in body.decode() for token in logs.session_tokens)
    assert saved["coverage"]["status"] == "covered"  # the logs span the whole window
    assert {e["kind"] for e in saved["evidence"]} == {"query:key_activity", "query-meta"}


# ------------------------------------------------------------------ the saved input and its broken twin


def test_saved_input_saves_its_rows_with_their_hash(queries: Account) -> None:
    values = query_values()
    query_id = query_start.handler(saved_input("start_query", **values), context())["query_id"]
    result = query_results.handler(saved_input("query_results", QUERY_ID=query_id, **values), context())
    body = read_evidence(queries.s3, result["rows_uri"])
    assert result["rows_sha256"] == sha256_hex(body) and result["row_count"] == len(body.splitlines()) > 0
    assert result["coverage"]["status"] in ("covered", "partial")


def test_broken_twin_is_a_named_error_and_saves_nothing(queries: Account) -> None:
    values = query_values()
    query_id = query_start.handler(saved_input("start_query", **values), context())["query_id"]
    before = account_state(queries)
    with pytest.raises(InvalidQueryParameter):
        query_results.handler(
            saved_input("query_results", broken=True, QUERY_ID=query_id, **values), context()
        )
    assert account_state(queries) == before
