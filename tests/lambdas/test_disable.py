"""Disable's handler: the exposed key goes Inactive once, the other key stays Active; claims and read-backs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from lambdas.disable import handler as disable
from lambdas.validate import handler as validate
from responder.clients import client
from responder.errors import (
    AccessKeyNotFound,
    ContainmentInProgress,
    ContainmentUnverified,
)
from responder.models import Incident, Owner
from responder.steps.disable import CLAIM_STALE_SECONDS, disable_key
from tests.lambdas.conftest import ACCOUNT, EXECUTION, Account, context
from tests.lambdas.saved import account_state, saved_input
from tests.lambdas.support import NO_WAIT, incident_for, put_claim


def test_disable_only_the_exposed_key_and_only_once(account: Account) -> None:
    event = {"incident": incident_for(account.exposed_key), "execution_id": EXECUTION}
    event["owner"] = validate.handler({"incident": event["incident"]}, context())

    first = disable.handler(event, context())
    assert [(a["action"], a["status"]) for a in first["actions"]] == [("disable_access_key", "done")]
    assert account.key_status(account.exposed_key) == "Inactive"
    assert account.key_status(account.innocent_key) == "Active"

    again = disable.handler({**event, "execution_id": EXECUTION + "-rerun"}, context())
    assert [(a["action"], a["status"]) for a in again["actions"]] == [("disable_access_key", "already_done")]
    assert "inc-test-0001" in again["actions"][0]["detail"]

    # The before/after state is on record for `responder recover`.
    items = account.ddb.query(
        TableName=account.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "INCIDENT#inc-test-0001"}},
    )["Items"]
    assert [(i["action"]["S"], i["before"]["S"], i["after"]["S"]) for i in items] == [
        ("disable_access_key", '{"Status": "Active"}', '{"Status": "Inactive"}')
    ]


def test_recovered_key_can_be_contained_again(account: Account) -> None:
    """recover releases the key's claim: if the key leaks again, a new run disables it (not already_done)."""
    from workstation.recover import recover_incident

    event = {"incident": incident_for(account.exposed_key), "execution_id": EXECUTION}
    event["owner"] = validate.handler({"incident": event["incident"]}, context())
    assert disable.handler(event, context())["actions"][0]["status"] == "done"
    undone = recover_incident(account.iam, account.ddb, account.table, "inc-test-0001")
    assert ("undo_disable_access_key", "done") in [(a.action, a.status) for a in undone]
    assert account.key_status(account.exposed_key) == "Active"

    again = {**event, "incident": incident_for(account.exposed_key, incident_id="inc-test-0002")}
    assert (
        disable.handler({**again, "execution_id": EXECUTION + "-2"}, context())["actions"][0]["status"]
        == "done"
    )
    assert account.key_status(account.exposed_key) == "Inactive"


def _owner(account: Account) -> Owner:
    return Owner(access_key_id=account.exposed_key, account_id=ACCOUNT, user_name=account.user)


def _claim(account: Account) -> dict[str, str]:
    item = account.ddb.get_item(
        TableName=account.table,
        Key={"pk": {"S": f"KEY#{account.exposed_key}"}, "sk": {"S": "CONTAINMENT"}},
    )["Item"]
    return {k: next(iter(v.values())) for k, v in item.items()}


def _disable(account: Account, execution: str = EXECUTION) -> list[Any]:
    incident = Incident.model_validate(incident_for(account.exposed_key))
    return disable_key(
        account.iam,
        account.ddb,
        account.table,
        incident,
        _owner(account),
        execution_id=execution,
        sleep=NO_WAIT,
    )


def test_a_claim_older_than_any_attempt_is_taken_over_and_the_key_disabled(account: Account) -> None:
    claimed_at = put_claim(account, "in_progress", timedelta(seconds=CLAIM_STALE_SECONDS + 60))
    [action] = _disable(account)
    assert action.status == "done"
    assert f"took over the stale claim of {claimed_at}" in action.detail
    assert account.key_status(account.exposed_key) == "Inactive"
    assert (_claim(account)["status"], _claim(account)["execution_id"]) == ("done", EXECUTION)


def test_a_live_claim_on_an_active_key_is_waited_for_then_retried_not_reported_done(account: Account) -> None:
    put_claim(account, "in_progress", timedelta(seconds=1), execution="alive")
    with pytest.raises(ContainmentInProgress, match="still reads Active"):
        _disable(account)
    assert account.key_status(account.exposed_key) == "Active"
    assert _claim(account)["execution_id"] == "alive"  # the live holder keeps its claim


def test_already_done_only_when_the_key_reads_inactive(account: Account) -> None:
    put_claim(account, "done", timedelta(minutes=5), execution="earlier")
    account.iam.update_access_key(UserName=account.user, AccessKeyId=account.exposed_key, Status="Inactive")
    [action] = _disable(account)
    assert action.status == "already_done" and "reads Inactive" in action.detail

    # Set Active again outside `responder recover` (the attacker, or a hand): contained again, once.
    account.iam.update_access_key(UserName=account.user, AccessKeyId=account.exposed_key, Status="Active")
    [again] = _disable(account, EXECUTION + "-2")
    assert again.status == "done" and "contained again" in again.detail
    assert account.key_status(account.exposed_key) == "Inactive"
    [third] = _disable(account, EXECUTION + "-3")
    assert third.status == "already_done"


def test_a_key_that_does_not_read_back_inactive_is_a_named_error_and_releases_the_claim(
    account: Account,
) -> None:
    """IAM's read-back is what moto cannot fake; botocore's Stubber gives the real API shapes."""
    iam = client("iam")
    listed = {
        "AccessKeyMetadata": [
            {"UserName": account.user, "AccessKeyId": account.exposed_key, "Status": "Active"}
        ]
    }
    incident = Incident.model_validate(incident_for(account.exposed_key))
    with Stubber(iam) as stub:
        stub.add_response("list_access_keys", listed, {"UserName": account.user})  # the status before
        stub.add_response(
            "update_access_key",
            {},
            {"UserName": account.user, "AccessKeyId": account.exposed_key, "Status": "Inactive"},
        )
        for _ in range(5):  # the bounded read-back, while IAM propagates
            stub.add_response("list_access_keys", listed, {"UserName": account.user})
        with pytest.raises(ContainmentUnverified, match="still reads Active after 5 reads"):
            disable_key(
                iam,
                account.ddb,
                account.table,
                incident,
                _owner(account),
                execution_id=EXECUTION,
                sleep=NO_WAIT,
            )
        stub.assert_no_pending_responses()
    assert _claim(account)["status"] == "failed"  # a later run may take it over


def test_the_disable_step_reads_the_key_back(account: Account) -> None:
    event = {"incident": incident_for(account.exposed_key), "execution_id": EXECUTION}
    event["owner"] = validate.handler({"incident": event["incident"]}, context())
    [action] = disable.handler(event, context())["actions"]
    assert action["status"] == "done" and "read back Inactive" in action["detail"]


def test_a_dead_attempt_that_had_disabled_the_key_is_finished_by_the_next_run(account: Account) -> None:
    """It died after UpdateAccessKey, before revoking: already_done for the key, but this run revokes."""
    from lambdas.revoke_sessions import handler as revoke_step

    put_claim(account, "in_progress", timedelta(hours=2))
    account.iam.update_access_key(UserName=account.user, AccessKeyId=account.exposed_key, Status="Inactive")
    [action] = _disable(account)
    assert action.status == "already_done" and "this run completes the response" in action.detail
    assert (_claim(account)["status"], _claim(account)["execution_id"]) == ("done", EXECUTION)
    out = revoke_step.handler(
        {
            "incident": incident_for(account.exposed_key),
            "owner": _owner(account).model_dump(mode="json"),
            "containment": {"actions": [action.model_dump(mode="json")]},
            "execution_id": EXECUTION,
        },
        context("responder-revoke-sessions"),
    )
    assert [(a["action"], a["status"]) for a in out["actions"]] == [
        ("revoke_sessions", "done"),
        ("tag_principal", "done"),
    ]
    # A live run's already_done still leaves the revocation to the run that disabled the key.
    [later] = _disable(account, EXECUTION + "-later")
    assert later.status == "already_done" and "completes the response" not in later.detail


# ------------------------------------------------------------------ the saved input and its broken twin


def test_saved_input_sets_only_that_key_inactive(account: Account) -> None:
    out = disable.handler(saved_input("disable", account), context())
    assert [(a["action"], a["status"]) for a in out["actions"]] == [("disable_access_key", "done")]
    assert account.key_status(account.exposed_key) == "Inactive"
    assert account.key_status(account.innocent_key) == "Active"


def test_broken_twin_is_a_named_error_and_changes_nothing(account: Account) -> None:
    # The owner names a key the user does not hold: nothing is disabled on its word.
    before = account_state(account)
    with pytest.raises(AccessKeyNotFound):
        disable.handler(saved_input("disable", account, broken=True), context())
    assert account_state(account) == before
