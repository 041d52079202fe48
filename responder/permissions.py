"""IAM permissions, declared next to the code that needs them.

Each ``lambdas/<step>/handler.py`` exports ``PERMISSIONS: tuple[Permission, ...]``; the stack turns
them into that function's role and a test checks the synthesized role grants exactly these.

Resources are ARN templates with ``{partition}``, ``{region}`` and ``{account}`` placeholders, or
references to resources the stack owns:

``@evidence_bucket`` / ``@evidence_bucket/*``, ``@incident_table``, ``@soc_topic``, ``@soc_key``,
``@lake_event_data_store``, ``@athena_workgroup``, ``@athena_results_bucket`` / ``@athena_results_bucket/*``,
``@glue_catalog`` (the account's Data Catalog, which every Glue table call is also authorized on),
``@glue_database``, ``@glue_table``, ``@cloudtrail_bucket`` / ``@cloudtrail_bucket/*``,
``@cloudtrail_public_keys`` (``*``, with Athena only: ListPublicKeys takes no resource),
``@threat_list_object`` (the object ``responder:threatListUri`` names), ``@webhook_secret`` (the
secret ``responder:chatWebhookSecretArn`` names), ``@deny_all_policy`` (the stack's managed deny-all
policy that containment attaches) and ``@redaction_key_secret`` (the per-deployment key of the
redaction digests).

``conditions`` are IAM condition blocks, ``{operator: {key: [values]}}``, rendered into the
statement; a value may be a reference or template like a resource. Attaching only the stack's
deny-all policy, for example::

    Permission(
        ("iam:AttachUserPolicy", "iam:AttachRolePolicy"),
        ("arn:{partition}:iam::{account}:user/*", "arn:{partition}:iam::{account}:role/*"),
        conditions={"ArnEquals": {"iam:PolicyARN": ["@deny_all_policy"]}},
    )

A condition value that names a resource this deployment does not have is left out; a condition key
left with no value could never hold, and the permission is then dropped, as one naming only absent
resources is.

Only the deployed query engine's resources exist (``lake``: the event data store; ``athena``: the
workgroup, results bucket, Glue catalog, database and table, and the trail bucket), and the optional
ones only when their context key is set; a permission that names only resources that do not exist in
this deployment is dropped. Reading an SSE-KMS trail also grants ``kms:Decrypt`` on its key
(``responder:cloudTrailKmsKeyArn``), and reading the webhook secret on its customer managed key
(``responder:chatWebhookKmsKeyArn``): facts of the deployment rather than of the code.

``*`` is allowed only for APIs that support no resource-level permission, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

Conditions = Mapping[str, Mapping[str, list[str]]]

# IAM's condition operators: a base name, optionally set-qualified and/or ...IfExists.
_OPERATOR = re.compile(r"^(ForAllValues:|ForAnyValue:)?[A-Z][A-Za-z]+$")
_CONDITION_KEY = re.compile(r"^[A-Za-z0-9-]+:[A-Za-z0-9_.:/${}-]+$")


@dataclass(frozen=True)
class Permission:
    """Actions on resources, optionally only under IAM ``conditions`` (``{operator: {key: [values]}}``)."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]
    reason: str = ""
    conditions: Conditions = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if "*" in self.resources and not self.reason:
            raise ValueError(f"{self.actions}: a '*' resource needs a reason")
        for action in self.actions:
            service, _, name = action.partition(":")
            if not service or not name or "*" in action:
                raise ValueError(f"permission {action!r} must name one action, no wildcard")
        frozen: dict[str, Mapping[str, list[str]]] = {}
        for operator, keys in self.conditions.items():
            if not isinstance(operator, str) or not _OPERATOR.match(operator):
                raise ValueError(f"{self.actions}: {operator!r} is not an IAM condition operator")
            if not isinstance(keys, Mapping) or not keys:
                raise ValueError(f"{self.actions}: condition {operator} needs {{key: [values]}}")
            for key, values in keys.items():
                if not isinstance(key, str) or not _CONDITION_KEY.match(key):
                    raise ValueError(f"{self.actions}: {key!r} is not an IAM condition key")
                if (
                    isinstance(values, str)
                    or not isinstance(values, list | tuple)
                    or not values
                    or not all(isinstance(v, str) and v for v in values)
                ):
                    raise ValueError(f"{self.actions}: condition {operator} {key} needs a list of values")
            frozen[operator] = {k: list(v) for k, v in keys.items()}
        # A copy: a condition dict shared by two declarations cannot be edited through one of them.
        object.__setattr__(self, "conditions", frozen)


def actions_of(permissions: tuple[Permission, ...]) -> set[str]:
    """Every action named in ``permissions``."""
    return {a for p in permissions for a in p.actions}
