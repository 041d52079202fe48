"""cdk-nag's AwsSolutions checks pass, and every acknowledgement says why."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_sqs as sqs
from constructs import IConstruct

from app import build, cli_context

pytestmark = pytest.mark.synth


def _acknowledgements(root: IConstruct) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for construct in root.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                found.setdefault(construct.node.path, {}).update(entry.data)
    return found


def test_synth_leaves_no_unacknowledged_finding(synth):
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    failures = [r for r in report["pluginReports"] if r.get("conclusion") != "success"]
    assert not failures, json.dumps(failures, indent=1)[:4000]
    assert report["pluginReports"] == [] or {r["pluginName"] for r in report["pluginReports"]} == {
        "AwsSolutions"
    }


def test_every_acknowledgement_has_a_specific_reason(synth):
    acknowledgements = _acknowledgements(synth.app)
    assert acknowledgements, "the stack acknowledges some findings (IAM5 wildcards at least)"
    for path, rules in acknowledgements.items():
        for rule, reason in rules.items():
            assert isinstance(reason, str) and len(reason.strip()) >= 20, f"{path}: {rule} has no real reason"


def test_iam5_wildcards_are_acknowledged_one_resource_at_a_time(synth):
    rules = {rule for rules in _acknowledgements(synth.app).values() for rule in rules}
    iam5 = {r.removeprefix("Annotation::") for r in rules if "IAM5" in r}
    assert iam5 and all(r.startswith("AwsSolutions-IAM5[Resource::") for r in iam5), iam5


def test_an_unacknowledged_error_fails_synth(tmp_path):
    """The guard itself: the same registration as app.py turns a nag error into a failed synth."""
    app = App(outdir=str(tmp_path), context=cli_context())
    build(app)
    sqs.Queue(Stack(app, "Careless"), "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED)
    with pytest.raises(RuntimeError, match=r"AwsSolutions-SQS2"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    (plugin,) = report["pluginReports"]
    assert plugin["conclusion"] == "failure"
    paths = {c["constructPath"] for v in plugin["violations"] for c in v["violatingConstructs"]}
    assert paths == {"Careless/Plain/Resource"}, "only the careless queue fails; the responder stack passes"
