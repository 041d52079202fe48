"""The workflow's Lambda steps: one folder each under ``lambdas/``, one ASL placeholder each.

The stack builds a function per entry (code: the whole ``lambdas`` package, handler
``lambdas.<name>.handler.handler``, the module path tests and the local runner use too)
and substitutes its ARN for ``${<placeholder>}`` in the ASL; the local runner does the same with
in-process handlers. A test checks this table, the folders and the ASL agree.
"""

from __future__ import annotations

from dataclasses import dataclass

# What a member account's role lets the hub do there (organization deployment, docs/organization.md):
# one definition, beside the runtime that assumes those roles.
from responder.accounts import MEMBER_ROLE_PREFIX, Power


@dataclass(frozen=True)
class Step:
    name: str
    description: str
    timeout_seconds: int = 30
    memory_mb: int = 256

    @property
    def state(self) -> str:
        """The ASL state that carries this step's name: ``plan_queries`` -> ``PlanQueries``."""
        return "".join(part.capitalize() for part in self.name.split("_"))

    @property
    def placeholder(self) -> str:
        """The ``${...}`` the ASL names this step's function by, derived from the name."""
        return f"{self.state}FunctionArn"


STEPS: tuple[Step, ...] = (
    Step("triage", "Normalize any GuardDuty form or manual input into an incident"),
    Step("validate", "Confirm the key is ours and find its user and owner"),
    Step("disable", "Set the exposed access key Inactive, once"),
    Step("revoke_sessions", "Revoke sessions minted before now; tag the principal"),
    Step("request_approval", "Ask the SOC to approve or deny containment"),
    Step("snapshot", "Save the finding and bucket policies to evidence"),
    Step("plan_queries", "Plan the next CloudTrail queries (pivot to minted keys)"),
    Step("start_query", "Start one CloudTrail query", 60, 512),
    Step("query_status", "Poll a CloudTrail query"),
    Step("query_results", "Save query results to evidence", 300, 1024),
    Step("report", "Analyse results and write the report", 300, 1024),
    Step("remediate", "Contain backdoored buckets and rogue IAM resources", 120, 512),
    Step("eradicate", "Plan, then with approval delete, the rogue resources", 120, 512),
    Step("notify", "Tell the SOC what happened and where the evidence is"),
    Step("notify_failure", "Tell the SOC what is known when a step fails"),
)

STEP_BY_NAME = {s.name: s for s in STEPS}

#: Which member role each step assumes in the finding's account, in the organization deployment: the
#: one place that decides it. A member role grants exactly what its steps declare on member-account
#: resources (their IAM users, roles, keys and policies, their buckets); the hub's tables, buckets,
#: topic and secrets stay with the step's own role. A test checks every step declaring member-account
#: resources is here, and only those.
MEMBER_POWER: dict[str, Power] = {
    # Read and investigate: whose key, the buckets' policies, what the report looks up.
    "validate": "investigate",
    "snapshot": "investigate",
    "report": "investigate",
    # Contain: the key, its sessions, the principal's tags.
    "triage": "contain",
    "disable": "contain",
    "revoke_sessions": "contain",
    # Remediate and eradicate: bucket policies, contain_principal, deletes.
    "remediate": "remediate",
    "eradicate": "remediate",
}


def member_role_name(power: Power) -> str:
    """The fixed name of the member role of ``power`` (the same in every member account)."""
    return f"{MEMBER_ROLE_PREFIX}{power}"


#: The member stack's deny-all policy, which containment attaches in a member account.
MEMBER_DENY_ALL_POLICY_NAME = "responder-deny-all"
