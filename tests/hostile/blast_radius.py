"""The property every demo scenario must hold: the run changed nothing outside the story's blast radius.

The blast radius is the story's ground truth, not the responder's conclusion: the exposed key, its
owner (the revocation policy, the containment tags), what the attacker verifiably created or changed
(the default story's backdoor user, its key and the backdoored bucket) and what a scenario adds in
``Setup.may_change`` (another exposed key, a leaked session's role). A forged record, a bucket the
attacker only read, a protected user or a no-op change must never appear among the changes.
"""

from __future__ import annotations

import json
from typing import Any

from workstation.demo.run import DemoResult


def outside_blast_radius(result: DemoResult) -> list[str]:
    """The resources the runs changed that the story does not allow to change."""
    return sorted(c["resource"] for c in result.resource_changes if c["resource"] not in result.may_change)


def written_changes(result: DemoResult) -> list[dict[str, Any]]:
    """``account-changes.json`` as the demo wrote it."""
    return json.loads((result.out_dir / "account-changes.json").read_text())
