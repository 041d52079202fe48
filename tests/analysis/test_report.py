import json

import pytest

from responder.analysis.rows import record_to_row
from responder.bundle import write_report
from responder.errors import InvalidInput, ReportInvalid
from responder.report import build_report, render_markdown, validate_report
from tests.analysis.helpers import ACCOUNT, KEY, OTHER_ACCOUNT, bucket_policy, row

WINDOW = {"window_start": "2024-04-24T10:00:00Z", "window_end": "2024-05-01T12:00:00Z"}
DERIVED = "ASIADERIVEDSESSION01"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEtokenEXAMPLEtokenEXAMPLEtokenEXAMPLEtoken+/=="


def scenario() -> list[dict]:
    """The playbook's incident: key check, recon, session token, backdoor, bulk-ish read."""
    return [
        row("GetCallerIdentity", source="sts.amazonaws.com", time="2024-05-01T10:00:00Z", read_only=True),
        row("ListBuckets", time="2024-05-01T10:00:30Z", read_only=True),
        row(
            "GetSessionToken",
            source="sts.amazonaws.com",
            time="2024-05-01T10:01:00Z",
            read_only=True,
            response={"credentials": {"accessKeyId": DERIVED, "sessionToken": TOKEN, "expiration": "x"}},
        ),
        row(
            "PutBucketPolicy",
            time="2024-05-01T10:02:00Z",
            key=DERIVED,
            params={
                "bucketName": "finance-data",
                "bucketPolicy": json.dumps(bucket_policy({"AWS": OTHER_ACCOUNT})),
            },
        ),
        row(
            "GetObject",
            time="2024-05-01T10:03:00Z",
            key=DERIVED,
            params={"bucketName": "finance-data", "key": "customers.csv"},
            extra={"bytesTransferredOut": 2048},
            read_only=True,
        ),
        row("GetBucketAcl", time="2024-05-01T10:04:00Z", params={"bucketName": "hr-data"}, read_only=True),
        row(
            "CreateUser",
            source="iam.amazonaws.com",
            time="2024-05-01T10:05:00Z",
            params={"userName": "backup-admin"},
            error="AccessDenied",
        ),
    ]


def response() -> dict:
    return {
        "workflow_status": "SUCCEEDED",
        "decision": "contain",
        "actions": [
            {"action": "disable_access_key", "target": KEY, "status": "done", "at": "2024-05-01T11:00:00Z"},
            {
                "action": "remove_policy_statements",
                "target": "finance-data",
                "status": "done",
                "detail": "Backdoor",
            },
        ],
        "evidence": [{"uri": "s3://evidence/inc-1/activity.json", "sha256": "a" * 64}],
    }


def build(**kw):
    return build_report(scenario(), access_key_id=KEY, principal={"user_name": "dev"}, **WINDOW, **kw)


def test_report_has_every_contract_section_and_validates():
    report = build()
    validate_report(report)
    assert report["subject"] == {"access_key_id": KEY, "principal": {"user_name": "dev"}}
    assert report["account_id"] == ACCOUNT
    assert report["events"]["total"] == 7
    assert report["events"]["errors"] == 1
    assert report["events"]["by_name"]["GetObject"] == 1
    assert "response" not in report
    assert report["coverage"]["status"] == "partial"


def test_credentials_are_derived_from_the_rows():
    creds = build()["credentials"]
    assert [(c["access_key_id"], c["relation"], c["parent"], c["via"], c["event_count"]) for c in creds] == [
        (KEY, "exposed", None, None, 5),
        (DERIVED, "derived", KEY, "GetSessionToken", 2),
    ]


def test_sections_hold_the_hand_checked_facts():
    report = build()
    (change,) = report["bucket_policy_changes"]
    assert (change["bucket"], change["grants_external"], change["external_principals"]) == (
        "finance-data",
        True,
        [OTHER_ACCOUNT],
    )
    assert report["data_access"][0]["bytes_out"] == 2048
    assert report["data_events_logged"] == {"finance-data": True, "hr-data": False}
    assert report["iam_changes"] == [
        {
            "event_name": "CreateUser",
            "event_source": "iam.amazonaws.com",
            "event_time": "2024-05-01T10:05:00Z",
            "target": "user/backup-admin",
            "succeeded": False,
            "event_id": "CreateUser-2024-05-01T10:05:00Z-" + KEY,
            "detail": None,
            "error_code": "AccessDenied",
            "access_key_id": KEY,
        }
    ]
    tactics = {(f["tactic"], f["severity"]) for f in report["findings"]}
    assert ("Exfiltration", "critical") in tactics
    assert ("Persistence", "high") in tactics
    created = next(f for f in report["findings"] if f["title"].startswith("Created IAM users"))
    assert created["attempted_only"] and "attempted" in created["title"]


def test_summary_says_what_happened_what_was_done_and_what_to_do():
    report = build(response=response())
    summary = report["summary"]
    assert "finance-data" in summary["what_happened"]
    assert "disable_access_key on " + KEY + ": done" in summary["what_was_done"]
    steps = " ".join(summary["next_steps"])
    assert f"Access key {KEY} is disabled: delete it" in steps  # already disabled by the workflow
    assert DERIVED in steps  # sessions to revoke
    # The workflow removed the backdoor statement: nothing asks a person to do it again ...
    assert "Remove the backdoor statement" not in steps and "finance-data" in steps
    assert "Find out what buckets" in steps and "involve Legal" in steps  # classification unknown offline
    # ... and without that action, the step is there.
    undone = response()
    undone["actions"] = undone["actions"][:1]
    still = " ".join(build(response=undone)["summary"]["next_steps"])
    assert "Remove the backdoor statement(s) Backdoor from the policy of bucket finance-data" in still
    assert "hr-data" in steps  # data events not logged there
    assert report["response"]["actions"][0]["status"] == "done"
    assert report["evidence"][0]["sha256"] == "a" * 64


def test_session_tokens_never_reach_the_report_or_the_markdown(tmp_path):
    report = build(response=response())
    markdown = render_markdown(report)
    assert TOKEN not in json.dumps(report)
    assert TOKEN not in markdown
    paths = write_report(report, tmp_path / "out")
    assert [p.name for p in paths] == ["report.json", "report.md", "report.html"]
    written = paths[0].read_text()
    assert TOKEN not in written and TOKEN not in paths[1].read_text() and TOKEN not in paths[2].read_text()
    assert json.loads(written) == report
    assert written == json.dumps(report, sort_keys=True, indent=2) + "\n"


def test_secrets_inside_policies_are_redacted():
    policy = bucket_policy({"AWS": OTHER_ACCOUNT})
    policy["Statement"][0]["Condition"] = {"StringEquals": {"aws:UserAgent": TOKEN}}
    rows = [row("PutBucketPolicy", params={"bucketName": "b", "bucketPolicy": policy})]
    report = build_report(rows, access_key_id=KEY, **WINDOW)
    assert TOKEN not in json.dumps(report)
    assert TOKEN not in render_markdown(report)
    assert "<redacted sha256:" in report["bucket_policy_changes"][0]["offending_statements"][0]["statement"]


def test_markdown_order_summary_first():
    markdown = render_markdown(build(response=response()))
    order = [
        "## What happened",
        "## What was done",
        "## What you must do now",
        "## Source IPs",
        "## Findings by tactic",
        "## Resources created",
        "## Backdoors",
        "## Data accessed",
        "## Attribution",
        "## Response actions",
        "## Evidence",
    ]
    positions = [markdown.index(h) for h in order]
    assert positions == sorted(positions)
    assert '"Sid": "Backdoor"' in markdown
    assert "s3://evidence/inc-1/activity.json" in markdown and "a" * 64 in markdown


def test_no_rows_is_no_data_not_no_activity():
    report = build_report([], access_key_id=KEY, **WINDOW)
    assert report["coverage"]["status"] == "no_data"
    assert "not evidence of absence" in report["summary"]["what_happened"]
    assert report["attribution"]["assessment"] == "undetermined"


def test_given_coverage_credentials_and_derived_rows_are_used():
    derived_rows = [row("ListUsers", source="iam.amazonaws.com", key="", read_only=True)]
    report = build_report(
        scenario()[:2],
        access_key_id=KEY,
        coverage={"events_scanned": 9000, "first_event": None, "last_event": None, "status": "covered"},
        credentials=[{"access_key_id": KEY, "relation": "exposed", "parent": None, "via": None}],
        derived_rows={DERIVED: derived_rows},
        **WINDOW,
    )
    assert report["coverage"]["events_scanned"] == 9000
    assert report["credentials"][0]["event_count"] == 2
    assert report["events"]["by_credential"] == {DERIVED: 1, KEY: 2}


def test_own_output_failing_the_schema_is_a_named_error():
    with pytest.raises(ReportInvalid, match="coverage/status"):
        build(coverage={"events_scanned": 1, "first_event": None, "last_event": None, "status": "maybe"})
    with pytest.raises(InvalidInput):
        build_report([], access_key_id=KEY, window_start="yesterday", window_end="now")


def test_all_stratus_fixtures_make_valid_reports_without_secrets(shared_fixtures):
    rows, tokens = [], []
    for path in sorted((shared_fixtures / "cloudtrail" / "stratus-red-team").glob("*.json")):
        records = json.loads(path.read_text())
        records = records["Records"] if isinstance(records, dict) else records
        for record in records:
            creds = (record.get("responseElements") or {}).get("credentials") or {}
            if isinstance(creds, dict) and creds.get("sessionToken"):
                tokens.append(creds["sessionToken"])
        rows += [record_to_row(r) for r in records]
    exposed = "AKIA6V1GNZTT65XQH36M"
    report = build_report(
        rows, access_key_id=exposed, window_start="2024-07-01T00:00:00Z", window_end="2024-12-01T00:00:00Z"
    )
    markdown = render_markdown(report)
    assert tokens
    for token in tokens:
        assert token not in json.dumps(report)
        assert token not in markdown
    assert report["events"]["total"] == len(rows)
    assert {"ASIASTJKC5GCM7ZE6LUP"} <= {c["access_key_id"] for c in report["credentials"]}
    classes = {ip["ip"]: ip["classification"] for ip in report["source_ips"]}
    assert classes["075.050.255.67"] == "invalid"
    assert classes["18.236.253.47"] == "aws"
    trust = {r["role"] for r in report["role_trust_changes"] if r["grants_external"]}
    assert trust == {"stratus-red-team-backdoor-r-role", "stratus-red-team-malicious-iam-role"}


def test_the_report_judges_external_with_the_live_accounts_insiders():
    """A grant pinned to this account's own organization is internal in the report, as in Remediate;
    the same grant under another organization id is external either way."""
    from responder.analysis.buckets import Insiders

    def pinned(org: str) -> str:
        statement = {
            "Sid": f"Org{org[-4:]}",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::finance-data/*",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": org}},
        }
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    ours, theirs = "o-ours0000001", "o-attacker001"
    policies = {"finance-data": pinned(ours), "shared-data": pinned(theirs)}
    inside = Insiders(account_id=ACCOUNT, organization_id=ours)
    with_insiders = build_report(
        scenario(), access_key_id=KEY, **WINDOW, current_bucket_policies=policies, insiders=inside
    )
    account_only = build_report(scenario(), access_key_id=KEY, **WINDOW, current_bucket_policies=policies)
    judged = {p["bucket"]: p["grants_external"] for p in with_insiders["current_bucket_policies"]}
    assert judged == {"finance-data": False, "shared-data": True}
    # Without the live account's view, an organization id is not known to be ours: external.
    assert all(p["grants_external"] for p in account_only["current_bucket_policies"])
