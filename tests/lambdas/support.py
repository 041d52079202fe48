"""What several handler test modules share: saved-result builders, incidents, small readers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lambdas.plan_queries import handler as query_plan
from lambdas.query_results import handler as query_results
from lambdas.query_status import handler as query_status
from lambdas.snapshot import handler as snapshot
from lambdas.start_query import handler as query_start
from responder.models import iso, utc_now
from tests.lambdas.conftest import ACCOUNT, EXECUTION, EXPOSED, NOW, Account, context
from tests.lambdas.saved import saved_input


def incident_for(key: str, **extra: Any) -> dict[str, Any]:
    return {
        "incident_id": "inc-test-0001",
        "source": "guardduty",
        "access_key_id": key,
        "principal": {"type": "IAMUser", "user_name": "analytics-etl"},
        "account_id": ACCOUNT,
        "buckets": ["acme-customer-exports"],
        "decision": {"action": "contain", "reason": "severity 8.0 >= 7.0"},
        **extra,
    }


NO_WAIT = lambda _seconds: None  # noqa: E731 - the bounded waits are counted, not slept, in tests


def protect(monkeypatch: pytest.MonkeyPatch, entries: str) -> None:
    from responder.settings import get_settings

    monkeypatch.setenv("PROTECTED_PRINCIPALS", entries)
    get_settings.cache_clear()


def put_claim(account: Account, status: str, age: timedelta, execution: str = "died") -> str:
    claimed_at = iso(utc_now() - age)
    account.ddb.put_item(
        TableName=account.table,
        Item={
            "pk": {"S": f"KEY#{account.exposed_key}"},
            "sk": {"S": "CONTAINMENT"},
            "status": {"S": status},
            "incident_id": {"S": "inc-earlier"},
            "execution_id": {"S": execution},
            "claimed_at": {"S": claimed_at},
        },
    )
    return claimed_at


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


def rounds(event: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """PlanQueries from ``event`` to done, each batch run as the Map runs it: (results, last plan)."""
    results: list[dict[str, Any]] = []
    while True:
        out = query_plan.handler(event, context())
        if out["done"]:
            return results, out
        results += [run_query(task) for task in out["batch"]]
        event = {**event, "round": out["round"]}


def run_all_rounds() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return rounds(
        {"incident": incident(), "execution_id": EXECUTION, "started_at": NOW.isoformat(), "round": 0}
    )


def owner(account: Account, **extra: Any) -> dict[str, Any]:
    return {"access_key_id": account.exposed_key, "account_id": ACCOUNT, "user_name": account.user, **extra}


def query_values() -> dict[str, Any]:
    """The saved query-step inputs' placeholders for the ``queries`` fixture's logs (the key EXPOSED)."""
    window = plan(0)["window"]
    return {
        "KEY": EXPOSED,
        "USER": "analytics-etl",
        "BUCKET": "acme-customer-exports",
        "NOW": NOW.isoformat(),
        "WINDOW_START": window["start"],
        "WINDOW_END": window["end"],
    }


def investigated(values: dict[str, Any]) -> dict[str, Any]:
    """What Investigate leaves for Report, from the saved inputs: the snapshot branch's result and the
    last plan after every round (the report's ``SNAPSHOT`` and ``LAST_PLAN``)."""
    snap = snapshot.handler(saved_input("snapshot", **values), context())
    _, last = rounds(saved_input("plan_queries", **values))
    return {"SNAPSHOT": snap, "LAST_PLAN": last}
