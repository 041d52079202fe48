"""Every `responder demo` scenario through the real workflow: what was done to what, and nothing else.

One test per scenario (each runs the scenario once; they spread over xdist workers). Each asserts the
report's decision and exact (action, status) pairs per execution, the keys' statuses, report.json
against the contract schema, and how IAM changed between just before the first execution and just
after the last (a snapshot of users, keys and their status, inline and attached policies, tags,
roles), then what is particular to the scenario.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from responder.policy_doc import decode_policy
from responder.policy_eval import evaluate
from responder.securityhub import ACTION as SECURITYHUB_ACTION
from responder.steps.revoke_sessions import ROLE_POLICY_NAME, USER_POLICY_PREFIX
from responder.timing import contain_sentence
from tests.conftest import REPO
from tests.hostile.blast_radius import outside_blast_radius, written_changes
from workstation.demo.run import DemoHooks, DemoResult, run_demo
from workstation.demo.scenarios import SCENARIOS
from workstation.local.runner import ExecutionResult

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

REPEAT = [("disable_access_key", "already_done"), ("record_finding_update", "done")]

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
    # A console input names no bucket: nothing to snapshot. Validation turns these two notify-only.
    "foreign-key": (
        "notify_only",
        [[("disable_access_key", "skipped"), ("notify_soc", "done")]],
        ("Active", "Active"),
    ),
    "deleted-key": (
        "notify_only",
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
    # The second delivery of a handled finding: containment re-checked, recorded, no second response.
    "duplicate-finding": ("contain", [CONTAINED, REPEAT], ("Inactive", "Active")),
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
        # The console's input names the key only (no bucket, so no Snapshot): contained all the same.
        "manual-key": (
            "contain",
            [[*CONTAINED[:3], ("notify_soc", "done")]],
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
        self.extra["victim_bucket"] = world.victim_bucket

    def after_run(self, world: Any, executions: list[ExecutionResult]) -> None:
        self.after = iam_snapshot(world.clients["iam"])
        self.executions = executions
        s3, evidence = world.clients["s3"], world.resources.evidence_bucket
        # The saved query results (the rows QueryResults wrote to evidence), for the redaction checks.
        self.extra["saved_rows"] = [
            s3.get_object(Bucket=evidence, Key=o["Key"])["Body"].read().decode()
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=evidence)
            for o in page.get("Contents", [])
            if o["Key"].endswith(".jsonl")
        ]
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
        assert report["response"]["decision_reason"], "a decision always says why"
        if name in ("foreign-key", "deleted-key"):
            # The reason is validation's: the key is not this account's to contain, and every output says so.
            error = "ForeignAccessKey" if name == "foreign-key" else "AccessKeyNotFound"
            assert report["response"]["decision_reason"].startswith(error)
            assert "not approved" not in json.dumps(report)
            assert any(f"Decision: notify_only ({error}" in m["Message"] for m in result.soc_messages)
        assert report["response"]["workflow_status"] == "SUCCEEDED"
    for report in reports:
        agree(report, result.soc_messages)
    full = [[(a["action"], a["status"]) for a in r["response"]["actions"]] for r in reports]
    assert [[(a["action"], a["status"]) for a in e["actions"]] for e in result.executions] == full
    for report in reports:
        securityhub_agrees(report, result)
    # The SOC's other tools (Security Hub, tickets) are checked above; EXPECTED is about the account.
    core = [[(a, s) for a, s in f if a not in SOC_TOOLS] for f in full]
    got = [without_remediation(g, r) for g, r in zip(core, probe.remediation, strict=True)]
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
        assert result.resource_changes == []
    # The property of every scenario: nothing changed outside the story's blast radius, as written.
    assert written_changes(result) == result.resource_changes
    assert not outside_blast_radius(result), (
        f"{name} changed resources outside its blast radius: {outside_blast_radius(result)}"
    )
    CHECKS.get(name, lambda *_: None)(result, probe, lines)


_MESSAGE_ACTION = re.compile(r"^  - (\S+) (.+?): (\S+)(?: \(|$)")


SOC_TOOLS = frozenset({SECURITYHUB_ACTION, "open_ticket"})


def securityhub_agrees(report: dict[str, Any], result: DemoResult) -> None:
    """The finding's Security Hub workflow followed the run: NOTIFIED from Triage, then RESOLVED only
    when nothing is left for a person (else still NOTIFIED, the note saying what is), as GetFindings
    reads it back; an input without a finding says why it was skipped, once."""
    response = report["response"]
    mine = [a for a in response["actions"] if a["action"] == SECURITYHUB_ACTION]
    arn = (report["incident"].get("finding") or {}).get("arn")
    if [a["action"] for a in response["actions"]][-1:] == ["record_finding_update"]:
        # A repeat delivery: recorded only; the finding's workflow stays where the first run put it.
        assert mine == []
        return
    if arn is None:
        assert [(a["status"], a["detail"]) for a in mine] == [
            ("skipped", "no finding: this input has no Security Hub finding")
        ]
        return
    assert [a["status"] for a in mine] == ["done", "done"], mine
    assert mine[0]["detail"].startswith("workflow status NOTIFIED: ")
    final = "RESOLVED" if mine[1]["detail"].startswith("workflow status RESOLVED: ") else "NOTIFIED"
    left = [
        a
        for a in response["actions"]
        if a["status"] in ("failed", "awaiting_approval", "would_do") and a["action"] not in SOC_TOOLS
    ]
    if final == "RESOLVED":
        assert not left and response["decision"] in ("contain", "await_approval"), left
    else:
        assert "a person must still act" in mine[1]["detail"]
    # This run's updates (a re-delivered finding is updated by each of its runs), and the finding as
    # GetFindings reads it back when this run was the last to write.
    updates = [h for h in result.securityhub_history if h["id"] == arn]
    ours = [h for h in updates if response["execution_id"] in h["note"]]
    assert [h["status"] for h in ours] == ["NOTIFIED", final]
    assert "/final/report.json" in ours[-1]["note"]
    if updates[-1] is ours[-1]:
        assert result.securityhub_findings[arn] == (final, ours[-1]["note"])


def agree(report: dict[str, Any], messages: list[dict[str, str]]) -> None:
    """One final report: its summary, its response table and the run's SOC message say the same.

    "What was done" is the response's actions, each with its status; the SOC message lists every one
    of them but its own delivery; "What you must do now" asks for nothing the run already did."""
    response = report["response"]
    lines = report["summary"]["what_was_done"]
    timing = contain_sentence(response.get("time_to_contain"))
    head = [f"Workflow {response['workflow_status']}, decision: {response['decision']}."]
    head += [timing] if timing else []
    assert lines[: len(head)] == head
    assert [line.split(" (", 1)[0] for line in lines[len(head) :]] == [
        f"{a['action']} on {a['target']}: {a['status']}" for a in response["actions"]
    ]
    execution = report.get("execution_arn") or response.get("execution_id")
    ours = [m for m in messages if execution and execution in m["Message"].replace("%3A", ":")]
    if [a["action"] for a in response["actions"]][-1:] == ["record_finding_update"]:
        assert not ours, "a repeat delivery of a handled finding sends the SOC nothing"
        return
    assert ours, f"no SOC message names {execution}"
    told = {m.groups() for line in ours[-1]["Message"].splitlines() if (m := _MESSAGE_ACTION.match(line))}
    # The same time to contain in both, or in neither.
    assert (f"  {timing}" in ours[-1]["Message"].splitlines()) == (timing is not None)
    recorded = {
        (a["action"], a["target"], a["status"])
        for a in response["actions"]
        # Deliveries after the message was written: the SOC's message, chat, ticket, Security Hub.
        if a["action"] not in ("notify_soc", "notify_chat", *SOC_TOOLS)
    }
    assert recorded <= told, f"the SOC message leaves out {sorted(recorded - told)}"
    steps = report["summary"]["next_steps"]
    for action in response["actions"]:
        if action["status"] != "done":
            continue
        if action["action"] == "remove_policy_statements":
            assert not [s for s in steps if s.startswith("Remove the backdoor") and action["target"] in s]
            assert not [s for s in steps if s.startswith("The live policy") and action["target"] in s]
        if action["action"] == "disable_access_key":
            assert not [
                s for s in steps if s.startswith(f"Deactivate, then rotate access key {action['target']}")
            ]


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
    # The SOC's Security Hub: the GuardDuty finding went NEW -> NOTIFIED (Triage) -> RESOLVED (Notify),
    # its note linking the final report and the execution.
    [(arn, (status, note))] = result.securityhub_findings.items()
    assert [h["status"] for h in result.securityhub_history if h["id"] == arn] == ["NOTIFIED", "RESOLVED"]
    assert status == "RESOLVED" and note.startswith("Contained and remediated by the incident responder.")
    assert any(line.endswith("workflow NEW -> NOTIFIED -> RESOLVED (now RESOLVED)") for line in lines)
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
    # Time to contain, from the finding's createdAt; the responder's own share is seconds.
    assert result.report_path is not None
    response = json.loads(result.report_path.read_text())["response"]
    timing = response["time_to_contain"]
    assert timing["since"] == "the finding was created" and timing["action"] == "disable_access_key"
    assert response["time_to_contain_seconds"] == timing["seconds"] >= timing["seconds_after_received"] >= 0
    assert timing["seconds_after_received"] < 60
    assert any(line.startswith("  Time to contain: ") for line in message["Message"].splitlines())
    assert any(
        line.startswith("- Time to contain: ")
        for line in (result.out_dir / "report.md").read_text().splitlines()
    )


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
    assert probe.extra["role_assumed_at"]  # the role can still be assumed after the run
    # The cutoff is rounded up to the second: a session issued from then on is not denied.
    later = (datetime.fromisoformat(cutoff.replace("Z", "+00:00")) + timedelta(seconds=1)).isoformat()
    for issued in (cutoff, later):
        assert (
            evaluate([document], action="s3:GetObject", context={"aws:TokenIssueTime": issued})
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
    # Triage confirmed the owner before asking: the yes goes straight to Disable, no Validate.
    steps = result.steps
    assert steps.index("RequestApproval") < steps.index("Approved") < steps.index("Disable")
    assert "Validate" not in steps


def check_manual_key(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    contained_diff(probe)
    # IAM named the key's user in Triage, which disabled it: no Validate, no Disable step.
    assert result.steps[:2] == ["Triage", "Route"], result.steps
    assert "Validate" not in result.steps and "Disable" not in result.steps


def check_approval_timeout(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    contained_diff(probe)
    subjects = [m["Subject"] for m in result.soc_messages]
    # The escalation went out, then the default (contain) applied.
    assert subjects[1].startswith("[Responder] ESCALATION no approval")
    assert subjects[1].endswith("contained by the default")
    assert subjects[2].endswith("- key disabled")
    steps = result.steps
    assert steps.index("Escalate") < steps.index("Disable") < steps.index("RevokeSessions")


def check_finding_update_of_duplicate(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    contained_diff(probe)
    [message] = result.soc_messages  # the repeat is recorded, not announced
    assert message["Subject"].endswith("- key disabled")


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
    assert "Time to contain" not in message["Message"]  # nothing was contained: no figure, not 0
    if result.report_path is not None:
        assert json.loads(result.report_path.read_text())["response"]["time_to_contain_seconds"] is None


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
    # The stack's managed deny-all attached: containment writes no policy document.
    assert [p.rsplit("/", 1)[-1] for p in users["svc-backup-sync"]["attached"]] == [
        "responder-deny-all-local"
    ]
    assert users["svc-backup-sync"]["inline"] == {}
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
    "manual-key": check_manual_key,
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


# -- issue 12, triage and containment: AWS's quarantine only, protected by the real owner, stale claims
EXPECTED.update(
    {
        # Not AWS's attach: notify-only, nothing disabled (and no bucket named: no snapshot).
        "spoofed-quarantine": (
            "notify_only",
            [[("disable_access_key", "skipped"), ("notify_soc", "done")]],
            ("Active", "Active"),
        ),
        # The finding names no user; Validate finds the real owner, protected by the list: approval, no
        # answer, escalation, and the "contain" default does not apply to a protected principal.
        "protected-by-name": (
            "contain",
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
        "stale-claim": ("contain", [CONTAINED], ("Inactive", "Active")),
    }
)
NOTHING_CHANGES |= {"spoofed-quarantine", "protected-by-name"}


def check_spoofed_quarantine(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    assert result.facts["quarantine_rule"] == "does not match"
    key = result.facts["quarantined_key"]
    assert probe.after["users"]["ci-deployer"] == probe.before["users"]["ci-deployer"]
    assert probe.before["users"]["ci-deployer"]["keys"] == {key: "Active"}
    assert any(f"quarantined user ci-deployer: {key} Active" in x for x in lines)
    assert any("the quarantine rule does not match (not AWS)" in x for x in lines)
    assert result.account_changes == []
    [report] = [json.loads(p.read_text()) for p in report_paths(result)]
    reason = report["incident"]["decision"]["reason"]
    assert result.facts["attached_by"] in reason and "not AWS's quarantine signal" in reason
    check_nothing_changed(result, probe, lines)


def check_protected_by_name(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    check_protected_user(result, probe, lines)
    assert result.account_changes == []
    assert result.steps.count("Validate") == 2, "the timeout's contain default re-checks the real owner"


def check_stale_claim(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    contained_diff(probe)
    [execution] = result.executions
    [disabled] = [a for a in execution["actions"] if a["action"] == "disable_access_key"]
    assert f"took over the stale claim of {result.facts['stale_claimed_at']}" in disabled["detail"]
    assert "read back Inactive" in disabled["detail"]


CHECKS.update(
    {
        "spoofed-quarantine": check_spoofed_quarantine,
        "protected-by-name": check_protected_by_name,
        "stale-claim": check_stale_claim,
    }
)


# -- issue 12, malformed input: one record nested 1,000 levels deep changes nothing of the response
# The same response as bucket-backdoor, action for action: the deep record is read without its
# parameters, reported, and stops nothing.
EXPECTED["deep-parameters"] = EXPECTED["bucket-backdoor"]


def check_deep_parameters(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    from workstation.demo.scenarios import DEEP_EVENT_ID

    [report] = [json.loads(p.read_text()) for p in report_paths(result)]
    coverage = report["coverage"]
    assert (coverage["unreadable_records"], coverage["duplicate_key_records"]) == (1, 0)
    [record] = coverage["malformed_records"]
    assert (record["event_id"], record["event_name"], record["kind"]) == (
        DEEP_EVENT_ID,
        "PutBucketTagging",
        "unreadable",
    )
    assert record["access_key_id"] == probe.extra["exposed"]
    assert list(record["fields"]) == ["request_parameters"]
    assert record["fields"]["request_parameters"]["reason"] == "nested deeper than 64 levels"
    # Read, not dropped: the event itself is in the report's counts.
    assert report["events"]["by_name"]["PutBucketTagging"] == 1
    assert "not_read" not in coverage
    markdown = (result.out_dir / "report.md").read_text()
    assert "1 record(s) of the key hold a document too deep or too large to read" in markdown
    # And the bucket backdoor is handled exactly as without the deep record: these resources changed,
    # no other.
    CHECKS["bucket-backdoor"](result, probe, lines)
    assert {c["resource"] for c in result.resource_changes} == {
        f"bucket/{result.facts['bucket']}",
        f"user/{USER}",
        f"access-key/{probe.extra['exposed']}",
        "user/svc-backup-sync",
        f"access-key/{result.backdoor_key_id}",
    }


CHECKS["deep-parameters"] = check_deep_parameters


# -- issue 12, IAM persistence: only live-verified attacker events; protected principals; bounded work
# The key's own containment as in persistence; the Remediate step's actions are checked per scenario.
EXPECTED.update(
    {
        "forged-create-user": ("contain", [CONTAINED], ("Inactive", "Active")),
        "noop-role-trust": ("contain", [CONTAINED], ("Inactive", "Active")),
        "protected-login-profile": ("contain", [CONTAINED], ("Inactive", "Active")),
        "many-users": ("contain", [CONTAINED], ("Inactive", "Active")),
    }
)


def _remediation_actions(result: DemoResult) -> list[dict[str, Any]]:
    [report] = [json.loads(p.read_text()) for p in report_paths(result)]
    return [
        a
        for a in report["response"]["actions"]
        if a["action"] in ("contain_principal", "remove_trust_statements")
    ]


def _changed_resources(result: DemoResult) -> set[str]:
    return {c["resource"] for c in result.resource_changes}


def _story_changes(probe: Probe) -> set[str]:
    """What every persistence scenario changes: the exposed key and its user, the backdoor user and key."""
    backdoor = next(iter(probe.before["users"]["svc-backup-sync"]["keys"]))
    return {
        f"access-key/{probe.extra['exposed']}",
        "user/dana.reyes",
        "user/svc-backup-sync",
        f"access-key/{backdoor}",
        # The attacker's statement is removed from the victim bucket (the owner's earlier policy shows it).
        f"bucket/{probe.extra['victim_bucket']}",
    }


def check_forged_create_user(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    from responder.remediate.persistence import TAMPERING

    user, key = result.facts["forged_user"], result.facts["forged_user_key"]
    assert probe.after["users"][user] == probe.before["users"][user]
    assert probe.before["users"][user]["keys"] == {key: "Active"}
    assert not [c for c in result.account_changes or [] if c.startswith(f"/users/{user}/")]  # password kept
    assert _changed_resources(result) == _story_changes(probe)
    flagged = [a for a in _remediation_actions(result) if a["target"] == f"user/{user}"]
    assert [(a["status"], TAMPERING in a["detail"]) for a in flagged] == [("skipped", True)]
    assert TAMPERING in (result.out_dir / "report.md").read_text()
    # The true records are still acted on: the backdoor user is contained.
    assert ("contain_principal", "done") in [(a["action"], a["status"]) for a in _remediation_actions(result)]


def check_noop_role_trust(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    from workstation.demo.scenarios import MANAGEMENT_ACCOUNT, ORG_ROLE

    assert probe.after["roles"][ORG_ROLE] == probe.before["roles"][ORG_ROLE]
    assert not [c for c in result.account_changes or [] if c.startswith("/roles/")]
    assert _changed_resources(result) == _story_changes(probe)
    [trust] = [a for a in _remediation_actions(result) if a["target"] == f"role/{ORG_ROLE}"]
    # Never a deny in its place: at most a person is shown the exact statement.
    assert trust["status"] == "awaiting_approval" and MANAGEMENT_ACCOUNT in trust["detail"]


def check_protected_login_profile(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    from workstation.demo.scenarios import BREAK_GLASS

    assert probe.after["users"][BREAK_GLASS] == probe.before["users"][BREAK_GLASS]
    assert not [c for c in result.account_changes or [] if c.startswith(f"/users/{BREAK_GLASS}/")]
    assert _changed_resources(result) == _story_changes(probe)
    [waiting] = [a for a in _remediation_actions(result) if a["target"] == f"login-profile/{BREAK_GLASS}"]
    assert waiting["status"] == "awaiting_approval" and "protected" in waiting["detail"]


def check_many_users(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    limit, created = int(result.facts["max_auto_contain"]), int(result.facts["created_users"])
    deny = "responder-deny-all-local"
    bulk = {u: v for u, v in probe.after["users"].items() if u.startswith("svc-sync-")}
    assert len(bulk) == created
    contained = sorted(u for u, v in bulk.items() if [p.rsplit("/", 1)[-1] for p in v["attached"]] == [deny])
    # The backdoor user (its key makes it the riskiest) is one of the first `limit`; the rest wait.
    assert contained == [f"svc-sync-{n:04d}" for n in range(limit - 1)]
    assert {u: v for u, v in bulk.items() if u not in contained} == {
        u: v for u, v in probe.before["users"].items() if u.startswith("svc-sync-") and u not in contained
    }
    actions = _remediation_actions(result)
    assert [a["status"] for a in actions] == ["done"] * limit + ["awaiting_approval"]
    assert actions[-1]["target"] == f"{created + 1 - limit} more"
    # Nothing in the state or the message grows with the attack: counts and the evidence.
    assert all(len(a["detail"]) < 1000 for a in actions)
    assert sum(len(m["Message"]) for m in result.soc_messages) < 64 * 1024


CHECKS.update(
    {
        "forged-create-user": check_forged_create_user,
        "noop-role-trust": check_noop_role_trust,
        "protected-login-profile": check_protected_login_profile,
        "many-users": check_many_users,
    }
)


# -- issue 12, outputs: every sink encodes what it carries (hostile-strings)
EXPECTED["hostile-strings"] = ("contain", [CONTAINED], ("Inactive", "Active"))


def check_hostile_strings(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    """The attacker's strings are in the report, and no output obeys them."""
    from responder.messages import Message, webhook_payload
    from responder.report_html import CSP
    from tests.hostile.sinks import (
        chat_problems,
        email_problems,
        headings,
        html_problems,
        markdown_problems,
        terminal_problems,
    )
    from workstation.demo.hostile import (
        FAKE_SECTIONS,
        HOSTILE_OBJECT_KEYS,
        HOSTILE_SIDS,
        HOSTILE_USER_AGENTS,
    )

    contained_diff(probe)
    [report] = [json.loads(p.read_text()) for p in report_paths(result)]
    # The strings reached the report as data (else this scenario would prove nothing).
    objects = {a["object_key"] for a in report["data_access"]}
    assert set(HOSTILE_OBJECT_KEYS) <= objects
    agents = {ua for ip in report["source_ips"] for ua in ip["user_agents"]}
    assert set(HOSTILE_USER_AGENTS) <= agents
    [failed] = [c for c in report["bucket_policy_changes"] if not c["succeeded"]]
    assert [s["sid"] for s in failed["offending_statements"]] == list(HOSTILE_SIDS)

    # report.md: exactly its own sections, the default story's, and no markup from the data.
    markdown = (result.out_dir / "report.md").read_text()
    tactics = list(dict.fromkeys(f["tactic"] for f in report["findings"]))
    backdoors = [c for c in report["bucket_policy_changes"] if c["grants_external"]]
    backdoors += [c for c in report.get("current_bucket_policies") or [] if c["grants_external"]]
    assert not [r for r in report.get("role_trust_changes") or [] if r["grants_external"]]
    expected = [
        f"# Exposed key {probe.extra['exposed']}",
        "## What happened",
        "## What was done",
        "## What you must do now",
        "## Who used the key",
        "## Credentials",
        "## Source IPs",
        "## Findings by tactic",
        *(f"### {t}" for t in tactics),
        "## Resources created, modified, deleted",
        "## Backdoors (policies open to outsiders)",
        *(f"### `{c['bucket']}`" for c in backdoors),
        "## Data accessed",
        f"## Attribution: {report['attribution']['assessment']}",
        "## Response actions",
        "## Evidence",
        "## IP reputation sources",
    ]
    found = headings(markdown)
    # A backdoor's heading names its bucket, then the call: compared up to the bucket.
    assert [h.split(":")[0] if h.startswith("### `") else h for h in found] == expected
    assert markdown_problems(markdown) == []
    assert not [x for x in markdown.splitlines() if x.strip("# ") in FAKE_SECTIONS and x not in expected]
    assert html_problems((result.out_dir / "report.html").read_text(), CSP) == []

    # The SOC message, and the Slack and Chime payloads made of it: nothing live.
    for message in result.soc_messages:
        assert email_problems(message["Subject"], message["Message"], fake_lines=FAKE_SECTIONS) == []
        assert "http://approve.evil.example" not in message["Message"]
        sent = Message(subject=message["Subject"], body=message["Message"])
        for url in ("https://hooks.slack.com/services/T0/B0/X", "https://hooks.chime.aws/incomingwebhooks/x"):
            assert [p for text in webhook_payload(url, sent).values() for p in chat_problems(text)] == []
    assert "198.51.100.77" in result.soc_messages[-1]["Message"]  # the hostile calls' address is named
    # The narration (the terminal) carries no escape sequence or control character from the logs.
    assert terminal_problems("\n".join(lines)) == []

    # Keyed digests: the demo deploys a redaction key, as the stack does; the story's session tokens
    # are in the saved rows as HMACs, never as plain SHA-256 digests nor as themselves.
    saved = "\n".join(probe.extra["saved_rows"])
    assert "<redacted hmac-sha256:" in saved and "<redacted sha256:" not in saved
    assert not [s for s in result.planted_secrets if s in saved]
    # The account: the default story's containment (the key, its user, the backdoor user and at most
    # the story's own backdoor statement), nothing for the hostile calls, which all failed or read.
    from workstation.demo.cloudtrail import BACKDOOR_SID

    changed = {"/".join(p.split("/")[:3]) for p in result.account_changes or []}
    assert changed - {f"/buckets/{failed['bucket']}"} == {f"/users/{USER}", "/users/svc-backup-sync"}
    for change in result.resource_changes:
        if change["resource"] == f"bucket/{failed['bucket']}":
            sids = [
                [st.get("Sid") for st in json.loads(side["policy"])["Statement"]]
                for side in (change["before"], change["after"])
            ]
            assert [s for s in sids[0] if s not in sids[1]] == [BACKDOOR_SID]
            assert not set(HOSTILE_SIDS) & (set(sids[0]) | set(sids[1]))


CHECKS["hostile-strings"] = check_hostile_strings


# -- issue 12, bucket policies: external means external by value; only the attacker's delta, once
EXPECTED.update(
    {
        "shared-bucket-read": ("contain", [CONTAINED], ("Inactive", "Active")),
        "org-condition-backdoor": ("contain", [CONTAINED], ("Inactive", "Active")),
    }
)


def _bucket_actions(result: DemoResult, bucket: str) -> list[tuple[str, str]]:
    return [
        (a["action"], a["status"])
        for e in result.executions
        for a in e["actions"]
        if a["target"] == bucket and a["action"] != "snapshot_bucket_policy"
    ]


def _statements_of(policy: str | None) -> list[str]:
    from responder.policy_doc import canonical

    return [canonical(s) for s in json.loads(policy or '{"Statement": []}')["Statement"]]


def check_shared_bucket_read(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    """Issue 12, point 1: the finding names a bucket the attacker only read; its policy stays byte for byte."""
    share = result.facts["share_bucket"]
    assert share == "acme-partner-share-123456789012"
    assert not [p for p in result.account_changes or [] if p.startswith(f"/buckets/{share}/")]
    assert f"bucket/{share}" not in _changed_resources(result)
    assert _bucket_actions(result, share) == []
    # Reported, as it is external (the partner), but not the attacker's to remove.
    [report] = [json.loads(p.read_text()) for p in report_paths(result)]
    [current] = [c for c in report["current_bucket_policies"] if c["bucket"] == share]
    assert current["grants_external"] and "arn:aws:iam::444455556666:root" in current["external_principals"]
    # The victim bucket's backdoor, which the attacker did add, still goes.
    victim = probe.extra["victim_bucket"]
    assert ("remove_policy_statements", "done") in _bucket_actions(result, victim)


def check_org_condition_backdoor(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    """Issue 12, point 9: '*' under the attacker's org id, VPC endpoint and user id: external, removed."""
    bucket, sids = result.facts["org_bucket"], result.facts["attacker_sids"].split(",")
    [change] = [c for c in result.resource_changes if c["resource"] == f"bucket/{bucket}"]
    owners = json.loads(result.facts["owner_statements"])
    assert _statements_of(change["after"]["policy"]) == _statements_of(json.dumps({"Statement": owners}))
    assert len(_statements_of(change["before"]["policy"])) == len(owners) + len(sids)
    assert _bucket_actions(result, bucket) == [("remove_policy_statements", "done")]
    [removal] = [
        a
        for e in result.executions
        for a in e["actions"]
        if a["target"] == bucket and a["action"] == "remove_policy_statements"
    ]
    assert all(sid in removal["detail"] for sid in sids)
    # Reported external: the attacker's organization, VPC endpoint and user id, each by value.
    [report] = [json.loads(p.read_text()) for p in report_paths(result)]
    [put] = [
        c
        for c in report["bucket_policy_changes"]
        if c["bucket"] == bucket
        and c["access_key_id"] == probe.extra["exposed"]
        and len(c["offending_statements"]) > 2
    ]
    assert {
        "organization o-attackr0rg01",
        "VPC endpoint vpce-0a77ac4e5f6071829",
        "user id AROAXATTACKERROLE0001:*",
    } <= set(put["external_principals"])


def check_bucket_actions_once(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    """Issue 12, point 8: across concurrent executions each bucket statement is removed exactly once."""
    check_exactly_once(result, probe, lines)
    victim = probe.extra["victim_bucket"]
    actions = _bucket_actions(result, victim)
    assert actions.count(("remove_policy_statements", "done")) == 1, actions
    assert set(actions) <= {
        ("remove_policy_statements", "done"),
        ("remove_policy_statements", "already_done"),
    }


CHECKS.update(
    {
        "shared-bucket-read": check_shared_bucket_read,
        "org-condition-backdoor": check_org_condition_backdoor,
        "concurrent-findings": check_bucket_actions_once,
    }
)


def test_a_key_deleted_while_the_human_decides_is_notify_only_not_a_failure(tmp_path: Path) -> None:
    """Triage confirmed the owner before asking, so a yes goes straight to Disable: if the key was
    deleted meanwhile, Disable's AccessKeyNotFound ends as Validate's would, notify only."""

    def delete_key(world: Any) -> None:
        world.clients["iam"].delete_access_key(
            UserName=world.victim.user_name, AccessKeyId=world.victim.exposed_key_id
        )

    result = run_demo(
        tmp_path,
        scenario="approval-granted",
        narrate=lambda _line: None,
        hooks=DemoHooks(
            before_answer=delete_key, environment={"POLL_SECONDS": "0"}, retry_interval_scale=0.0
        ),
    )
    assert result.status == "SUCCEEDED"
    assert "Disable" in result.steps and "NotifyFailure" not in result.steps
    assert result.report_path is not None
    response = json.loads(result.report_path.read_text())["response"]
    assert response["decision"] == "notify_only"
    assert response["validation_error"] == "AccessKeyNotFound"
    assert response["time_to_contain_seconds"] is None
    assert not [
        a for a in response["actions"] if a["action"] == "disable_access_key" and a["status"] == "done"
    ]
    assert result.key_status[next(iter(result.key_status))] is None  # the exposed key: gone, not Inactive


# -- issue 17, every signal AWS gives
EXPECTED.update(
    {
        # The event names no bucket (no Snapshot); the investigation finds the backdoor all the same.
        "health-exposed-key": ("contain", [[*CONTAINED[:3], ("notify_soc", "done")]], ("Inactive", "Active")),
        # Two keys of the account in the sequence: each disabled once, each user's sessions revoked.
        "attack-sequence": (
            "contain",
            [
                [
                    ("disable_access_key", "done"),
                    ("disable_access_key", "done"),
                    ("revoke_sessions", "done"),
                    ("tag_principal", "done"),
                    ("revoke_sessions", "done"),
                    ("tag_principal", "done"),
                    ("snapshot_bucket_policy", "done"),
                    ("notify_soc", "done"),
                ]
            ],
            ("Inactive", "Active"),
        ),
        # First delivery answered; the recount recorded only; the update naming a new bucket investigated.
        "finding-update": (
            "contain",
            [
                CONTAINED,
                REPEAT,
                [
                    ("disable_access_key", "already_done"),
                    ("record_finding_update", "done"),
                    ("revoke_sessions", "already_done"),
                    ("snapshot_bucket_policy", "done"),
                    ("snapshot_bucket_policy", "done"),
                    ("notify_soc", "done"),
                ],
            ],
            ("Inactive", "Active"),
        ),
    }
)


def check_health(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    [message] = result.soc_messages
    url = result.facts["exposed_url"].replace("://", "[:]//")  # links are defanged in the message
    assert f"AWS Health found the key in public at: {url}" in message["Message"]
    assert f"Remove the key from where AWS found it: {url}" in message["Message"]
    assert message["Subject"].startswith("[Responder] AWS Health AWS_RISK_CREDENTIALS_EXPOSED")
    report = json.loads(result.report_path.read_text()) if result.report_path else {}
    assert report["response"]["time_to_contain"]["since"] == "AWS Health reported the key exposed"
    assert any(
        s.startswith("Remove the key from where AWS found it") for s in report["summary"]["next_steps"]
    )
    markdown = (result.out_dir / "report.md").read_text()
    assert "## What AWS reported" in markdown and "billing-exporter" in markdown


def check_attack_sequence(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    user, key = result.facts["sequence_user"], result.facts["sequence_key"]
    assert probe.after["users"][user]["keys"] == {key: "Inactive"}
    [policy] = probe.after["users"][user]["inline"]
    assert policy.startswith(USER_POLICY_PREFIX)  # its older sessions revoked too
    report = json.loads(result.report_path.read_text()) if result.report_path else {}
    exposed = [c["access_key_id"] for c in report["credentials"] if c["relation"] == "exposed"]
    assert exposed == [probe.extra["exposed"], key]  # both investigated as exposed keys
    indicators = {i["key"] for i in report["incident"]["sequence"]["indicators"]}
    assert {"TOR_IP", "HIGH_RISK_API", "ATTACK_TACTIC", "UNUSUAL_ASN_FOR_USER"} <= indicators
    markdown = (result.out_dir / "report.md").read_text()
    assert "### GuardDuty's indicators" in markdown and "### Signals in the sequence" in markdown
    [message] = result.soc_messages
    assert "GuardDuty indicators: TOR_IP" in message["Message"]


def check_finding_update(result: DemoResult, probe: Probe, lines: list[str]) -> None:
    contained_diff(probe)  # one containment for the three deliveries
    assert len(result.soc_messages) == 2  # the first delivery and the one naming a new bucket
    third = json.loads((result.out_dir / "report.3.json").read_text())
    assert result.facts["new_bucket"] in third["incident"]["buckets"]
    [update] = [a for a in third["response"]["actions"] if a["action"] == "record_finding_update"]
    assert result.facts["new_bucket"] in update["detail"] and "investigated" in update["detail"]


CHECKS.update(
    {
        "health-exposed-key": check_health,
        "attack-sequence": check_attack_sequence,
        "finding-update": check_finding_update,
        "duplicate-finding": check_finding_update_of_duplicate,
    }
)
