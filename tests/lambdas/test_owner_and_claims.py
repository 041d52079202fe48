"""Issue 12, triage and containment under moto: protection is judged on the key's real owner, on every
path; only this account is acted on; a dead attempt's claim is taken over; nothing is reported contained
that does not read back so."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from lambdas.disable import handler as disable
from lambdas.triage import handler as triage_step
from lambdas.validate import handler as validate
from responder.clients import client
from responder.containment import (
    CLAIM_STALE_SECONDS,
    Owner,
    contain_now,
    disable_key,
    protected_entry,
    validate_key,
)
from responder.errors import ContainmentInProgress, ContainmentUnverified, PrincipalMismatch
from responder.models import Incident, iso, utc_now
from tests.lambdas.conftest import ACCOUNT, EXECUTION, Account, context
from tests.lambdas.test_containment_steps import incident_for

NO_WAIT = lambda _seconds: None  # noqa: E731 - the bounded waits are counted, not slept, in tests


def _protect(monkeypatch: pytest.MonkeyPatch, entries: str) -> None:
    from responder.settings import get_settings

    monkeypatch.setenv("PROTECTED_PRINCIPALS", entries)
    get_settings.cache_clear()


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


def _triage(event: dict[str, Any]) -> dict[str, Any]:
    return triage_step.handler({"input": event, "execution_id": EXECUTION}, context("responder-triage"))


# ----------------------------------------------------------------------- protected: the real owner


@pytest.mark.parametrize(
    "entry",
    ["analytics-etl", "ANALYTICS-ETL", "arn", "user-id", "arn:aws:iam::123456789012:user/team/analytics-etl"],
)
def test_validate_protects_the_real_owner_whatever_the_finding_says(
    account: Account, monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    live = account.iam.get_user(UserName=account.user)["User"]
    entry = {"arn": live["Arn"], "user-id": live["UserId"]}.get(entry, entry)
    _protect(monkeypatch, f"someone-else,{entry}")
    # The finding names another user, or none: the key's real owner is what the list is compared with.
    for principal in ({"type": "IAMUser", "user_name": "bob"}, {}):
        incident = incident_for(account.exposed_key, principal=principal)
        owner = validate.handler({"incident": incident}, context())
        assert (owner["user_name"], owner["principal_arn"], owner["principal_id"]) == (
            account.user,
            live["Arn"],
            live["UserId"],
        )
        assert owner["protected"] is True
        assert entry in owner["protected_by"]


def test_a_protected_name_in_the_finding_does_not_protect_another_owner(account: Account) -> None:
    owner = validate_key(
        client("sts"),
        client("iam"),
        Incident.model_validate(
            incident_for(account.exposed_key, principal={"type": "IAMUser", "user_name": "break-glass"})
        ),
        owner_tag_keys=("owner",),
        protected_principals=("break-glass",),
    )
    assert owner.user_name == account.user and owner.protected is False


def test_list_entries_match_names_ids_and_arns_but_not_other_principals() -> None:
    arn = "arn:aws:iam::123456789012:role/ops/deployer"
    match = {"kind": "role", "name": "deployer", "principal_id": "AROAEXAMPLE0001", "arn": arn}
    assert protected_entry(["Deployer"], **match) == "Deployer"
    assert protected_entry(["AROAEXAMPLE0001"], **match) == "AROAEXAMPLE0001"
    assert protected_entry([arn], **match) == arn
    assert protected_entry(["arn:aws:sts::123456789012:assumed-role/deployer/s1"], **match)
    assert protected_entry(["arn:aws:iam::123456789012:user/deployer"], **match) is None  # a user
    assert protected_entry(["deployer2", "AROAEXAMPLE0002", ""], **match) is None


def test_the_fast_path_checks_the_list_against_the_live_user(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = account.iam.get_user(UserName=account.user)["User"]["Arn"]
    _protect(monkeypatch, arn)
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


def test_a_role_session_reads_the_roles_protected_tag(account: Account) -> None:
    iam, sts = account.iam, client("sts")
    role = iam.create_role(
        RoleName="app-deploy",
        AssumeRolePolicyDocument="{}",
        Tags=[{"Key": "responder:protected", "Value": "true"}],
    )["Role"]
    session = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="i-0a1b2c3d")
    key = session["Credentials"]["AccessKeyId"]
    principal = {
        "type": "AssumedRole",
        "user_name": "app-deploy",
        "principal_id": session["AssumedRoleUser"]["AssumedRoleId"],
    }
    owner = validate.handler({"incident": incident_for(key, principal=principal)}, context())
    assert (owner["principal_type"], owner["user_name"], owner["principal_arn"]) == (
        "AssumedRole",
        "app-deploy",
        role["Arn"],
    )
    assert owner["protected"] is True and owner["protected_by"] == "tagged responder:protected=true"

    # A session id that is not the live role's: a record inconsistent with the account, nothing done.
    forged = {**principal, "principal_id": "AROAFORGEDROLEID0001:i-0a1b2c3d"}
    with pytest.raises(PrincipalMismatch, match="not role app-deploy"):
        validate.handler({"incident": incident_for(key, principal=forged)}, context())
    with pytest.raises(PrincipalMismatch, match="does not exist"):
        validate.handler(
            {"incident": incident_for(key, principal={**principal, "user_name": "no-such-role"})}, context()
        )


# ------------------------------------------------------------------------------- this account only


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


# -------------------------------------------------------------------------- claims and read-back


def _owner(account: Account) -> Owner:
    return Owner(access_key_id=account.exposed_key, account_id=ACCOUNT, user_name=account.user)


def _put_claim(account: Account, status: str, age: timedelta, execution: str = "died") -> str:
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
    claimed_at = _put_claim(account, "in_progress", timedelta(seconds=CLAIM_STALE_SECONDS + 60))
    [action] = _disable(account)
    assert action.status == "done"
    assert f"took over the stale claim of {claimed_at}" in action.detail
    assert account.key_status(account.exposed_key) == "Inactive"
    assert (_claim(account)["status"], _claim(account)["execution_id"]) == ("done", EXECUTION)


def test_a_live_claim_on_an_active_key_is_waited_for_then_retried_not_reported_done(account: Account) -> None:
    _put_claim(account, "in_progress", timedelta(seconds=1), execution="alive")
    with pytest.raises(ContainmentInProgress, match="still reads Active"):
        _disable(account)
    assert account.key_status(account.exposed_key) == "Active"
    assert _claim(account)["execution_id"] == "alive"  # the live holder keeps its claim


def test_already_done_only_when_the_key_reads_inactive(account: Account) -> None:
    _put_claim(account, "done", timedelta(minutes=5), execution="earlier")
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


def test_contain_now_takes_over_a_stale_claim(account: Account) -> None:
    _put_claim(account, "in_progress", timedelta(hours=2))
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


# ---------------------------------------------------------------------------- the quarantine path


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
    _protect(monkeypatch, account.iam.get_user(UserName=account.user)["User"]["UserId"])
    out = _triage(
        _quarantine(account, userIdentity={"invokedBy": "AWS Internal"}, sourceIPAddress="AWS Internal")
    )
    assert out["incident"]["access_key_id"] == account.exposed_key
    assert out["containment"]["status"] == "needs_approval"
    assert out["incident"]["decision"]["action"] == "await_approval"
    assert account.key_status(account.exposed_key) == "Active"


def test_a_dead_attempt_that_had_disabled_the_key_is_finished_by_the_next_run(account: Account) -> None:
    """It died after UpdateAccessKey, before revoking: already_done for the key, but this run revokes."""
    from lambdas.revoke_sessions import handler as revoke_step

    _put_claim(account, "in_progress", timedelta(hours=2))
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
