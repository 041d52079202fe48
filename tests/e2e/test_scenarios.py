"""Every `responder demo` scenario through the real workflow: what was done to what, and nothing else.

One test per scenario (each runs the scenario once; they spread over xdist workers). Each asserts the
report's decision and exact (action, status) pairs per execution, the keys' statuses, report.json
against the contract schema, and how IAM changed between just before the first execution and just
after the last (a snapshot of users, keys and their status, inline and attached policies, tags,
roles), then what is particular to the scenario.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from responder.demo.run import DemoHooks, DemoResult, run_demo
from responder.demo.scenarios import SCENARIOS
from responder.local.runner import ExecutionResult
from responder.policy_eval import evaluate
from responder.revoke import ROLE_POLICY_NAME, USER_POLICY_PREFIX, decode_policy
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

SCHEMA = json.loads((REPO / "responder" / "schemas" / "report.schema.json").read_text())
USER = "dana.reyes"
ROLE = "app-deploy"  # the assumed-role scenario's

CONTAINED = [
    ("disable_access_key", "done"),
    ("revoke_sessions", "done"),
    ("tag_principal", "done"),
    ("snapshot_bucket_policy", "done"),
    ("notify_soc", "done"),
]
ALREADY = [
    ("disable_access_key", "already_done"),
    ("revoke_sessions", "already_done"),
    ("snapshot_bucket_policy", "done"),
    ("notify_soc", "done"),
]

# scenario -> (decision, [(action, status)...] per execution, (exposed, innocent) key status)
EXPECTED: dict[str, tuple[str, list[list[tuple[str, str]]], tuple[str, str]]] = {
    "iam-user-key": ("contain", [CONTAINED], ("Inactive", "Active")),
    "assumed-role": (
        "contain",
        [[("disable_access_key", "skipped"), *CONTAINED[1:]]],
        ("Active", "Active"),
    ),
    "root": (
        "notify_only",
        [[("disable_access_key", "skipped"), ("snapshot_bucket_policy", "done"), ("notify_soc", "done")]],
        ("Active", "Active"),
    ),
    # A console input names no bucket: nothing to snapshot.
    "foreign-key": (
        "contain",
        [[("disable_access_key", "skipped"), ("notify_soc", "done")]],
        ("Active", "Active"),
    ),
    "deleted-key": (
        "contain",
        [[("disable_access_key", "skipped"), ("snapshot_bucket_policy", "done"), ("notify_soc", "done")]],
        ("Active", "Active"),
    ),
    "protected-user": (
        "await_approval",
        [
            [
                ("request_approval", "skipped"),
                ("notify_soc", "done"),  # the escalation
                ("snapshot_bucket_policy", "done"),
                ("notify_soc", "done"),
            ]
        ],
        ("Active", "Active"),
    ),
    "approval-granted": (
        "await_approval",
        [[("request_approval", "done"), *CONTAINED]],
        ("Inactive", "Active"),
    ),
    "approval-denied": (
        "await_approval",
        [[("request_approval", "skipped"), ("snapshot_bucket_policy", "done"), ("notify_soc", "done")]],
        ("Active", "Active"),
    ),
    "approval-timeout": (
        "await_approval",
        [[("request_approval", "skipped"), *CONTAINED[:3], ("notify_soc", "done"), *CONTAINED[3:]]],
        ("Inactive", "Active"),
    ),
    "duplicate-finding": ("contain", [CONTAINED, ALREADY], ("Inactive", "Active")),
    # Which of the two wins the claim is a race: compared without order below.
    "concurrent-findings": ("contain", [CONTAINED, ALREADY], ("Inactive", "Active")),
}

EXPECTED.update(
    {
        "bucket-backdoor": ("contain", [CONTAINED], ("Inactive", "Active")),
        "persistence": ("contain", [CONTAINED], ("Inactive", "Active")),
        "eradicate-without-approval": (
            "contain",
            [
                CONTAINED,
                [("request_approval", "skipped"), ("delete_resource", "skipped"), ("notify_soc", "done")],
            ],
            ("Inactive", "Active"),
        ),
        # A console input names no bucket (no Snapshot); every change is would_do.
        "dry-run": (
            "contain",
            [
                [
                    ("disable_access_key", "would_do"),
                    ("revoke_sessions", "would_do"),
                    ("tag_principal", "would_do"),
                    ("notify_soc", "done"),
                ]
            ],
            ("Active", "Active"),
        ),
        "quarantine-policy": (
            "contain",
            [
                [
                    ("disable_access_key", "done"),
                    ("revoke_sessions", "done"),
                    ("tag_principal", "done"),
                    ("notify_soc", "done"),
                ]
            ],
            ("Active", "Active"),
        ),
    }
)
# The eradication run's decision is await_approval; the first run's is contain (checked per report below).
DECISIONS = {"eradicate-without-approval": ["contain", "await_approval"]}

NOTHING_CHANGES = {"root", "foreign-key", "deleted-key", "protected-user", "approval-denied"}


def test_every_scenario_has_expectations() -> None:
    assert set(EXPECTED) == set(SCENARIOS)


def iam_snapshot(iam: Any) -> dict[str, Any]:
    """Everything the responder could change in IAM, as comparable data."""
    users = {}
    for user in iam.list_users()["Users"]:
        name = user["UserName"]
        users[name] = {
            "keys": {
                k["AccessKeyId"]: k["Status"]
                for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
            },
            "inline": {
                p: decode_policy(iam.get_user_policy(UserName=name, PolicyName=p)["PolicyDocument"])
                for p in iam.list_user_policies(UserName=name)["PolicyNames"]
            },
            "attached": sorted(
                p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
            ),
            "tags": {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]},
        }
    roles = {}
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        roles[name] = {
            "inline": {
                p: decode_policy(iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"])
                for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
            },
            "attached": sorted(
                p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
            ),
            "tags": {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name)["Tags"]},
        }
    return {"users": users, "roles": roles}


class Probe:
    """Hooks that snapshot IAM around the executions and keep what the scenario checks need."""

    def __init__(self) -> None:
        self.before: dict[str, Any] = {}
        self.after: dict[str, Any] = {}
        self.executions: list[ExecutionResult] = []
        self.remediation: list[list[tuple[str, str]]] = []
        self.extra: dict[str, Any] = {}

    def before_run(self, world: Any) -> None:
        self.before = iam_snapshot(world.clients["iam"])
        self.extra["exposed"] = world.victim.exposed_key_id
        self.extra["innocent"] = world.victim.innocent_key_id

    def after_run(self, world: Any, executions: list[ExecutionResult]) -> None:
        self.after = iam_snapshot(world.clients["iam"])
        self.executions = executions
        # The Remediate step's actions (its own tests own them): told apart by the state's key.
        self.remediation = [
            [
                (a["action"], a["status"])
                for a in ((e.output or {}).get("remediation") or {}).get("actions", [])
            ]
            if isinstance(e.output, dict)
            else []
            for e in executions
        ]
        iam, sts = world.clients["iam"], world.clients["sts"]
        # A session minted now, after containment (moto's STS does not check the signing key).
        fresh = sts.get_session_token(DurationSeconds=900)["Credentials"]
        self.extra["fresh_issued"] = (fresh["Expiration"] - timedelta(seconds=900)).isoformat()
        if ROLE in self.after["roles"]:
            arn = iam.get_role(RoleName=ROLE)["Role"]["Arn"]
            session = sts.assume_role(RoleArn=arn, RoleSessionName="after-containment")["Credentials"]
            self.extra["role_assumed_at"] = (session["Expiration"] - timedelta(seconds=3600)).isoformat()


def without_remediation(
    got: list[tuple[str, str]], remediation: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The report's actions without the Remediate step's block (it comes right before the last notify)."""
    if not remediation:
        return got
    cut = len(got) - 1 - len(remediation)
    assert got[cut:-1] == remediation, "the Remediate step's actions are not where the state says"
    return got[:cut] + got[-1:]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str, tmp_path: Path) -> None:
    if name not in EXPECTED:
        pytest.skip(f"{name}: a scenario added after these expectations; its owner adds them to EXPECTED")
    probe = Probe()
    lines: list[str] = []
    hooks = DemoHooks(
        before_run=probe.before_run,
        after_run=probe.after_run,
        environment={"POLL_SECONDS": "0"},
        retry_interval_scale=0.0,
    )
    result = run_demo(tmp_path, scenario=name, narrate=lines.append, hooks=hooks)
    decision, actions, keys = EXPECTED[name]

    assert result.status == "SUCCEEDED"
    assert tuple(result.key_status.values()) == keys
    reports = [json.loads(p.read_text()) for p in report_paths(result)]
    for n, report in enumerate(reports):
        jsonschema.validate(report, SCHEMA)
        assert report["response"]["decision"] == DECISIONS.get(name, [decision] * len(reports))[n]
        assert report["response"]["workflow_status"] == "SUCCEEDED"
    full = [[(a["action"], a["status"]) for a in r["response"]["actions"]] for r in reports]
    assert [[(a["action"], a["status"]) for a in e["actions"]] for e in result.executions] == full
    got = [without_remediation(g, r) for g, r in zip(full, probe.remediation, strict=True)]
    if name == "concurrent-findings":
        assert sorted(got) == sorted(actions)
    else:
        assert got == actions
    assert json.loads((tmp_path / "report.json").read_text()) == reports[-1]

    # No credential the scenario planted or minted reaches any output.
    text = "\n".join([*lines, (tmp_path / "soc-message.txt").read_text(), *(json.dumps(r) for r in reports)])
    assert not [s for s in result.planted_secrets if s in text]

    if name in NOTHING_CHANGES:
        assert probe.after == probe.before, "IAM changed in a scenario that must change nothing"
    CHECKS.get(name, lambda *_: None)(result, probe, lines)


def report_paths(result: DemoResult) -> list[Path]:
    numbered = sorted(result.out_dir.glob("report.*.json"))
    return numbered or [result.out_dir / "report.json"]


def contained_diff(probe: Probe) -> None:
    """The only IAM changes: the exposed key Inactive, one revocation policy and two tags on the user."""
    before, after = probe.before["users"][USER], probe.after["users"][USER]
    assert after["keys"] == {**before["keys"], probe.extra["exposed"]: "Inactive"}
    assert before["keys"][probe.extra["exposed"]] == "Active"
    [policy] = set(after["inline"]) - set(before["inline"])
    assert policy.startswith(USER_POLICY_PREFIX) and len(after["inline"]) == len(before["inline"]) + 1
    added_tags = {k: v for k, v in after["tags"].items() if before["tags"].get(k) != v}
    assert set(added_tags) == {"responder:incident", "responder:contained-at"}
    assert probe.after["roles"] == probe.before["roles"]
    if any(("contain_principal", "done") in r for r in probe.remediation):
        return  # the Remediate step contained the attacker's backdoor user: its own tests check that
    others_before = {u: v for u, v in probe.before["users"].items() if u != USER}
    assert {u: v for u, v in probe.after["users"].items() if u != USER} == others_before


def check_iam_user_key(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    contained_diff(probe)
    inline = probe.after["users"][USER]["inline"]
    [policy] = inline
    minted = result.facts["session_minted_at"]
    # Policy simulation (responder.policy_eval): moto's IAM does not evaluate conditions.
    before = evaluate(list(inline.values()), action="s3:GetObject", context={"aws:TokenIssueTime": minted})
    assert before == "explicit_deny"
    fresh = probe.extra["fresh_issued"]
    after = evaluate(list(inline.values()), action="s3:GetObject", context={"aws:TokenIssueTime": fresh})
    assert after != "explicit_deny"
    # Requests signed with a long-term key carry no aws:TokenIssueTime: the innocent key still works.
    assert evaluate(list(inline.values()), action="s3:GetObject", context={}) != "explicit_deny"
    assert f"  session minted before containment: explicit_deny (policy simulation of {policy})" in lines
    [message] = result.soc_messages
    assert message["Subject"].endswith(f"{probe.extra['exposed']} - key disabled")


def check_assumed_role(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    role = result.facts["role"]
    assert role == ROLE
    before, after = probe.before["roles"][role], probe.after["roles"][role]
    assert set(after["inline"]) - set(before["inline"]) == {ROLE_POLICY_NAME}
    document = after["inline"][ROLE_POLICY_NAME]
    cutoff = document["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    # The leaked session (issued before) is denied; a session assumed after the run is not.
    earlier = evaluate(
        [document], action="s3:GetObject", context={"aws:TokenIssueTime": "2000-01-01T00:00:00Z"}
    )
    assert earlier == "explicit_deny"
    assumed = probe.extra["role_assumed_at"]  # the role can still be assumed
    assert assumed > cutoff
    assert (
        evaluate([document], action="s3:GetObject", context={"aws:TokenIssueTime": assumed})
        != "explicit_deny"
    )
    assert probe.after["users"] == probe.before["users"]
    assert result.soc_messages[-1]["Subject"].endswith("- sessions revoked")


def check_protected_user(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    subjects = [m["Subject"] for m in result.soc_messages]
    assert subjects[0].startswith("[Responder] APPROVAL NEEDED")
    assert subjects[1].startswith("[Responder] ESCALATION no approval") and subjects[1].endswith("left as is")
    assert "The principal is protected" in result.soc_messages[1]["Message"]
    assert subjects[2].endswith("no answer - no change made")
    assert "Disable" not in result.steps


def check_approval_denied(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    assert result.steps[:4] == ["Triage", "Route", "RequestApproval", "ApprovalDenied"]
    subjects = [m["Subject"] for m in result.soc_messages]
    assert subjects[-1].endswith("approval denied - no change made")


def check_approval_granted(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    contained_diff(probe)
    assert result.steps.index("Approved") < result.steps.index("Disable")


def check_approval_timeout(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    contained_diff(probe)
    subjects = [m["Subject"] for m in result.soc_messages]
    # The escalation went out, then the default (contain) applied.
    assert subjects[1].startswith("[Responder] ESCALATION no approval")
    assert subjects[1].endswith("contained by the default")
    assert subjects[2].endswith("- key disabled")
    steps = result.steps
    assert steps.index("Escalate") < steps.index("Disable") < steps.index("RevokeSessions")


def check_exactly_once(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    contained_diff(probe)  # exactly one revocation policy on the user
    per_run = [Counter((a["action"], a["status"]) for a in e["actions"]) for e in result.executions]
    assert sum(c[("disable_access_key", "done")] for c in per_run) == 1
    assert sum(c[("disable_access_key", "already_done")] for c in per_run) == 1
    [winner] = [c for c in per_run if c[("disable_access_key", "done")]]
    assert winner[("revoke_sessions", "done")] == 1


def check_nothing_changed(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    [message] = result.soc_messages
    assert message["Subject"].endswith("- no change made")
    assert "skipped" in message["Message"]


def check_bucket_fixed(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    """The attacker's statement is gone, the owner's remain, the pre-fix snapshot is in evidence."""
    [remediation] = probe.remediation
    assert ("snapshot_bucket_policy", "done") in remediation
    assert ("remove_policy_statements", "done") in remediation
    [line] = [x for x in lines if x.strip().startswith("bucket ")]
    assert f"granting {result.attacker_account_id}: none" in line
    assert "DenyInsecureTransport" in line and "AllowExportWriter" in line
    changed = {"/".join(p.split("/")[:3]) for p in result.account_changes or []}
    assert changed <= {f"/buckets/{line.split()[1].rstrip(':')}", f"/users/{USER}", "/users/svc-backup-sync"}


def check_persistence(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    [remediation] = probe.remediation
    assert ("contain_principal", "done") in remediation
    users = probe.after["users"]
    assert set(users["svc-backup-sync"]["keys"].values()) == {"Inactive"}
    assert any(p.startswith("responder-deny-all-") for p in users["svc-backup-sync"]["inline"])
    changed = {"/".join(p.split("/")[:3]) for p in result.account_changes or []}
    assert {c for c in changed if c.startswith("/users/")} == {f"/users/{USER}", "/users/svc-backup-sync"}
    assert not {c for c in changed if c.startswith("/roles/")}


def check_eradication_refused(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    # Nothing was deleted: the contained backdoor user is still there for an approved run to remove.
    assert "svc-backup-sync" in probe.after["users"]
    assert any("would" in m["Message"] and "svc-backup-sync" in m["Message"] for m in result.soc_messages)


def check_dry_run(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    assert result.account_changes == []
    [remediation] = probe.remediation
    assert remediation and {status for _, status in remediation} == {"would_do"}


def check_quarantine(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    key = result.facts["quarantined_key"]
    assert probe.after["users"]["ci-deployer"]["keys"] == {key: "Inactive"}
    assert any(f"quarantined user ci-deployer: {key} Inactive" in x for x in lines)


CHECKS = {
    "bucket-backdoor": check_bucket_fixed,
    "persistence": check_persistence,
    "eradicate-without-approval": check_eradication_refused,
    "dry-run": check_dry_run,
    "quarantine-policy": check_quarantine,
    "iam-user-key": check_iam_user_key,
    "assumed-role": check_assumed_role,
    "protected-user": check_protected_user,
    "approval-granted": check_approval_granted,
    "approval-denied": check_approval_denied,
    "approval-timeout": check_approval_timeout,
    "duplicate-finding": check_exactly_once,
    "concurrent-findings": check_exactly_once,
    "root": check_nothing_changed,
    "foreign-key": check_nothing_changed,
    "deleted-key": check_nothing_changed,
}
