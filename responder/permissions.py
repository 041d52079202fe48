"""IAM permissions, declared next to the code that needs them.

Each ``lambdas/<step>/handler.py`` exports ``PERMISSIONS: tuple[Permission, ...]``; the stack turns
them into that function's role and a test checks the synthesized role grants exactly these.

Resources are ARN templates with ``{partition}``, ``{region}`` and ``{account}`` placeholders, or
references to resources the stack owns:

``@evidence_bucket`` / ``@evidence_bucket/*``, ``@incident_table``, ``@soc_topic``, ``@soc_key``,
``@lake_event_data_store``, ``@athena_workgroup``, ``@athena_results_bucket`` / ``@athena_results_bucket/*``,
``@glue_catalog`` (the account's Data Catalog, which every Glue table call is also authorized on),
``@glue_database``, ``@glue_table``, ``@cloudtrail_bucket`` / ``@cloudtrail_bucket/*``,
``@threat_list_object`` (the object ``responder:threatListUri`` names), ``@webhook_secret`` (the
secret ``responder:chatWebhookSecretArn`` names).

Only the deployed query engine's resources exist (``lake``: the event data store; ``athena``: the
workgroup, results bucket, Glue catalog, database and table, and the trail bucket), and the optional
ones only when their context key is set; a permission that names only resources that do not exist in
this deployment is dropped. Reading an SSE-KMS trail also grants ``kms:Decrypt`` on its key
(``responder:cloudTrailKmsKeyArn``), and reading the webhook secret on its customer managed key
(``responder:chatWebhookKmsKeyArn``): facts of the deployment rather than of the code.

``*`` is allowed only for APIs that support no resource-level permission, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    reason: str = ""

    def __post_init__(self) -> None:
        if "*" in self.resources and not self.reason:
            raise ValueError(f"{self.actions}: a '*' resource needs a reason")
        for action in self.actions:
            service, _, name = action.partition(":")
            if not service or not name or "*" in action:
                raise ValueError(f"permission {action!r} must name one action, no wildcard")


def actions_of(permissions: tuple[Permission, ...]) -> set[str]:
    """Every action named in ``permissions``."""
    return {a for p in permissions for a in p.actions}
