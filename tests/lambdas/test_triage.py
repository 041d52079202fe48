"""Triage's handler: the finding becomes an incident; on `contain`, the key is contained in this step."""

from __future__ import annotations

import copy
import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from lambdas.triage import handler as triage_step
from responder.errors import InvalidInput
from responder.models import Incident
from responder.steps.triage import contain_now
from tests.lambdas.conftest import ACCOUNT, EXECUTION, Account, context
from tests.lambdas.saved import account_state, saved_input
from tests.lambdas.support import NO_WAIT, incident_for, protect, put_claim


def _finding(acct: Account, **key_details: Any) -> dict[str, Any]:
    details = {"accessKeyId": acct.exposed_key, "userType": "IAMUser", **key_details}
    return {
        "version": "0",
        "id": "4b7e0c5a-1d2f-4a3b-8c9d-0e1f2a3b4c5d",
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": details.pop("account", ACCOUNT),
        "time": "2026-12-01T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "id": "f1e2d3c4b5a697887766554433221100",
            "type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
            "severity": 8.0,
            "accountId": details.pop("accountId", ACCOUNT),
            "region": "us-east-1",
            "resource": {"resourceType": "AccessKey", "accessKeyDetails": details},
            "service": {"action": {}, "additionalInfo": {}},
        },
    }


def _triage(event: dict[str, Any], execution: str = EXECUTION) -> dict[str, Any]:
    return triage_step.handler({"input": event, "execution_id": execution}, context("responder-triage"))


def test_the_fast_path_checks_the_list_against_the_live_user(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = account.iam.get_user(UserName=account.user)["User"]["Arn"]
    protect(monkeypatch, arn)
    out = _triage(_finding(account, userName=account.user))
    assert out["containment"]["status"] == "needs_approval"
    assert out["incident"]["decision"]["action"] == "await_approval"
    assert out["owner"]["protected_by"] == f"listed in protectedPrincipals ({arn})"
    assert account.key_status(account.exposed_key) == "Active"


def test_a_finding_naming_a_user_who_does_not_hold_the_key_defers_to_validate(account: Account) -> None:
    account.iam.create_user(UserName="bob")
    out = _triage(_finding(account, userName="bob"))
    assert out["containment"]["status"] == "deferred" and out["owner"] is None
    assert out["incident"]["decision"]["action"] == "contain"  # Validate finds the real owner next
    assert account.key_status(account.exposed_key) == "Active"


def test_a_finding_for_another_account_is_notify_only_and_disables_nothing(account: Account) -> None:
    # The key and the user exist here: the fast path would have disabled them on the finding's word.
    out = _triage(_finding(account, userName=account.user, accountId="999988887777", account="999988887777"))
    decision = out["incident"]["decision"]
    assert decision["action"] == "notify_only"
    assert "999988887777" in decision["reason"] and ACCOUNT in decision["reason"]
    assert out["containment"]["status"] == "not_attempted"
    assert account.key_status(account.exposed_key) == "Active"


def test_a_manual_input_for_another_account_is_notify_only(account: Account) -> None:
    out = _triage({"accessKeyId": account.exposed_key, "accountId": "999988887777"})
    assert out["incident"]["decision"]["action"] == "notify_only"
    assert account.key_status(account.exposed_key) == "Active"


def test_without_a_function_arn_the_account_comes_from_sts(account: Account) -> None:
    bare = dataclasses.replace(context(), invoked_function_arn="")
    triage_step._caller_account.cache_clear()
    out = triage_step.handler(
        {"input": _finding(account, userName=account.user), "execution_id": EXECUTION}, bare
    )
    assert out["containment"]["status"] == "done"  # moto's STS answers with the account the key is in


def test_contain_now_takes_over_a_stale_claim(account: Account) -> None:
    put_claim(account, "in_progress", timedelta(hours=2))
    fast = contain_now(
        account.iam,
        account.ddb,
        account.table,
        Incident.model_validate(incident_for(account.exposed_key)),
        execution_id=EXECUTION,
        owner_tag_keys=("owner",),
        protected_tag="responder:protected",
        sleep=NO_WAIT,
    )
    assert fast.status == "done" and "took over the stale claim" in fast.reason


def _quarantine(account: Account, **caller: Any) -> dict[str, Any]:
    return {
        "source": "quarantine-policy",
        "userName": account.user,
        "policyArn": "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3",
        "accountId": ACCOUNT,
        "region": "us-east-1",
        "eventTime": "2026-12-01T10:00:00Z",
        "eventId": "0f3c4b2a-5d6e-4f70-8a9b-000000000002",
        **caller,
    }


def test_a_quarantine_attach_by_a_user_disables_nothing(account: Account) -> None:
    account.iam.delete_access_key(UserName=account.user, AccessKeyId=account.innocent_key)  # one key
    spoofed = _quarantine(
        account,
        userIdentity={"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/ops-intern"},
        sourceIPAddress="198.51.100.23",
    )
    out = _triage(spoofed)
    assert out["incident"]["decision"]["action"] == "notify_only"
    assert out["incident"]["access_key_id"] is None and out["containment"]["status"] == "not_attempted"
    assert account.key_status(account.exposed_key) == "Active"


def test_awss_quarantine_of_a_protected_user_waits_for_a_yes(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    account.iam.delete_access_key(UserName=account.user, AccessKeyId=account.innocent_key)
    protect(monkeypatch, account.iam.get_user(UserName=account.user)["User"]["UserId"])
    out = _triage(
        _quarantine(account, userIdentity={"invokedBy": "AWS Internal"}, sourceIPAddress="AWS Internal")
    )
    assert out["incident"]["access_key_id"] == account.exposed_key
    assert out["containment"]["status"] == "needs_approval"
    assert out["incident"]["decision"]["action"] == "await_approval"
    assert account.key_status(account.exposed_key) == "Active"


# ------------------------------------------------------------------ the saved input and its broken twin


def test_saved_input_contains_the_key_in_this_step(account: Account) -> None:
    out = triage_step.handler(saved_input("triage", account), context("responder-triage"))
    assert out["incident"]["decision"]["action"] == "contain"
    assert out["containment"]["status"] == "done"
    assert account.key_status(account.exposed_key) == "Inactive"
    assert account.key_status(account.innocent_key) == "Active"


def test_broken_twin_is_a_named_error_and_changes_nothing(account: Account) -> None:
    before = account_state(account)
    with pytest.raises(InvalidInput, match="accessKeyId"):
        triage_step.handler(saved_input("triage", account, broken=True), context("responder-triage"))
    assert account_state(account) == before


def _iam_calls() -> list[str]:
    """The IAM operations the handler's own (cached) client makes from here on."""
    from responder.clients import client

    calls: list[str] = []
    client("iam").meta.events.register("before-call.iam.*", lambda model, **_: calls.append(model.name))
    return calls


def test_an_analysts_key_only_input_is_contained_here_with_its_user_from_iam(account: Account) -> None:
    calls = _iam_calls()
    out = _triage({"accessKeyId": account.exposed_key, "reason": "seen in a public repository"})
    assert out["containment"]["status"] == "done"
    assert out["owner"]["user_name"] == account.user
    assert calls[:3] == ["GetAccessKeyLastUsed", "ListUserTags", "ListAccessKeys"]
    assert account.key_status(account.exposed_key) == "Inactive"
    assert account.key_status(account.innocent_key) == "Active"


def test_an_analyst_naming_the_user_saves_the_lookup(account: Account) -> None:
    calls = _iam_calls()
    out = _triage({"accessKeyId": account.exposed_key, "userName": account.user})
    assert out["containment"]["status"] == "done"
    assert "GetAccessKeyLastUsed" not in calls and calls[:2] == ["ListUserTags", "ListAccessKeys"]
    assert account.key_status(account.exposed_key) == "Inactive"


def test_an_analyst_naming_the_wrong_user_changes_nothing_here(account: Account) -> None:
    account.iam.create_user(UserName="bob")
    out = _triage({"accessKeyId": account.exposed_key, "userName": "bob"})
    # bob does not hold the key: Validate finds the real holder next; nothing acted on the input's word.
    assert out["containment"]["status"] == "deferred" and out["owner"] is None
    assert account.key_status(account.exposed_key) == "Active"


@pytest.mark.parametrize("name", ["", "a b", "x" * 65, 7, "bob\n"])
def test_a_user_name_that_is_no_iam_name_is_a_named_error(account: Account, name: Any) -> None:
    with pytest.raises(InvalidInput, match="userName"):
        _triage({"accessKeyId": account.exposed_key, "userName": name})
    assert account.key_status(account.exposed_key) == "Active"


def test_a_dry_run_goes_the_long_way_and_changes_nothing(account: Account) -> None:
    calls = _iam_calls()
    out = _triage({"accessKeyId": account.exposed_key, "dryRun": True})
    assert out["containment"]["status"] == "deferred"
    assert "GetAccessKeyLastUsed" not in calls
    assert account.key_status(account.exposed_key) == "Active"


def test_before_asking_a_human_the_owner_is_confirmed_and_nothing_changes(account: Account) -> None:
    event = _finding(account, userName=account.user)
    event["detail"]["severity"] = 2.0  # below responder:containMinSeverity: a human decides
    calls = _iam_calls()
    out = _triage(event)
    assert out["incident"]["decision"]["action"] == "await_approval"
    assert out["containment"]["status"] == "not_attempted"
    assert out["owner"]["user_name"] == account.user  # the ASL's Approved choice goes to Disable
    assert "UpdateAccessKey" not in calls
    assert account.key_status(account.exposed_key) == "Active"


# ------------------------------------------------- AWS Health, attack sequences, finding deliveries


def _second_user(acct: Account, name: str = "svc-reporting") -> str:
    acct.iam.create_user(UserName=name)
    return str(acct.iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"])


def _status(acct: Account, user: str, key: str) -> str:
    keys = acct.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    return str(next(k["Status"] for k in keys if k["AccessKeyId"] == key))


def test_aws_health_exposed_key_is_contained_and_says_where_it_was_found(account: Account) -> None:
    out = _triage(saved_input("health_exposed_credentials", account))
    incident = out["incident"]
    assert (incident["source"], incident["signal"]) == ("detection-rule", "aws-health")
    assert incident["principal"]["user_name"] == account.user  # IAM's word: the event names no user
    assert out["containment"]["status"] == "done"
    assert account.key_status(account.exposed_key) == "Inactive"
    assert incident["exposure"]["exposed_urls"] == [
        "https://github.com/example-org/billing-exporter/blob/4f1c2e9/config/settings.py"
    ]
    # The event's own start time (RFC 2822 in AWS Health's events) is where the time to contain starts.
    assert incident["event_time"] == "2026-12-01T09:58:12Z"
    Incident.model_validate(incident)


def test_aws_health_broken_twin_is_a_named_error_and_changes_nothing(account: Account) -> None:
    before = account_state(account)
    with pytest.raises(InvalidInput, match="affected entity is not an AKIA/ASIA access key"):
        _triage(saved_input("health_exposed_credentials", account, broken=True))
    assert account_state(account) == before


def test_an_attack_sequence_contains_each_key_of_the_account_once(account: Account) -> None:
    second = _second_user(account)
    event = saved_input("gd_attack_sequence_event", account, SECOND_KEY=second, SECOND_USER="svc-reporting")
    out = _triage(event)
    incident = out["incident"]
    assert incident["access_key_id"] == account.exposed_key  # the sequence's first key of this account
    assert incident["buckets"] == [account.bucket]
    assert [k["access_key_id"] for k in incident["related_keys"]] == [second]
    assert account.key_status(account.exposed_key) == "Inactive"
    assert _status(account, "svc-reporting", second) == "Inactive"
    assert out["containment"]["related"] == [
        {"access_key_id": second, "user_name": "svc-reporting", "status": "done"}
    ]
    done = [(a["action"], a["target"], a["status"]) for a in out["containment"]["actions"]]
    assert done == [
        ("disable_access_key", account.exposed_key, "done"),
        ("disable_access_key", second, "done"),
    ]
    indicators = {i["key"]: i["values"] for i in incident["sequence"]["indicators"]}
    assert indicators["HIGH_RISK_API"] == ["iam:CreateUser", "s3:PutBucketPolicy"]
    assert "PutBucketPolicy" in incident["api_calls"]
    # Delivered again: each key was contained once, and the repeat ends the run (no second response).
    again = _triage(event | {"id": "another-delivery"}, f"{EXECUTION}-2")
    assert [a["status"] for a in again["containment"]["actions"][:2]] == ["already_done", "already_done"]
    assert again["sighting"]["status"] == "repeat"


def test_an_attack_sequence_broken_twin_is_a_named_error_and_changes_nothing(account: Account) -> None:
    second = _second_user(account)
    before = account_state(account)
    event = saved_input(
        "gd_attack_sequence_event", account, broken=True, SECOND_KEY=second, SECOND_USER="svc-reporting"
    )
    with pytest.raises(InvalidInput, match="is not an S3 bucket name"):
        _triage(event)
    assert account_state(account) == before
    assert _status(account, "svc-reporting", second) == "Active"


def test_a_sequence_key_of_another_account_is_listed_not_contained(account: Account) -> None:
    second = _second_user(account)
    event = saved_input("gd_attack_sequence_event", account, SECOND_KEY=second, SECOND_USER="svc-reporting")
    sequence = event["detail"]["service"]["detection"]["sequence"]
    sequence["actors"][1]["user"]["account"]["uid"] = "999988887777"
    sequence["resources"][1]["accountId"] = "999988887777"
    out = _triage(event)
    assert out["incident"]["related_keys"] == []
    assert _status(account, "svc-reporting", second) == "Active"
    foreign = [k for k in out["incident"]["sequence"]["keys"] if k["account_id"] == "999988887777"]
    assert [k["access_key_id"] for k in foreign] == [second]


def test_a_finding_update_is_recorded_once_handled_and_new_buckets_go_on(account: Account) -> None:
    first = _finding(account, userName=account.user)
    out = _triage(first)
    assert out["sighting"]["status"] == "first"
    update = copy.deepcopy(first)
    update["detail"]["service"]["count"] = 9
    # A retry of the same execution's Triage is still the first delivery.
    assert _triage(first)["sighting"]["status"] == "first"
    again = _triage(update, f"{EXECUTION}-2")
    assert again["sighting"]["status"] == "repeat" and again["sighting"]["deliveries"] == 2
    assert again["sighting"]["first_execution"] == EXECUTION
    assert again["containment"]["actions"][-1]["action"] == "record_finding_update"
    widened = copy.deepcopy(update)
    widened["detail"]["resource"]["s3BucketDetails"] = [{"name": "acme-analytics-staging"}]
    third = _triage(widened, f"{EXECUTION}-3")
    assert third["sighting"]["status"] == "new_resources"
    # Its Triage retried: what was new is not known again, so the run goes on in full.
    assert _triage(widened, f"{EXECUTION}-3")["sighting"]["status"] == "retry"
    assert third["sighting"]["new_buckets"] == ["acme-analytics-staging"]
    item = account.ddb.get_item(
        TableName=account.table,
        Key={"pk": {"S": f"INCIDENT#{out['incident']['incident_id']}"}, "sk": {"S": "FINDING"}},
    )["Item"]
    assert len(item["executions"]["SS"]) == 3 and item["last_count"]["N"] == "9"
    assert set(item["buckets"]["SS"]) == {"acme-analytics-staging"}


def test_a_delivery_that_cannot_be_recorded_is_answered_in_full(account: Account) -> None:
    from responder.sightings import record_sighting

    incident = Incident.model_validate(_triage(_finding(account, userName=account.user))["incident"])
    sighting = record_sighting(account.ddb, "no-such-table", incident, execution_id=f"{EXECUTION}-9")
    assert sighting is not None and sighting.status == "not_recorded"
    assert "ResourceNotFoundException" in sighting.reason


def test_a_later_delivery_that_contains_the_key_goes_on_to_revoke_and_investigate(account: Account) -> None:
    """The first delivery's run was recorded but never disabled the key (it died, or lost a race):
    the delivery whose Triage contains it is not a mere repeat."""
    from responder.settings import Settings
    from responder.sightings import record_sighting
    from responder.steps.triage import triage

    event = _finding(account, userName=account.user)
    incident = triage(event, Settings())
    assert (
        record_sighting(account.ddb, account.table, incident, execution_id=f"{EXECUTION}-died").status
        == "first"
    )
    out = _triage(event, f"{EXECUTION}-2")
    assert out["containment"]["status"] == "done" and account.key_status(account.exposed_key) == "Inactive"
    assert out["sighting"]["status"] == "contained_now"
