"""The detection rule's event pattern as plain data, so the stack, the local runner and the tests
check events against one definition (importing this module does not start the CDK's jsii runtime).
"""

from __future__ import annotations

from typing import Any

from stacks.settings import StackSettings


def event_pattern(settings: StackSettings) -> dict[str, Any]:
    """The EventBridge pattern (as EventBridge's JSON) of the findings the responder acts on."""
    return {
        "source": ["aws.guardduty"],
        "detail-type": ["GuardDuty Finding"],
        "detail": {
            "type": [{"prefix": prefix} for prefix in settings.finding_type_prefixes],
            "severity": [{"numeric": [">=", settings.min_severity]}],
        },
    }
