"""Validate's handler: the key is this account's, and IAM (never the finding) names its user and owner."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber
from pydantic import ValidationError

from lambdas.validate import handler as validate
from responder.clients import client
from responder.errors import (
    AccessKeyNotFound,
    ForeignAccessKey,
    PrincipalMismatch,
)
from responder.models import Incident
from responder.steps.validate import protected_entry, validate_key
from tests.lambdas.conftest import ACCOUNT, Account, CallCheck, context
from tests.lambdas.saved import account_state, saved_input
from tests.lambdas.support import incident_for, protect


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


@pytest.mark.parametrize(
    "entry",
    ["analytics-etl", "ANALYTICS-ETL", "arn", "user-id", "arn:aws:iam::123456789012:user/team/analytics-etl"],
)
def test_validate_protects_the_real_owner_whatever_the_finding_says(
    account: Account, monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    live = account.iam.get_user(UserName=account.user)["User"]
    entry = {"arn": live["Arn"], "user-id": live["UserId"]}.get(entry, entry)
    protect(monkeypatch, f"someone-else,{entry}")
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


# ------------------------------------------------------------------ the saved input and its broken twin


def test_saved_input_finds_the_live_user_and_owner(account: Account) -> None:
    owner = validate.handler(saved_input("validate", account), context())
    assert (owner["user_name"], owner["owner"]) == (account.user, "data-platform@example.com")
    assert owner["principal_arn"] == f"arn:aws:iam::{ACCOUNT}:user/{account.user}"


def test_broken_twin_is_refused_before_any_aws_call(account: Account, declared_calls_only: CallCheck) -> None:
    before = account_state(account)
    with pytest.raises(ValidationError, match="access_key_id"):
        validate.handler(saved_input("validate", account, broken=True), context())
    assert account_state(account) == before
    assert not declared_calls_only.calls.get("validate")
