"""The code the steps run: the ``lambdas`` package, our ``responder`` package as a layer, and Powertools.

Every function gets the one ``lambdas`` package and runs ``lambdas.<step>.handler.handler``: the very
module path the tests and the local runner import, so steps may share modules (``lambdas.query_engine``).

Our layer is built without Docker: a local bundler copies ``responder/`` to ``python/responder`` (the
path Lambda puts on ``sys.path``), caches left out. What runs only on a workstation (the CLI, the moto
runner, the demo) is the separate ``workstation`` package, so the layer needs no exclude list. Beside it go the pure-Python packages the steps import that neither
the Lambda runtime (boto3, botocore) nor the Powertools layer provides (:data:`LAYER_DEPENDENCIES`:
sqlglot renders the saved queries, policyuniverse reads bucket policies), copied from this
environment's site-packages. Synth fails if the installed version is not the one ``requirements.txt``
pins, if a package holds compiled code (built for this machine, not for Lambda's arm64 Python), or if
it needs another package that nothing ships. Powertools (with pydantic v2 and the X-Ray SDK) comes from
AWS's public layer, at the version ``requirements.txt`` pins, looked up in AWS's public SSM parameter
at deploy time, so synth needs no credentials.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
from dataclasses import dataclass
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

# Left out of the layer: build litter. Nothing else: the package holds exactly what the handlers
# import (the workstation is its own top-level package), and tests/test_architecture.py proves it.
EXCLUDE_ANYWHERE: tuple[str, ...] = ("__pycache__", "*.pyc", "tests")

# Pure-Python distributions the layer ships (requirements.txt names), and the top-level modules Lambda
# already has without them: its Python runtime's SDK, and the Powertools layer (it carries every extra:
# tracer, parser, validation).
LAYER_DEPENDENCIES: tuple[str, ...] = ("sqlglot", "policyuniverse")
LAMBDA_RUNTIME_MODULES: frozenset[str] = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3"}
)
POWERTOOLS_LAYER_MODULES: frozenset[str] = frozenset(
    {
        "aws_lambda_powertools",
        "pydantic",
        "pydantic_core",
        "annotated_types",
        "typing_extensions",
        "typing_inspection",
        "aws_xray_sdk",
        "wrapt",
        "fastjsonschema",
    }
)
COMPILED_SUFFIXES: tuple[str, ...] = (".so", ".pyd", ".dylib")
# Installer bookkeeping that describes this machine's install, not the shipped files.
DIST_INFO_EXCLUDED: tuple[str, ...] = ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")

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


class LayerDependencyError(RuntimeError):
    """A package the layer must ship is missing, at the wrong version, compiled, or incomplete."""


@dataclass(frozen=True)
class Dependency:
    """An installed pure-Python distribution, checked against its pin, ready to copy into the layer."""

    name: str
    version: str
    root: Path  # the site-packages directory holding it
    entries: tuple[str, ...]  # top-level packages, modules and the .dist-info directory

    @property
    def modules(self) -> frozenset[str]:
        """The top-level import names it provides."""
        return frozenset(e.removesuffix(".py") for e in self.entries if not e.endswith(".dist-info"))


def pinned_version(name: str, requirements: Path = REQUIREMENTS) -> str:
    """The ``name==X`` version pinned in requirements.txt."""
    pattern = re.compile(
        rf"^\s*{re.escape(name)}(\[[^\]]*\])?\s*==\s*([0-9][0-9A-Za-z.+!-]*)\s*(;[^#]*)?(#.*)?$", re.M | re.I
    )
    match = pattern.search(requirements.read_text())
    if not match:
        raise LayerDependencyError(f"{requirements} must pin {name}==X.Y.Z: the layer ships that version")
    return match.group(2)


def layer_dependency(
    name: str, requirements: Path = REQUIREMENTS, shipped: frozenset[str] = frozenset(LAYER_DEPENDENCIES)
) -> Dependency:
    """``name`` as installed here, after checking it can run in Lambda as it is copied."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise LayerDependencyError(
            f"{name} is not installed in this environment: the responder layer copies it from "
            "site-packages (pip install -r requirements.txt)"
        ) from None
    pin = pinned_version(name, requirements)
    if dist.version != pin:
        raise LayerDependencyError(
            f"{name} {dist.version} is installed but requirements.txt pins {pin}: the layer would ship a "
            "version the tests did not run (pip install -r requirements.txt)"
        )
    files = [Path(str(f)) for f in dist.files or ()]
    root = Path(str(dist.locate_file("")))
    entries = sorted(
        {f.parts[0] for f in files if f.parts and f.parts[0] != ".." and not f.name.endswith(".pth")}
    )
    compiled = sorted(
        str(f.relative_to(root))
        for entry in entries
        for f in ((root / entry).rglob("*") if (root / entry).is_dir() else [root / entry])
        if f.suffix in COMPILED_SUFFIXES or ".so." in f.name
    )
    if compiled:
        raise LayerDependencyError(
            f"{name} {dist.version} contains compiled extensions ({', '.join(compiled[:3])}): built for this "
            "machine, not for Lambda's Python on arm64, so the layer cannot copy it"
        )
    provided = LAMBDA_RUNTIME_MODULES | POWERTOOLS_LAYER_MODULES | shipped
    missing = []
    for requirement in dist.requires or ():
        spec, _, marker = requirement.partition(";")
        required = re.split(r"[\s\[<>=!~(]", spec.strip(), maxsplit=1)[0]
        normalized = required.lower().replace("-", "_")
        if "extra" not in marker and normalized not in {p.lower().replace("-", "_") for p in provided}:
            missing.append(required)
    if missing:
        raise LayerDependencyError(
            f"{name} requires {', '.join(missing)}, which neither Lambda, the Powertools layer nor the "
            "responder layer provides: add them to LAYER_DEPENDENCIES (if pure Python) or drop the import"
        )
    if not entries:
        raise LayerDependencyError(f"{name}: its installed files are not listed (no RECORD); reinstall it")
    return Dependency(name=name, version=dist.version, root=root, entries=tuple(entries))


@jsii.implements(ILocalBundling)
class CopyLayer:
    """Local bundling of our layer: ``responder`` and the dependencies under ``python/``, no Docker."""

    def __init__(self, package: Path, dependencies: tuple[Dependency, ...]) -> None:
        self.package = CopyPackage(package, "python")
        self.dependencies = dependencies

    def try_bundle(self, output_dir: str, *, image: Any, **options: Any) -> bool:
        self.package.try_bundle(output_dir, image=image, **options)
        python = Path(output_dir) / "python"
        for dependency in self.dependencies:
            for entry in dependency.entries:
                source = dependency.root / entry
                if source.is_dir():
                    excluded = (
                        "__pycache__",
                        "*.pyc",
                        *(DIST_INFO_EXCLUDED if entry.endswith(".dist-info") else ()),
                    )
                    shutil.copytree(source, python / entry, ignore=shutil.ignore_patterns(*excluded))
                else:
                    shutil.copy2(source, python / entry)
        return True


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
        return set(shutil.ignore_patterns(*EXCLUDE_ANYWHERE)(directory, names))


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
        self.dependencies = tuple(layer_dependency(name) for name in LAYER_DEPENDENCIES)
        shipped = ", ".join(f"{d.name} {d.version}" for d in self.dependencies)
        self.responder = lambda_.LayerVersion(
            self,
            "Responder",
            description=f"The responder package (python/responder) with {shipped}"[:256],
            code=lambda_.Code.from_asset(
                str(PACKAGE),
                # Hash what ships, so caches and the excluded sub-packages never change the asset.
                asset_hash_type=AssetHashType.OUTPUT,
                bundling=BundlingOptions(
                    image=runtime.bundling_image, local=CopyLayer(PACKAGE, self.dependencies)
                ),
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
