"""The stack, synthesized once per session with cdk.json's context and the cdk-nag checks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from app import build, cli_context
from stacks.responder_stack import ResponderStack


@dataclass(frozen=True)
class Synth:
    app: App
    stack: ResponderStack
    template: Template
    outdir: Path

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template.to_json()["Resources"]

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.resources.items() if r["Type"] == kind}

    def stack_template(self, name: str) -> dict[str, Any]:
        """Another stack of the app (organization deployment: the member and forwarder stacks)."""
        return json.loads((self.outdir / f"{name}.template.json").read_text())


def synthesize(outdir: Path, **overrides: Any) -> Synth:
    """The stack synthesized into ``outdir`` with cdk.json's context and ``responder:*`` overrides."""
    context = {**cli_context(), **{f"responder:{k}": v for k, v in overrides.items()}}
    app = App(outdir=str(outdir), context=context)
    stack = build(app)
    assembly = app.synth()
    template = json.loads(Path(assembly.get_stack_artifact(stack.artifact_id).template_full_path).read_text())
    return Synth(app, stack, Template.from_json(template), outdir)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


ATHENA = {"queryEngine": "athena", "cloudTrailBucket": "my-trail-bucket"}
ORGANIZATION_TRAIL = {
    **ATHENA,
    "organizationId": "o-a1b2c3d4e5",
    "trailAccounts": ["111122223333", "444455556666"],
    "trailRegions": ["us-east-1", "eu-west-1"],
    "athenaProjectionStart": "2023/06/01",
    "cloudTrailKmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "athenaBytesScannedCutoff": "50000000000",
    # A chat webhook whose secret uses the AWS managed key: GetSecretValue, no kms:Decrypt.
    "chatWebhookSecretArn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:soc/chime-Zy9Xw8",
}
# Every optional key of containment, approval, threat intelligence and chat, on the default (lake) engine.
OPTIONS = {
    "approvalTimeoutSeconds": "900",
    "approvalOnTimeout": "contain",
    "protectedPrincipals": "break-glass,arn:aws:iam::111122223333:user/ops/admin",
    "protectedTag": "security:do-not-contain",
    "threatListUri": "s3://my-intel-bucket/lists/threat-ips.txt",
    "chatWebhookSecretArn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:soc/slack-AbC123",
    "chatWebhookKmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/0000abcd-12ab-34cd-56ef-1234567890ab",
}


@pytest.fixture(scope="session")
def athena_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Athena over a single-account trail, every default."""
    return synthesize(tmp_path_factory.mktemp("cdk.out.athena"), **ATHENA)


@pytest.fixture(scope="session")
def options_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """CloudTrail Lake with every optional key set (:data:`OPTIONS`)."""
    return synthesize(tmp_path_factory.mktemp("cdk.out.options"), **OPTIONS)


@pytest.fixture(scope="session")
def org_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Athena over an organization trail encrypted with KMS, with explicit accounts and regions."""
    return synthesize(tmp_path_factory.mktemp("cdk.out.org"), **ORGANIZATION_TRAIL)


SECURITY_LAKE = {
    "queryEngine": "securitylake",
    "securityLakeRegion": "us-east-1",
    "trailAccounts": ["111122223333", "444455556666"],
    "securityLakeRegions": ["us-east-1", "eu-west-1"],
}
CLOUDWATCH = {"queryEngine": "cloudwatch", "cloudWatchLogGroup": "aws-cloudtrail-logs-111122223333-org"}


@pytest.fixture(scope="session")
def securitylake_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Security Lake (OCSF, through Athena) in its rollup region, two accounts and two regions."""
    return synthesize(tmp_path_factory.mktemp("cdk.out.securitylake"), **SECURITY_LAKE)


@pytest.fixture(scope="session")
def cloudwatch_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """CloudWatch Logs Insights over the trail's log group."""
    return synthesize(tmp_path_factory.mktemp("cdk.out.cloudwatch"), **CLOUDWATCH)


# The organization deployment: a hub in us-east-1 for two OUs, two more regions forwarded to it.
ORGANIZATION = {
    "deployment": "organization",
    "organizationId": "o-a1b2c3d4e5",
    "memberOrganizationalUnits": ["ou-ab12-cdef3456", "ou-ab12-99887766"],
    "hubRegion": "us-east-1",
    "regions": ["us-east-1", "eu-west-1", "ap-southeast-2"],
}


@pytest.fixture(scope="session")
def organization_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The organization deployment; ``stack`` is the hub, the other stacks are in ``outdir``."""
    return synthesize(tmp_path_factory.mktemp("cdk.out.organization"), **ORGANIZATION)
