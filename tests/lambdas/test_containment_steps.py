"""Validate and Disable under moto: the exposed key goes Inactive once, the other key stays Active."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber

from lambdas.disable import handler as disable
from lambdas.validate import handler as validate
from responder.clients import client
from responder.containment import validate_key
from responder.errors import AccessKeyNotFound, ForeignAccessKey
from responder.models import Incident
from tests.lambdas.conftest import ACCOUNT, EXECUTION, Account, context


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


def test_validate_finds_user_and_owner(account: Account) -> None:
    owner = validate.handler({"incident": incident_for(account.exposed_key)}, context())
    assert owner["user_name"] == "analytics-etl"
    assert owner["owner"] == "data-platform@example.com"
    assert owner["owner_tag"] == "owner"
    assert owner["account_id"] == ACCOUNT


def test_validate_deleted_key_is_named_error(account: Account) -> None:
    account.iam.delete_access_key(UserName=account.user, AccessKeyId=account.exposed_key)
    with pytest.raises(AccessKeyNotFound, match="no longer exists"):
        validate.handler({"incident": incident_for(account.exposed_key)}, context())


def test_validate_foreign_key_with_real_sts_shape(account: Account) -> None:
    """moto answers GetAccessKeyInfo with its own account; Stubber gives the real API's answer."""
    sts = client("sts")
    incident = Incident.model_validate(incident_for(account.exposed_key))
    with Stubber(sts) as stub:
        stub.add_response(
            "get_access_key_info", {"Account": "999988887777"}, {"AccessKeyId": account.exposed_key}
        )
        with pytest.raises(ForeignAccessKey, match="999988887777"):
            validate_key(sts, client("iam"), incident, owner_tag_keys=("owner",))


def test_validate_rejects_bad_input(account: Account) -> None:
    broken = incident_for(account.exposed_key)
    del broken["decision"]
    with pytest.raises(Exception, match="decision"):
        validate.handler({"incident": broken}, context())


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
