"""cdk-nag acknowledgements, each with a written reason, next to the construct they concern.

cdk-nag v3 matches an acknowledgement by exact finding id: ``AwsSolutions-IAM5[Resource::<flat ARN>]``
where the ARN is flattened the way cdk-nag's ``flattenCfnReference`` does it (``Fn::GetAtt`` ->
``<Logical.Attr>``, ``Ref`` -> ``<Name>``, ``Fn::Join`` joined). :func:`wildcard_finding` reproduces
that, so an acknowledgement names the very resource it accepts and no other.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

IAM5 = "AwsSolutions-IAM5"


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge ``rule_id`` on ``scope`` and its children; the reason is required and specific."""
    if len(reason.strip()) < 20:
        raise ValueError(f"acknowledging {rule_id} on {scope.node.path} needs a written reason")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason.strip()))


def flatten(value: Any) -> str:
    """cdk-nag's flattened form of a resolved CloudFormation value."""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return str(delimiter).join(flatten(i) for i in items)
        if "Fn::Sub" in value:
            return flatten(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{flatten(resource)}.{flatten(attribute)}>"
        if "Fn::ImportValue" in value:
            return flatten(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{flatten(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


def wildcard_finding(scope: IConstruct, resource: str) -> str | None:
    """The IAM5 finding id a policy resource raises, or None when its flat form has no ``*``."""
    flat = flatten(Stack.of(scope).resolve(resource))
    return f"{IAM5}[Resource::{flat}]" if "*" in flat else None
