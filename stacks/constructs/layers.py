"""The code the steps run: the ``lambdas`` package, our ``responder`` package as a layer, and Powertools.

Every function gets the one ``lambdas`` package and runs ``lambdas.<step>.handler.handler``: the very
module path the tests and the local runner import, so steps may share modules (``lambdas.query_engine``).

Our layer is built without Docker: a local bundler copies ``responder/`` to ``python/responder`` (the
path Lambda puts on ``sys.path``), leaving out what runs only on a workstation (``local/``, the moto
runner; ``demo/``) and caches. Powertools (with pydantic v2 and the X-Ray SDK) comes from AWS's public
layer, at the version ``requirements.txt`` pins, looked up in AWS's public SSM parameter at deploy
time, so synth needs no credentials.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm
from constructs import Construct

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "responder"
REQUIREMENTS = REPO / "requirements.txt"

# Left out of the layer: build litter anywhere, and the package's workstation-only sub-packages (the
# moto runner, the demo).
EXCLUDE_ANYWHERE: tuple[str, ...] = ("__pycache__", "*.pyc", "tests")
EXCLUDE_TOP_LEVEL: tuple[str, ...] = ("local", "demo")

ARCHITECTURE = lambda_.Architecture.ARM_64  # Graviton: cheaper per ms; Powertools publishes arm64 layers


def newest_python_runtime() -> lambda_.Runtime:
    """The newest Python runtime this aws-cdk-lib knows (the one cdk-nag's L1 rule expects)."""
    pythons = [r for r in lambda_.Runtime.ALL if r.family == lambda_.RuntimeFamily.PYTHON]
    return max(pythons, key=lambda r: tuple(int(p) for p in r.name.removeprefix("python").split(".")))


def powertools_version(requirements: Path = REQUIREMENTS) -> str:
    """The aws-lambda-powertools version pinned in requirements.txt."""
    pin = re.compile(r"^\s*aws-lambda-powertools(\[[^\]]*\])?\s*==\s*([0-9][0-9A-Za-z.]*)\s*(#.*)?$", re.M)
    match = pin.search(requirements.read_text())
    if not match:
        raise ValueError(f"{requirements} must pin aws-lambda-powertools==X.Y.Z (the public layer's version)")
    return match.group(2)


def powertools_parameter_name(
    runtime: lambda_.Runtime, architecture: lambda_.Architecture, version: str
) -> str:
    """AWS's public SSM parameter holding the Powertools layer ARN for this runtime, arch and version."""
    return f"/aws/service/powertools/python/{architecture.name}/{runtime.name}/{version}"


@jsii.implements(ILocalBundling)
class CopyPackage:
    """Local bundling: copy a Python package into the asset (under ``under``), no Docker, no network."""

    def __init__(self, source: Path, under: str = "") -> None:
        self.source = source
        self.under = under

    def try_bundle(self, output_dir: str, *, image: Any, **_options: Any) -> bool:
        shutil.copytree(self.source, Path(output_dir) / self.under / self.source.name, ignore=self._ignore)
        return True

    def _ignore(self, directory: str, names: list[str]) -> set[str]:
        ignored = set(shutil.ignore_patterns(*EXCLUDE_ANYWHERE)(directory, names))
        if Path(directory) == self.source:
            ignored |= set(EXCLUDE_TOP_LEVEL) & set(names)
        return ignored


def package_code(source: Path, runtime: lambda_.Runtime) -> lambda_.Code:
    """A package as function code, importable by its own name (``lambdas.<step>.handler``)."""
    return lambda_.Code.from_asset(
        str(source),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(image=runtime.bundling_image, local=CopyPackage(source)),
    )


class SharedLayers(Construct):
    """The two layers every step function uses."""

    def __init__(self, scope: Construct, construct_id: str, *, runtime: lambda_.Runtime) -> None:
        super().__init__(scope, construct_id)
        self.responder = lambda_.LayerVersion(
            self,
            "Responder",
            description="The responder package (python/responder): models, services, saved queries",
            code=lambda_.Code.from_asset(
                str(PACKAGE),
                # Hash what ships, so caches and the excluded sub-packages never change the asset.
                asset_hash_type=AssetHashType.OUTPUT,
                bundling=BundlingOptions(image=runtime.bundling_image, local=CopyPackage(PACKAGE, "python")),
            ),
            compatible_runtimes=[runtime],
            compatible_architectures=[ARCHITECTURE],
        )
        self.powertools_parameter = powertools_parameter_name(runtime, ARCHITECTURE, powertools_version())
        self.powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "Powertools",
            ssm.StringParameter.value_for_string_parameter(self, self.powertools_parameter),
        )
