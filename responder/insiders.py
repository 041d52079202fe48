"""Who is inside this account, read from the live account: what a grant's conditions must name.

:class:`responder.analysis.buckets.Insiders` is the pure part; this module fills it from the account
(organizations:DescribeOrganization, ec2:DescribeVpcEndpoints / DescribeVpcs in the function's region,
the unique ids of IAM users and roles) and from settings. A read that is refused leaves its part
unknown, and unknown is outside: the analysis then reports the grant as external, it never guesses
it internal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from responder.analysis.buckets import Insiders
from responder.errors import error_code
from responder.permissions import Permission

PERMISSIONS_INSIDERS: tuple[Permission, ...] = (
    Permission(
        ("organizations:DescribeOrganization",),
        ("*",),
        reason="DescribeOrganization supports no resource-level permissions",
    ),
    Permission(
        ("ec2:DescribeVpcEndpoints", "ec2:DescribeVpcs"),
        ("*",),
        reason="EC2 Describe* calls support no resource-level permissions",
    ),
    Permission(("iam:ListUsers", "iam:ListRoles"), ("*",), reason="list calls name no single resource"),
)
"""What :func:`read_insiders` calls (read-only)."""

_MISSING = {
    "AccessDenied",
    "AccessDeniedException",
    "AWSOrganizationsNotInUseException",
    "UnauthorizedOperation",
}


def _code(exc: ClientError) -> str:
    return error_code(exc) or "ClientError"


def _paged(client: Any, operation: str, key: str, field: str, **kwargs: Any) -> frozenset[str]:
    pages = client.get_paginator(operation).paginate(**kwargs)
    return frozenset(str(item[field]) for page in pages for item in page.get(key, []))


def read_insiders(
    account_id: str | None,
    *,
    org: Any | None = None,
    ec2: Any | None = None,
    iam: Any | None = None,
    organization_id: str | None = None,
    identity_pools: Iterable[str] = (),
    oidc_subjects: Iterable[str] = (),
    notes: list[str] | None = None,
) -> Insiders:
    """This account's insiders; a client left out, or a read refused, leaves that part unknown.

    ``organization_id`` (settings) is used only when DescribeOrganization cannot say; when both are
    known and differ, the live account wins (a setting cannot make another organization ours).
    """
    notes = notes if notes is not None else []
    org_id = organization_id or None
    if org is not None:
        try:
            described = str(org.describe_organization()["Organization"]["Id"])
        except ClientError as exc:
            if _code(exc) not in _MISSING:
                raise
            notes.append(f"organizations:DescribeOrganization: {_code(exc)}")
        else:
            if org_id and org_id != described:
                notes.append(f"the configured organization {org_id} is not this account's ({described})")
            org_id = described
    endpoints: frozenset[str] = frozenset()
    vpcs: frozenset[str] = frozenset()
    if ec2 is not None:
        try:
            endpoints = _paged(ec2, "describe_vpc_endpoints", "VpcEndpoints", "VpcEndpointId")
            vpcs = _paged(ec2, "describe_vpcs", "Vpcs", "VpcId")
        except ClientError as exc:
            if _code(exc) not in _MISSING:
                raise
            notes.append(f"ec2:DescribeVpcEndpoints/DescribeVpcs: {_code(exc)}")
    user_ids: frozenset[str] = frozenset()
    if iam is not None:
        try:
            user_ids = _paged(iam, "list_users", "Users", "UserId") | _paged(
                iam, "list_roles", "Roles", "RoleId"
            )
        except ClientError as exc:
            if _code(exc) not in _MISSING:
                raise
            notes.append(f"iam:ListUsers/ListRoles: {_code(exc)}")
    return Insiders(
        account_id=account_id,
        organization_id=org_id,
        vpc_endpoints=endpoints,
        vpcs=vpcs,
        user_ids=user_ids,
        identity_pools=frozenset(identity_pools),
        oidc_subjects=frozenset(oidc_subjects),
    )


def insiders_here(account_id: str, settings: Any, client: Any) -> Insiders:
    """:func:`read_insiders` for the account a step runs in, with the deployment's settings.

    ``account_id`` is the function's own account (its ARN), never the finding's claim; ``client`` is
    the factory (``responder.clients.client``). The Report and Remediate steps both judge grants with
    it, so what the report calls external is what Remediate may remove.
    """
    return read_insiders(
        account_id,
        org=client("organizations"),
        ec2=client("ec2"),
        iam=client("iam"),
        organization_id=settings.organization_id or None,
        identity_pools=settings.trusted_identity_pools,
        oidc_subjects=settings.trusted_oidc_subjects,
    )
