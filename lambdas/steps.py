"""The workflow's Lambda steps: one folder each under ``lambdas/``, one ASL placeholder each.

The stack builds a function per entry (code: the whole ``lambdas`` package, handler
``lambdas.<name>.handler.handler``, the module path tests and the local runner use too)
and substitutes its ARN for ``${<placeholder>}`` in the ASL; the local runner does the same with
in-process handlers. A test checks this table, the folders and the ASL agree.
"""

from __future__ import annotations

from dataclasses import dataclass


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
