"""The playbook's people, as the hub's roles (stacks/constructs/operators.py): which one a human
command needs, and the clear message when the caller does not hold it.

AWS refuses the call (IAM is the control); this only says what to do about the refusal, instead of
a bare AccessDenied.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from responder.errors import error_code

ANALYST_ROLE = "SecurityAnalyst"  # evidence, reports, saved queries, dry-run and notify-only re-runs
BREAK_GLASS_ROLE = "SecurityBreakGlass"  # approve, deny, eradicate, recover; MFA required
DEPLOY_ROLE = "SecurityDeploy"  # cdk deploy (the CDK bootstrap roles)
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})

# command -> (the role it needs, what that role is for)
NEEDS: dict[str, tuple[str, str]] = {
    "approve": (BREAK_GLASS_ROLE, "answering an approval changes the account"),
    "deny": (BREAK_GLASS_ROLE, "answering an approval is the break-glass role's"),
    "recover": (BREAK_GLASS_ROLE, "recovery undoes containment"),
    "eradicate": (BREAK_GLASS_ROLE, "eradication deletes resources"),
    "start": (
        BREAK_GLASS_ROLE,
        "a run that contains changes the account; SecurityAnalyst starts dry runs only",
    ),
}


def refusal(command: str, exc: ClientError) -> str | None:
    """The message for ``command`` refused by IAM, naming the role it needs; None for other errors."""
    if error_code(exc) not in DENIED_CODES or command not in NEEDS:
        return None
    role, why = NEEDS[command]
    return (
        f"{exc.operation_name} was refused ({error_code(exc)}): `responder {command}` needs the {role} "
        f"role ({why}; MFA required). Assume it (aws sts assume-role ... --serial-number MFA --token-code "
        "CODE) and run the command again; nothing was changed."
    )
