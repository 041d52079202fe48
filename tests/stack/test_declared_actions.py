"""Every IAM action the code declares is a real one: checked against policyuniverse's list of AWS's
actions (its data ships with the pinned version in requirements.txt).

moto does not enforce IAM, so a misspelt action passes every emulated test and the synthesized-role
test (which compares the role with the same misspelt declaration), then fails in production with
AccessDenied. This closes that gap for every declaration: the 15 steps' ``PERMISSIONS``, the shared
``PERMISSIONS_*`` tuples beside the code that calls, the engines', and the workstation's.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

import pytest
from policyuniverse import all_permissions

from lambdas.steps import STEPS
from responder.permissions import Permission

# Real actions newer than policyuniverse's data (or missing from it), each with where AWS documents it.
# Empty today: every declared action is in the list.
NEWER_THAN_THE_LIST: dict[str, str] = {}
KNOWN = {a.lower() for a in all_permissions} | {a.lower() for a in NEWER_THAN_THE_LIST}


def _declarations() -> Iterator[tuple[str, Permission]]:
    """(where, permission) for every tuple of Permission the packages declare at module level."""
    for package in ("lambdas", "responder", "workstation"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name.startswith("workstation.demo") or info.name.endswith("duckdb_engine"):
                continue  # builds emulated accounts / needs the local engine: declares nothing
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if name.startswith("PERMISSIONS") and isinstance(value, tuple):
                    for permission in value:
                        if isinstance(permission, Permission):
                            yield f"{info.name}.{name}", permission


DECLARED: dict[str, set[str]] = {}
for _where, _permission in _declarations():
    DECLARED.setdefault(_where, set()).update(_permission.actions)


def test_every_step_is_among_the_declarations():
    assert {f"lambdas.{s.name}.handler.PERMISSIONS" for s in STEPS} <= set(DECLARED)


@pytest.mark.parametrize("where", sorted(DECLARED))
def test_declared_actions_exist(where: str):
    unknown = sorted(a for a in DECLARED[where] if a.lower() not in KNOWN)
    assert not unknown, f"{where} declares actions AWS does not have: {unknown}"


def test_a_misspelt_action_is_caught():
    # The check would fail a typo that every emulated test passes.
    assert "iam:UpdateAccesKey".lower() not in KNOWN
    assert "iam:UpdateAccessKey".lower() in KNOWN
