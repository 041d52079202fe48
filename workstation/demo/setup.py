"""What a demo scenario is: what it sends, how the responder is configured, what may change.

The scenario modules (scenarios, bucket_stories, hostile) build these; the runner reads them.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class Setup:
    """What a scenario sends and how the responder is configured for it."""

    inputs: list[Any]
    environment: dict[str, str] = field(default_factory=dict)
    concurrent: bool = False
    answer: Answer | None = None  # a human answering the approval request
    notes: list[str] = field(default_factory=list)
    # Extra facts for the outcome narration (role names, foreign key ids...)
    facts: dict[str, str] = field(default_factory=dict)
    # Compare the account (IAM, buckets; not the responder's own) before and after the runs.
    compare_account: bool = False
    # Credentials the scenario minted: they must reach no output (the demo checks its outputs for them).
    secrets: list[str] = field(default_factory=list, repr=False)
    # Resources this scenario's runs may change besides the default story's (the exposed key, its
    # user, and what the attacker verifiably created or changed): e.g. another exposed key, the role
    # of a leaked session. Ground truth of the story, never the responder's own conclusion.
    may_change: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DemoScenario:
    name: str
    summary: str
    prepare: Callable[[Any], Setup]


def varied(event: dict[str, Any], **detail: Any) -> dict[str, Any]:
    """A copy of a GuardDuty event with detail fields replaced (a new finding id each time)."""
    out = copy.deepcopy(event)
    out["detail"].update(detail)
    seed = f"{out['detail']['id']}:{sorted(detail)}:{detail.get('type', '')}:{detail.get('severity', '')}"
    out["detail"]["id"] = hashlib.sha256(seed.encode()).hexdigest()[:32]
    out["id"] = out["detail"]["id"][:8] + "-0000-4000-8000-" + out["detail"]["id"][8:20]
    return out


Answer = Literal["approve", "deny"]
