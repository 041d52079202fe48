"""PlanQueries, StartQuery, QueryStatus, QueryResults and Report as the workflow calls them, under moto,
over a small set of generated CloudTrail logs (the demo's story) on the DuckDB engine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest

from lambdas.plan_queries import handler as query_plan
from lambdas.query_results import handler as query_results
from lambdas.query_status import handler as query_status
from lambdas.report import handler as report_step
from lambdas.snapshot import handler as snapshot
from lambdas.start_query import handler as query_start
from responder.errors import InvalidInput, InvalidQueryParameter
from responder.evidence import read_evidence, sha256_hex
from tests.conftest import REPO
from tests.lambdas.conftest import ACCOUNT, EXECUTION, Account, context
from tests.lambdas.test_containment_steps import incident_for
from workstation.demo.cloudtrail import LogSet, generate_logs
from workstation.demo.scenario import default_scenario

EXPOSED = "AKIAEXPOSEDKEY000001"
SIX = {
    "key_activity",
    "minted_credentials",
    "write_events",
    "s3_data_events",
    "source_ips",
    "same_ip_credentials",
}
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> LogSet:
    story = default_scenario(
        NOW,
        account_id=ACCOUNT,
        exposed_key_id=EXPOSED,
        innocent_key_id="AKIAINNOCENTKEY00001",
        user_name="analytics-etl",
        backdoor_key_id="AKIABACKDOORKEY00001",
    )
    return generate_logs(story, tmp_path_factory.mktemp("trail") / "logs", days=8, background_per_day=20)


@pytest.fixture
def queries(account: Account, logs: LogSet, monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    monkeypatch.setenv("LOCAL_LOG_PATHS", str(logs.root))
    monkeypatch.setenv("POLL_SECONDS", "3")
    from responder.settings import get_settings

    get_settings.cache_clear()  # a new settings object: lambdas.query_engine builds a new engine
    yield account
    get_settings.cache_clear()


def incident() -> dict[str, Any]:
    return incident_for(EXPOSED)


def plan(round_: int) -> dict[str, Any]:
    event = {
        "incident": incident(),
        "execution_id": EXECUTION,
        "started_at": NOW.isoformat(),
        "round": round_,
    }
    return query_plan.handler(event, context())


def run_query(task: dict[str, Any]) -> dict[str, Any]:
    handle = query_start.handler(task, context())
    while handle["state"] in ("QUEUED", "RUNNING"):
        handle = query_status.handler(handle, context())
    return query_results.handler(handle, context())


def run_all_rounds() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    results: list[dict[str, Any]] = []
    round_ = 0
    while True:
        out = plan(round_)
        if out["done"]:
            return results, out
        results += [run_query(task) for task in out["batch"]]
        round_ = out["round"]


def test_plan_first_round_is_the_exposed_keys_six_queries(queries: Account) -> None:
    out = plan(0)
    assert (out["done"], out["round"], out["queries_run"]) == (False, 1, 0)
    assert {t["access_key_id"] for t in out["batch"]} == {EXPOSED}
    assert {t["name"] for t in out["batch"]} == SIX
    # Coverage is measured once: on the exposed key's activity query.
    assert [t["name"] for t in out["batch"] if t["coverage"]] == ["key_activity"]
    window = out["window"]
    assert window["end"] == NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    start = datetime.fromisoformat(window["start"].replace("Z", "+00:00"))
    assert NOW - start == timedelta(days=7)  # the incident's lookback, from the execution's start


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


def test_start_rejects_a_malformed_key_before_any_engine_sees_it(queries: Account) -> None:
    [task] = [t for t in plan(0)["batch"] if t["name"] == "key_activity"]
    with pytest.raises(InvalidQueryParameter):
        query_start.handler({**task, "access_key_id": "AKIA' OR 1=1 --"}, context())


def test_plan_pivots_to_minted_credentials_then_ends(queries: Account, logs: LogSet) -> None:
    results, last = run_all_rounds()
    queried = {(r["rows_uri"].rsplit("/queries/", 1)[1]) for r in results}
    assert f"{logs.session_key_id}/key_activity.jsonl" in queried  # the session the exposed key minted
    assert last["done"] and last["batch"] == []
    assert last["queries_run"] == len(results) > len(SIX)


def test_report_writes_a_valid_report_with_the_response(queries: Account, logs: LogSet) -> None:
    run_all_rounds()
    snap = snapshot.handler(
        {"incident": incident(), "execution_input": {"detail": {}}, "execution_id": EXECUTION}, context()
    )
    last = plan(99)
    containment = {
        "actions": [
            {"action": "disable_access_key", "target": EXPOSED, "status": "done", "at": None, "detail": "x"}
        ]
    }
    state = {"incident": incident(), "containment": containment, "investigation": [snap, last]}
    ref = report_step.handler({"state": state, "execution_id": EXECUTION, "started_at": None}, context())
    body = read_evidence(queries.s3, ref["uri"])
    assert ref["sha256"] == sha256_hex(body)
    report = json.loads(body)
    schema = json.loads((REPO / "responder" / "schemas" / "report.schema.json").read_text())
    jsonschema.validate(report, schema)
    response = report["response"]
    assert response["decision"] == "contain"
    assert [(a["action"], a["status"]) for a in response["actions"]] == [
        ("disable_access_key", "done"),
        ("snapshot_bucket_policy", "done"),
    ]
    assert logs.session_key_id in {c["access_key_id"] for c in report["credentials"]}
    assert ref["headline"] and ref["markdown_uri"] and ref["manifest_uri"]


def test_report_without_the_primary_query_is_a_named_error(queries: Account) -> None:
    state = {"incident": incident(), "investigation": [{}, {}]}
    with pytest.raises(InvalidInput, match="key_activity"):
        report_step.handler({"state": state, "execution_id": EXECUTION}, context())


def test_report_rejects_a_state_without_incident(queries: Account) -> None:
    with pytest.raises(InvalidInput):
        report_step.handler({"state": {}, "execution_id": EXECUTION}, context())
