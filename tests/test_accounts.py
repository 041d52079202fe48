"""The organization as the hub sees it (moto's Organizations and multi-account STS): membership,
names, OUs and tags read live and cached; the SOC's account policy; the member role a step assumes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from responder.accounts import (
    AccountPolicy,
    OrgAccount,
    Organization,
    assume_member,
    member_role_arn,
    parse_policy_entries,
)
from responder.errors import InvalidInput

INCIDENT = "inc-0123456789abcdef"


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("organizations")
        client.create_organization(FeatureSet="ALL")
        root = client.list_roots()["Roots"][0]["Id"]
        ou = client.create_organizational_unit(ParentId=root, Name="Production")["OrganizationalUnit"]["Id"]
        status = client.create_account(AccountName="payments-prod", Email="payments@example.com")[
            "CreateAccountStatus"
        ]
        member = status["AccountId"]
        client.move_account(AccountId=member, SourceParentId=root, DestinationParentId=ou)
        client.tag_resource(ResourceId=member, Tags=[{"Key": "environment", "Value": "production"}])
        yield {"client": client, "member": member, "ou": ou, "root": root}


def test_a_member_is_read_with_its_name_ou_and_tags_and_an_outsider_is_none(org: dict[str, Any]) -> None:
    view = Organization(org["client"])
    found = view.account(org["member"])
    assert found is not None and found.active
    assert (found.name, found.parent_id, dict(found.tags)) == (
        "payments-prod",
        org["ou"],
        {"environment": "production"},
    )
    assert view.account("333333333333") is None
    with pytest.raises(InvalidInput):
        view.account("12345")


def test_the_view_is_cached_for_its_ttl(org: dict[str, Any]) -> None:
    calls: list[str] = []
    client = org["client"]

    class Counting:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(client, name)

    now = [0.0]
    view = Organization(Counting(), ttl=300, clock=lambda: now[0])
    view.account(org["member"])
    view.account(org["member"])
    assert calls == ["describe_account", "list_parents", "list_tags_for_resource"]
    now[0] = 301.0
    view.account(org["member"])
    assert len(calls) == 6


def test_the_account_policy_decides_in_order_notify_ask_automatic() -> None:
    prod = OrgAccount(
        "222222222222", "payments-prod", "ACTIVE", "ou-ab12-cdefgh34", {"environment": "production"}
    )
    sandbox = OrgAccount("444444444444", "sandbox", "ACTIVE", "ou-ab12-zzzzzzzz", {})
    assert AccountPolicy().mode(prod)[0] == "automatic"
    assert AccountPolicy(notify_only=("environment=production",)).mode(prod)[0] == "notify"
    assert (
        AccountPolicy(ask_first=("ou-ab12-cdefgh34",), notify_only=("444444444444",)).mode(prod)[0]
        == "approval"
    )
    # An allow list: what it names is automatic, everything else asks first.
    allow = AccountPolicy(automatic=("444444444444",))
    assert (allow.mode(sandbox)[0], allow.mode(prod)[0]) == ("automatic", "approval")
    # notify_only wins over every other list that also names the account.
    both = AccountPolicy(notify_only=("222222222222",), automatic=("222222222222",))
    mode, why = both.mode(prod)
    assert mode == "notify" and "'222222222222'" in why and "payments-prod" in why


def test_policy_entries_are_checked() -> None:
    assert parse_policy_entries([" 222222222222 ", "ou-ab12-cdefgh34", "r-ab12", "team=payments"], "x") == (
        "222222222222",
        "ou-ab12-cdefgh34",
        "r-ab12",
        "team=payments",
    )
    with pytest.raises(InvalidInput, match="not an account id"):
        parse_policy_entries(["2222"], "responder:accountPolicy")


def test_a_step_acts_in_the_member_as_its_role_named_after_the_incident(org: dict[str, Any]) -> None:
    member = org["member"]
    creds = assume_member(boto3.client("sts"), member, "contain", INCIDENT)
    who = boto3.client("sts", **creds).get_caller_identity()
    assert who["Account"] == member
    assert who["Arn"] == f"arn:aws:sts::{member}:assumed-role/responder-member-contain/{INCIDENT}"
    assert (
        member_role_arn(member, "investigate") == f"arn:aws:iam::{member}:role/responder-member-investigate"
    )
    with pytest.raises(InvalidInput):
        member_role_arn(member, "admin")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        assume_member(boto3.client("sts"), member, "contain", "inc/../../x")


def test_a_member_client_acts_in_the_member_and_its_session_is_reused(org: dict[str, Any]) -> None:
    from responder import clients

    clients.reset()
    member = org["member"]
    now = [0.0]
    iam = clients.member_client("iam", member, "contain", INCIDENT, clock=lambda: now[0])
    iam.create_user(UserName="only-in-the-member")
    assert "only-in-the-member" not in [u["UserName"] for u in boto3.client("iam").list_users()["Users"]]
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["only-in-the-member"]
    first = clients._MEMBER_SESSIONS[(member, "contain", INCIDENT)]
    clients.member_client("iam", member, "contain", INCIDENT, clock=lambda: now[0])
    assert clients._MEMBER_SESSIONS[(member, "contain", INCIDENT)] is first  # reused
    now[0] = 900.0  # past the session's life less the margin: a new one
    clients.member_client("iam", member, "contain", INCIDENT, clock=lambda: now[0])
    assert clients._MEMBER_SESSIONS[(member, "contain", INCIDENT)] is not first
    # The hub's own account gets its own clients; a member's, the member's role.
    own = boto3.client("sts").get_caller_identity()["Account"]
    assert clients.acting_client(own, own, "contain", INCIDENT) is clients.client
    sts = clients.acting_client(member, own, "investigate", INCIDENT)("sts")
    assert sts.get_caller_identity()["Arn"].endswith(f"assumed-role/responder-member-investigate/{INCIDENT}")
    clients.reset()
