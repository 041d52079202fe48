"""The saved inputs of tests/events/<step>.json and their broken twins, filled for the emulated account.

Each file is the input the state machine hands that step (its ASL ``Parameters``), with the values
that differ per emulated account as ``{{NAME}}`` placeholders: moto makes new key ids every run. A
string value replaces its placeholder inside a string; any other value replaces the quoted
placeholder as JSON (a whole saved result, a report reference).
"""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import EVENTS
from tests.lambdas.conftest import ACCOUNT, EXECUTION, Account


def saved_input(step: str, account: Account | None = None, *, broken: bool = False, **values: Any) -> Any:
    """tests/events/<step>.json (or <step>.broken.json) with its placeholders filled."""
    text = (EVENTS / f"{step}{'.broken' if broken else ''}.json").read_text()
    filled: dict[str, Any] = {"ACCOUNT": ACCOUNT, "EXECUTION": EXECUTION}
    if account is not None:
        filled |= {"KEY": account.exposed_key, "USER": account.user, "BUCKET": account.bucket}
    for name, value in (filled | values).items():
        if isinstance(value, str):
            text = text.replace("{{" + name + "}}", value)
        else:
            text = text.replace('"{{' + name + '}}"', json.dumps(value))
    assert "{{" not in text, f"tests/events/{step}.json: a placeholder is left unfilled"
    return json.loads(text)


def account_state(account: Account) -> dict[str, Any]:
    """What a step could change: keys, the user's policies and tags, the bucket policy, the incident
    table, the evidence objects and the SOC inbox (counted, not consumed)."""
    iam, s3 = account.iam, account.s3
    keys = iam.list_access_keys(UserName=account.user)["AccessKeyMetadata"]
    evidence = s3.list_objects_v2(Bucket=account.evidence_bucket).get("Contents", [])
    inbox = account.sqs.get_queue_attributes(
        QueueUrl=account.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    return {
        "keys": sorted((k["AccessKeyId"], k["Status"]) for k in keys),
        "user_policies": sorted(iam.list_user_policies(UserName=account.user)["PolicyNames"]),
        "user_tags": sorted(
            (t["Key"], t["Value"]) for t in iam.list_user_tags(UserName=account.user)["Tags"]
        ),
        "bucket_policy": s3.get_bucket_policy(Bucket=account.bucket)["Policy"],
        "table": sorted(
            json.dumps(i, sort_keys=True) for i in account.ddb.scan(TableName=account.table)["Items"]
        ),
        "evidence": sorted(o["Key"] for o in evidence),
        "inbox": inbox,
    }
